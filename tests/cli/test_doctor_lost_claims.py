"""`sweepkit doctor` tells a claim whose agent died before its run began (nothing lost: marked, its point
requeued, no finding left) from a run that did start and lost its logs (a finding that stays). The window
is reproduced exactly: a real agent process claims a trial through the engine and dies at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from agent.backends.base import FINISHED
from agent.backends.local import LocalBackend
from agent.backends.local.leases import is_stale, reap_stale
from agent.backends.local.lost_claims import NEVER_STARTED
from agent.backends.local.optuna_internals import storage_of, trial_id_of
from agent.backends.local.schema import MADE_FORMAT, Beat
from agent.backends.local.store import claim_lock
from agent.cli import cli
from tests.helpers import env_for, run_in_process, wait_until

GRID = {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2, 3, 4]}}}

# An agent killed after its claim reached the journal, before it made the run's dir.
CLAIM_AND_DIE = """
import os, sys
from agent.backends.local import LocalBackend
got = LocalBackend().engine(sys.argv[1]).claim(lease_s=0.5)
print(got.run.run_id, flush=True)
os._exit(9)
"""


def _trial(spec):
    Path(spec.run_dir).mkdir(parents=True, exist_ok=True)  # as a real runner does
    return {"m": spec.params["x"]}


def _doctor(*args: str):
    return CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)


def _kinds(output: str) -> list[str]:
    return sorted(line.split(":")[0] for line in output.splitlines() if line.strip())


def claim_and_die(home: Path, sweep_id: str) -> str:
    """A real agent process claims a trial and dies before its run begins; the run id, once its lease lapsed."""
    res = subprocess.run(
        [sys.executable, "-c", CLAIM_AND_DIE, sweep_id], env=env_for(home), capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 9, res.stderr
    run_id = res.stdout.strip()
    wait_until(lambda: _lapsed(sweep_id, run_id), timeout=30, what="the dead agent's lease to lapse")
    return run_id


def _lapsed(sweep_id: str, run_id: str) -> bool:
    trials = LocalBackend().engine(sweep_id).study.get_trials(deepcopy=False)
    (t,) = [t for t in trials if (t.user_attrs.get("sk_run") or {}).get("run_id") == run_id]
    return is_stale(t, time.time())


def test_a_lost_claim_is_repaired_and_doctor_then_says_the_store_is_sound(home):
    sid = LocalBackend().create_sweep(GRID)
    lost = claim_and_die(home, sid)

    res = _doctor(sid)
    assert res.exit_code == 1 and _kinds(res.stdout) == ["lost claim"], res.stdout
    assert f"run {lost} (trial 0) was claimed by its agent" in res.stdout and "died before the run began" in res.stdout

    res = _doctor(sid, "--repair")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert res.stdout.strip().endswith(f"-> fixed: marked crashed ({NEVER_STARTED}), its point requeued")
    assert _doctor(sid).stdout.strip() == f"{sid}: the store is sound (store format {MADE_FORMAT})"

    assert run_in_process(LocalBackend(), sid, _trial) == 0
    runs = LocalBackend().runs(sid)
    assert sorted(r.config["x"] for r in runs if r.state == FINISHED) == [1, 2, 3, 4]  # each point once
    (marked,) = [r for r in runs if r.id == lost]
    assert (marked.state, marked.reason) == ("crashed", NEVER_STARTED)
    assert _doctor(sid).exit_code == 0


def test_after_the_next_agent_reaped_a_lost_claim_doctor_finds_nothing(home):
    sid = LocalBackend().create_sweep(GRID)
    lost = claim_and_die(home, sid)
    assert run_in_process(LocalBackend(), sid, _trial) == 0  # reaps it, requeues its point, finishes the grid
    runs = LocalBackend().runs(sid)
    assert sorted(r.config["x"] for r in runs if r.state == FINISHED) == [1, 2, 3, 4]
    assert next(r for r in runs if r.id == lost).state == "crashed"
    for args in ([], ["--repair"], []):
        res = _doctor(sid, *args)
        sound = f"{sid}: the store is sound (store format {MADE_FORMAT})"
        assert res.exit_code == 0 and res.stdout.strip() == sound, res.stdout


def test_a_run_that_started_and_lost_its_logs_stays_a_finding_beside_a_lost_claim(home):
    sid = LocalBackend().create_sweep(GRID)
    engine = LocalBackend().engine(sid)
    started = engine.claim(lease_s=0.5)  # its agent beat once after the claim, then died; its dir is gone
    for key, value in Beat(time.time()).to_attrs().items():
        storage_of(engine.study).set_trial_user_attr(trial_id_of(started.trial), key, value)
    wait_until(lambda: _lapsed(sid, started.run.run_id), timeout=30, what="the started run's lease to lapse")
    # the next agent's look for lost runs (each agent looks within its first second)
    with claim_lock(engine.storage, sid):
        assert reap_stale(engine.study, requeue=True) == [started.trial.number]
    lost = claim_and_die(home, sid)

    res = _doctor(sid)
    assert _kinds(res.stdout) == ["lost claim", "record without a run dir"], res.stdout
    lines = dict(line.split(":", 1) for line in res.stdout.splitlines())
    assert lost in lines["lost claim"] and started.run.run_id in lines["record without a run dir"]

    res = _doctor(sid, "--repair")
    assert res.exit_code == 1
    unfixed = [line for line in res.stdout.splitlines() if " -> fixed: " not in line]
    assert _kinds("\n".join(unfixed)) == ["record without a run dir"]
    again = _doctor(sid)
    assert again.exit_code == 1 and _kinds(again.stdout) == ["record without a run dir"]
    assert started.run.run_id in again.stdout
