"""Torn and failed writes: the journal every local agent shares stays readable, and so do run files."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from agent.backends.base import FINISHED
from agent.backends.local import LocalBackend, journal
from agent.backends.local.store import sweep_dir
from agent.paths import write_atomic
from tests.helpers import REPO, env_for, run_in_process, sk, status, wait_until

GRID = {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2, 3, 4]}}}


def _fragment(log) -> bytes:
    """What a writer killed mid-append leaves: the first half of a real record, no newline."""
    line = log.read_bytes().splitlines(keepends=True)[-1]
    return line[: len(line) // 2]


def _grid_half_done(home) -> tuple[LocalBackend, str]:
    b = LocalBackend()
    sid = b.create_sweep(GRID)
    assert run_in_process(b, sid, lambda s: {"m": s.params["x"]}, count=2) == 0
    return b, sid


def test_a_torn_record_is_dropped_named_once_and_never_glued_onto(home, capfd):
    b, sid = _grid_half_done(home)
    log = sweep_dir(sid) / "journal.log"
    torn_at = log.stat().st_size
    with log.open("ab") as fh:
        fh.write(_fragment(log))
    # Optuna's own reader gives up on the whole sweep once anything is appended after a fragment:
    stock = log.read_bytes() + b'{"op_code":0,"worker_id":"x","study_name":"y","directions":[1]}\n' * 2
    (home / "stock.log").write_bytes(stock)
    with pytest.raises(ValueError):
        JournalStorage(JournalFileBackend(str(home / "stock.log"))).get_all_studies()

    b2 = LocalBackend()  # the next agent
    assert run_in_process(b2, sid, lambda s: {"m": s.params["x"]}) == 0
    runs = LocalBackend().runs(sid)
    assert sorted(r.config["x"] for r in runs) == [1, 2, 3, 4]
    assert {r.state for r in runs} == {FINISHED}
    err = capfd.readouterr().err
    named = [line for line in err.splitlines() if "torn record" in line]
    assert len(named) == 1 and f"byte {torn_at}" in named[0] and "doctor" in named[0]
    records, torn = journal.scan(log)
    assert [t.offset for t in torn] == [torn_at] and not torn[0].tail  # on a line of its own
    assert records > 10


def test_a_torn_tail_is_a_write_in_progress_and_is_read_once_it_ends(home):
    b, sid = _grid_half_done(home)
    log = sweep_dir(sid) / "journal.log"
    whole = log.read_bytes()
    last = whole.splitlines(keepends=True)[-1]
    log.write_bytes(whole[: -len(last)] + last[:10])  # the last record still being written
    assert len(LocalBackend().runs(sid)) == 2  # the records before it read as usual
    log.write_bytes(whole)
    assert [r.state for r in LocalBackend().runs(sid)] == [FINISHED, FINISHED]


def test_a_write_that_fails_half_way_leaves_no_fragment(home, monkeypatch):
    b, sid = _grid_half_done(home)
    log = sweep_dir(sid) / "journal.log"
    size = log.stat().st_size
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    storage = JournalStorage(journal.SafeJournalFileBackend(str(log)))
    study = optuna.load_study(study_name=sid, storage=storage)
    monkeypatch.setattr(journal.os, "write", half_then_full)
    with pytest.raises(OSError):
        study.set_user_attr("note", "x" * 1000)
    monkeypatch.setattr(journal.os, "write", real_write)
    assert log.stat().st_size == size
    assert journal.scan(log)[1] == []
    assert run_in_process(LocalBackend(), sid, lambda s: {"m": 0}) == 0


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import optuna
    from optuna.storages import JournalStorage
    from agent.backends.local import journal

    real_write = os.write
    def torn(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of the append

    storage = JournalStorage(journal.SafeJournalFileBackend(sys.argv[1]))
    study = optuna.load_study(study_name=sys.argv[2], storage=storage)
    journal.os.write = torn
    study.set_user_attr("note", "y" * 4000)
""")


