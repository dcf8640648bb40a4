"""`sweepkit doctor`: every kind of damage found in one line each, fixed with a backup where safe."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.backends.base import FINISHED
from agent.backends.local import LocalBackend, journal
from agent.backends.local.leases import is_stale
from agent.backends.local.schema import MADE_FORMAT
from agent.backends.local.store import sweep_dir
from agent.cli import cli
from tests.helpers import run_in_process, wait_until

GRID = {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2, 3, 4]}}}


def _trial(spec):
    Path(spec.run_dir).mkdir(parents=True, exist_ok=True)  # as a real runner does
    return {"m": spec.params["x"]}


def _doctor(*args):
    return CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)


def _tear(log: Path) -> int:
    at = log.stat().st_size
    line = log.read_bytes().splitlines(keepends=True)[-1]
    with log.open("ab") as fh:
        fh.write(line[: len(line) // 2])
    return at


def _lapsed(sweep_id: str, number: int) -> bool:
    """Whether trial `number`'s lease has lapsed, as a reaper reading the store now would judge it."""
    trial = LocalBackend().engine(sweep_id).study.get_trials(deepcopy=False)[number]
    return is_stale(trial, time.time())


def _kinds(output: str) -> list[str]:
    return sorted(line.split(":")[0] for line in output.splitlines() if line.strip())


def test_a_sound_store_says_so(home):
    b = LocalBackend()
    sid = b.create_sweep(GRID)
    assert run_in_process(b, sid, _trial) == 0
    res = _doctor(sid)
    assert res.exit_code == 0 and res.output.strip() == f"{sid}: the store is sound (store format {MADE_FORMAT})"


def test_doctor_finds_each_kind_of_damage_and_repair_fixes_what_is_safe(home):
    b = LocalBackend()
    sid = b.create_sweep(GRID)
    assert run_in_process(b, sid, _trial, count=2) == 0
    d = sweep_dir(sid)
    log = d / "journal.log"
    claim = LocalBackend().engine(sid).claim(lease_s=0.5)  # its agent then dies
    Path(claim.run.run_dir).mkdir(parents=True)
    wait_until(lambda: _lapsed(sid, claim.trial.number), timeout=30, what="the dead agent's lease to lapse")
    first = LocalBackend().runs(sid)[0]
    (d / "runs" / first.id).rmdir()
    (d / "runs" / "strayrun").mkdir()
    torn_at = _tear(log)
    lock = Path(f"{log}.lock")
    os.symlink(log, lock)
    old = time.time() - 120
    os.utime(lock, (old, old), follow_symlinks=False)
    original = log.read_bytes()

    res = _doctor(sid)
    assert res.exit_code == 1
    assert _kinds(res.stdout) == [
        "orphaned lease",
        "record without a run dir",
        "run dir without a record",
        "stale lock",
        "torn tail",
    ]
    assert f"byte {torn_at}" in res.output and "strayrun" in res.output and first.id in res.output
    assert log.read_bytes() == original and lock.is_symlink()  # checking changes nothing

    res = _doctor(sid, "--repair")
    assert res.exit_code == 1  # the lost logs of one run cannot be repaired
    unfixed = [line for line in res.stdout.splitlines() if " -> fixed: " not in line]
    assert [line.split(":")[0] for line in unfixed] == ["record without a run dir"]
    (backup,) = d.glob("journal.log.bak-*")
    assert backup.read_bytes() == original
    assert journal.scan(log)[1] == [] and not lock.exists()
    assert (next(d.glob("orphans-*")) / "strayrun").is_dir()

    again = _doctor(sid)
    assert _kinds(again.stdout) == ["record without a run dir"]
    assert run_in_process(LocalBackend(), sid, _trial) == 0  # the orphaned grid point was requeued
    done = sorted(r.config["x"] for r in LocalBackend().runs(sid) if r.state == FINISHED)
    assert done == [1, 2, 3, 4]


def test_repair_will_not_rewrite_the_journal_under_a_running_agent(home):
    b = LocalBackend()
    sid = b.create_sweep(GRID)
    assert run_in_process(b, sid, _trial, count=1) == 0
    claim = LocalBackend().engine(sid).claim(lease_s=600)  # alive: its lease is fresh
    Path(claim.run.run_dir).mkdir(parents=True)
    log = sweep_dir(sid) / "journal.log"
    with log.open("ab") as fh:
        fh.write(b'{"op_code": 5, "worker\n')  # a complete line that is not a record
    before = log.read_bytes()
    res = _doctor(sid, "--repair")
    assert res.exit_code == 1
    (line,) = res.stdout.splitlines()
    assert line.startswith("torn record:") and "not rewritten: 1 run(s) are running" in line
    assert log.read_bytes() == before


@pytest.mark.parametrize("sweep", ["ent/proj/abc12345"])
def test_doctor_on_a_wandb_sweep_says_it_checks_offline_sweeps(sweep, home):
    res = CliRunner().invoke(cli, ["doctor", sweep])
    assert res.exit_code == 2
    assert "doctor` checks offline sweeps" in res.output
