"""The shared store's blips on a real PostgreSQL of the tests' own: stopped and started again with
pg_ctl, its connections killed with pg_terminate_backend, filled to max_connections. Heartbeats,
claims and results ride through; a reaper racing a trial that finishes keeps the trial's result.

Each test waits on conditions (a failed write seen, a beat written after the restart), never on a
fixed sleep; the server is its own, so stopping it disturbs no other test.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

import optuna
import pytest

from agent.backends.base import TrialOutcome
from agent.backends.local import LocalBackend
from agent.backends.local import leases as leases_module
from agent.backends.local.control import ControlWatch
from agent.backends.local.engine import Engine
from agent.backends.local.leases import Heartbeat, is_stale
from agent.backends.local.optuna_internals import trial_id_of
from agent.backends.local.retry import StoreRetry
from agent.backends.local.schema import Beat, QueuedPoint, Result
from agent.backends.local.store import claim_lock
from agent.backends.stopping import StopRequest
from agent.states import RunState
from tests.helpers import wait_until
from tests.pg import PrivatePostgres, private_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

GRID = {"name": "faults", "method": "grid", "parameters": {"a": {"values": [1, 2, 3]}}, "command": ["x"]}


@pytest.fixture(scope="module")
def pg():
    server = private_postgres()
    yield server
    server.destroy()


@pytest.fixture
def server(pg: PrivatePostgres, home):
    """The module's server, up again after the test whatever happened in it."""
    yield pg
    if not _up(pg):
        pg.start()


def _up(pg: PrivatePostgres) -> bool:
    try:
        return pg.sql("SELECT 1") == "1"
    except Exception:
        return False


def _sweep(url: str, config: Optional[dict] = None) -> str:
    return LocalBackend(url).create_sweep(config or GRID)


def _stored(engine: Engine, claim: Any) -> optuna.trial.FrozenTrial:
    return engine.storage.get_trial(trial_id_of(claim.trial))