@pytest.mark.slow
def test_kill_9_mid_write_leaves_the_sweep_readable_for_status_and_agents(tmp_path):
    env = env_for(tmp_path)
    (tmp_path / "s.py").write_text("import sys; sys.exit(0)\n")
    (tmp_path / "sweep.yaml").write_text(
        textwrap.dedent("""
        program: s.py
        command: ["${interpreter}", "${program}"]
        method: grid
        parameters:
          a: {values: [1, 2, 3]}
    """)
    )
    sid = sk(tmp_path, "sweep", "sweep.yaml").stdout.split()[-1]
    assert sk(tmp_path, "agent", sid, "--count", "1").returncode == 0
    log = tmp_path / ".sweepkit" / "sweeps" / sid / "journal.log"
    size = log.stat().st_size
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(log), sid], cwd=REPO, env=env, capture_output=True, timeout=60
    )
    assert killed.returncode == -9 and log.stat().st_size > size  # a real fragment is on disk
    assert not log.read_bytes().endswith(b"\n")
    # the dead writer held the journal's lock: flock died with it, so nobody waits for it
    assert [r["state"] for r in status(tmp_path, sid)["runs"]] == ["finished"]
    done = sk(tmp_path, "agent", sid)
    assert done.returncode == 0, done.stderr
    assert "torn record" in done.stderr
    runs = status(tmp_path, sid)["runs"]
    assert sorted(json.dumps(r["config"]["a"]) for r in runs) == ["1", "2", "3"]


def test_run_files_are_whole_or_absent_when_a_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "trial_result.json"
    write_atomic(target, '{"status": "finished"}\n')
    real = os.replace

    def full_disk(*a):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        write_atomic(target, '{"status": "failed", "reason": "' + "z" * 10000 + '"}')
    monkeypatch.setattr(os, "replace", real)
    assert json.loads(target.read_text()) == {"status": "finished"}
    assert [p.name for p in tmp_path.iterdir()] == ["trial_result.json"]  # no temporary left behind


def test_a_result_written_after_another_agent_reaped_the_run_is_refused_once_and_cleanly(home):
    from agent.backends.base import CRASHED, TrialOutcome, TrialSpec

    b = LocalBackend()
    sid = b.create_sweep(GRID)
    mine, other = LocalBackend().engine(sid), LocalBackend().engine(sid)
    got = mine.claim(lease_s=0.2)
    from agent.backends.local.leases import is_stale, reap_stale
    from agent.backends.local.store import claim_lock

    def lapsed() -> bool:
        (t,) = [t for t in other.study.get_trials(deepcopy=False) if t.number == got.trial.number]
        return is_stale(t, time.time())

    wait_until(lapsed, timeout=30, what="our lease to lapse")
    with claim_lock(other.storage, sid):  # the other agent's look for lost runs: it reaps ours
        assert reap_stale(other.study, requeue=True) == [got.trial.number]
    assert isinstance(other.claim(lease_s=60), type(got))
    spec = TrialSpec(sid, got.run.run_id, got.run.params, got.run.run_dir, got.trial.number)
    state, _, reason = mine.finish(got, spec, TrialOutcome(0, 0.1, summary={"m": 1.0}))
    assert state == CRASHED and "declared this run lost" in reason
    nxt = mine.claim(lease_s=60)  # the refused writes do not resurface in this process's next read
    assert not isinstance(nxt, str)
    rows = {r.id: r.state for r in LocalBackend().runs(sid)}
    assert rows[got.run.run_id] == CRASHED


def test_reaping_does_not_queue_behind_another_agent_holding_the_claim_lock(home):
    from agent.backends.local.store import claim_lock, open_storage

    b = LocalBackend()
    sid = b.create_sweep(GRID)
    storage = open_storage(sid)
    with claim_lock(storage, sid) as held:
        assert held
        with claim_lock(open_storage(sid), sid, wait=False) as other:
            assert other is False
    with claim_lock(storage, sid, wait=False) as free:
        assert free


def test_an_agent_about_to_wait_looks_for_lost_runs_first(home, monkeypatch):
    """At a sweep's end a lost run's point may be all that is left: an agent told to wait looks for
    lost runs before it waits, whenever its next scheduled look would be."""
    import agent.backends.local.engine as engine_module
    from agent.backends.local.leases import is_stale

    monkeypatch.setattr(engine_module, "REAP_EVERY_S", 3600.0)  # every scheduled look is an hour away
    sid = LocalBackend().create_sweep({**GRID, "parameters": {"x": {"values": [1, 2]}}})
    lost = LocalBackend().engine(sid).claim(lease_s=0.2)  # its agent died: no heartbeat follows
    other = LocalBackend().engine(sid)
    mine = other.claim(lease_s=60)
    assert {lost.run.params["x"], mine.run.params["x"]} == {1, 2}

    def lapsed() -> bool:
        (t,) = [t for t in other.study.get_trials(deepcopy=False) if t.number == lost.trial.number]
        return is_stale(t, time.time())

    wait_until(lapsed, timeout=30, what="the lost run's lease to lapse")
    again = other.claim(lease_s=60)
    assert not isinstance(again, str), again  # not "wait: 2 grid point(s) still running"
    assert again.run.params == lost.run.params