def _in_background(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # the test reads it back
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_a_heartbeat_rides_through_a_server_restart_and_its_trial_is_never_reaped(server):
    sid = _sweep(server.url)
    engine = Engine(sid, server.url)
    claim = engine.claim(lease_s=20)
    notes: list[str] = []
    beat = Heartbeat(engine.storage, 20, retry=StoreRetry(20, say=notes.append))
    with beat, beat.lease(trial_id_of(claim.trial)):
        server.stop()
        wait_until(lambda: beat.failures >= 2, timeout=60, what="two heartbeats to fail while the server is down")
        server.start()
        back = time.time()
        wait_until(
            lambda: (Beat.from_attrs(_stored(engine, claim).user_attrs) or Beat(0)).at > back,
            timeout=60,
            what="a heartbeat written after the restart",
        )
    assert any("unreachable" in n for n in notes) and any("answers again" in n for n in notes), notes
    other = Engine(sid, server.url)
    assert other.claim(lease_s=20).run.params != claim.run.params  # it reaped nothing: the trial lives
    assert _stored(engine, claim).state == optuna.trial.TrialState.RUNNING


def test_a_result_and_a_claim_wait_for_the_server_and_each_is_written_once(server):
    sid = _sweep(server.url)
    engine = Engine(sid, server.url)
    notes: list[str] = []
    engine.retry = StoreRetry(120, say=notes.append)
    claim = engine.claim(lease_s=120)
    spec = claim.spec(sid, {}, link=False)
    server.stop()
    finishing, finished = _in_background(lambda: engine.finish(claim, spec, TrialOutcome(0, 1.0)))
    wait_until(lambda: notes, timeout=60, what="the agent to say the store is unreachable")
    server.start()
    finishing.join(timeout=120)
    assert finished.get("value", (None,))[0] == RunState.FINISHED, finished
    server.stop()
    claiming, claimed = _in_background(lambda: engine.claim(lease_s=120))
    wait_until(lambda: len(notes) >= 3, timeout=60, what="the claim to find the store unreachable")
    server.start()
    claiming.join(timeout=120)
    assert "value" in claimed and not isinstance(claimed["value"], str), claimed
    trials = engine.study.get_trials(deepcopy=False)
    ended = [t for t in trials if t.state.is_finished()]
    assert len(ended) == 1 and Result.from_attrs(ended[0].user_attrs).state == RunState.FINISHED
    assert len(trials) == 3  # nothing queued twice, nothing lost


def test_a_claim_whose_lock_connection_is_killed_still_completes(server, monkeypatch):
    """The claim lock's connection dies mid-claim (pg_terminate_backend): the server released the
    lock with it, and the claim goes on (random samples under the lock)."""
    sid = _sweep(server.url, {"name": "lock", "method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    engine = Engine(sid, server.url)
    real = engine.method.next_trial

    def kill_the_others_then_sample(study: optuna.Study) -> Any:
        server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction'")
        return real(study)

    monkeypatch.setattr(engine.method, "next_trial", kill_the_others_then_sample)
    got = engine.claim(lease_s=60)
    assert not isinstance(got, str) and 0.0 <= got.run.params["x"] <= 1.0


def test_an_agent_whose_trial_runs_holds_no_connection(server):
    """Connections are used and let go: an agent between its heartbeats holds none, so a cluster's
    agents need about as many as are claiming or finishing at one moment, not one each."""
    sid = _sweep(server.url)
    engine = Engine(sid, server.url)
    claim = engine.claim(lease_s=60)
    beat = Heartbeat(engine.storage, 60)  # its first beat comes in 15 s
    watch = ControlWatch(engine.study, StopRequest())  # as the agent loop runs it: reads the sweep's state
    with beat, beat.lease(trial_id_of(claim.trial)), watch, watch.trial():
        assert _sweepkit_connections(server) >= 1  # the claim's connection, kept for its next query
        wait_until(lambda: _sweepkit_connections(server) == 0, timeout=30, what="the agent to let it go")
        engine.finish(claim, claim.spec(sid, {}, link=False), TrialOutcome(0, 1.0))
    assert Result.from_attrs(_stored(engine, claim).user_attrs).state == RunState.FINISHED


@pytest.mark.parametrize("store", ["journal", "postgres"])
def test_a_reaper_racing_a_trial_that_finishes_keeps_the_trial_s_result(server, store, monkeypatch):
    url = server.url if store == "postgres" else None
    sid = _sweep(url)
    agent, reaper = Engine(sid, url), Engine(sid, url)
    claim = agent.claim(lease_s=0.5)
    spec = claim.spec(sid, {}, link=False)
    wait_until(lambda: is_stale(_stored(agent, claim), time.time()), timeout=30, what="the lease to lapse")
    real = leases_module.is_stale

    def finishes_as_it_is_judged(trial: optuna.trial.FrozenTrial, now: float) -> bool:
        stale = real(trial, now)
        if stale and trial.number == claim.trial.number and not _stored(agent, claim).state.is_finished():
            agent.finish(claim, spec, TrialOutcome(0, 0.5))  # its agent was only late: it ends it now
        return stale

    monkeypatch.setattr(leases_module, "is_stale", finishes_as_it_is_judged)
    with claim_lock(reaper.storage, sid) as mine:  # what a claim does first, now and then
        assert mine and leases_module.reap_stale(reaper.study, requeue=True) == []  # it lost, without raising
    mine = _stored(agent, claim)
    assert mine.state == optuna.trial.TrialState.COMPLETE
    assert Result.from_attrs(mine.user_attrs).state == RunState.FINISHED  # its own result, not "agent lost"
    queued_again = [
        t
        for t in reaper.study.get_trials(deepcopy=False)
        if (QueuedPoint.from_attrs(t.user_attrs) or QueuedPoint({})).requeue_of == claim.trial.number
    ]
    assert not queued_again  # its point ran once


def test_a_full_server_is_said_in_one_line_and_waited_for():
    """A server at max_connections refuses new agents ("too many clients"): the agent says so once,
    naming max_connections and the fix, and waits for a slot instead of failing."""
    pg = private_postgres(max_connections=6)  # 3 of them reserved for superusers
    held: list[Any] = []
    try:
        url = pg.role_url("agent")
        sid = _sweep(url)
        wait_until(lambda: _sweepkit_connections(pg) == 0, timeout=30, what="the idle agent to let its connection go")
        import psycopg2

        held += [psycopg2.connect(host="127.0.0.1", port=pg.port, user="agent", dbname="sweepkit_test")
                 for _ in range(3)]  # fmt: skip
        notes: list[str] = []
        opening, opened = _in_background(lambda: Engine(sid, url))  # an agent starting: it opens the store
        wait_until(lambda: _refused(pg), timeout=60, what="the server to refuse the agent")
        for conn in held:
            conn.close()
        held.clear()
        opening.join(timeout=120)
        assert "value" in opened, opened
        engine = opened["value"]
        engine.retry = StoreRetry(120, say=notes.append)
        wait_until(lambda: _sweepkit_connections(pg) == 0, timeout=30, what="the idle agent to let its connection go")
        held += [psycopg2.connect(host="127.0.0.1", port=pg.port, user="agent", dbname="sweepkit_test")
                 for _ in range(3)]  # fmt: skip
        claiming, claimed = _in_background(lambda: engine.claim(lease_s=120))
        wait_until(lambda: notes, timeout=60, what="the agent to say the server is full")
        for conn in held:
            conn.close()
        held.clear()
        claiming.join(timeout=120)
        assert "value" in claimed and not isinstance(claimed["value"], str), claimed
        (said,) = notes[:1]
        assert "too many clients" in said and "max_connections" in said and "PgBouncer" in said, notes
        assert sum("too many clients" in n for n in notes) == 1
    finally:
        for conn in held:
            conn.close()
        pg.destroy()


def _refused(pg: PrivatePostgres) -> bool:
    log = (pg.data / "server.log").read_text(errors="replace")
    return "too many clients" in log or "remaining connection slots are reserved" in log


def _sweepkit_connections(pg: PrivatePostgres) -> int:
    """Client connections to the sweeps' database, this query's own aside."""
    return int(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'sweepkit_test' "
                      "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"))  # fmt: skip
