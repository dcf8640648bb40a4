"""Creating a sweep is all or nothing: a `sweepkit sweep` that is killed, terminated or fails half-way
through enqueuing a big grid leaves no sweep that `sweeps`, `status` or `agent` can see; what a SIGKILL
leaves is named by `sweepkit sweeps` and removed by `sweepkit doctor --repair ID`."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.backends.local import LocalBackend
from agent.backends.local.methods.grid import Grid
from agent.backends.local.store import sweep_dir
from agent.cli import cli
from tests.backends import test_postgres
from tests.helpers import env_for, sk, sk_popen, wait_until

pg_url = test_postgres.pg_url  # the fixture: the test server's URL, or a skip naming how to start one

# 10,000 points, the default bound: enqueuing them takes seconds, so a signal lands mid-way.
BIG = "program: train.py\nmethod: grid\nparameters:\n" + "".join(
    f"  p{i}:\n    values: [{', '.join(map(str, range(10)))}]\n" for i in range(4)
)


def _sweeps(tmp: Path) -> Path:
    return tmp / ".sweepkit" / "sweeps"


def building(tmp: Path, grown_past: int = 64_000) -> Path | None:
    """The folder a `sweep` is building, once its journal holds `grown_past` bytes of grid points."""
    for d in _sweeps(tmp).glob(".creating-*"):
        log = d / "journal.log"
        if log.is_file() and log.stat().st_size > grown_past:
            return d
    return None


def start_big_sweep(tmp: Path, *extra: str, env: dict | None = None):
    (tmp / "big.yaml").write_text(BIG)
    proc = sk_popen(tmp, "sweep", "big.yaml", *extra, env=env)
    folder = wait_until(lambda: building(tmp) or proc.poll() is not None, timeout=120, what="the grid being enqueued")
    assert folder is not True, proc.communicate()  # it must still be building, not ended
    first = (folder / "journal.log").stat().st_size
    wait_until(lambda: (folder / "journal.log").stat().st_size > first, timeout=60, what="the journal to grow")
    return proc, folder, folder.name.split("-")[1]


def invoke(*args: str):
    """A read-only command in this process (the store is the test's own `home`)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_a_killed_sweep_is_never_listed_and_doctor_repair_removes_it(home):
    tmp_path = home
    proc, folder, sid = start_big_sweep(tmp_path)
    os.kill(proc.pid, signal.SIGSTOP)  # frozen mid-enqueue: still "being created"
    try:
        res = invoke("sweeps")
        assert res.exit_code == 0 and f"1 sweep(s) being created right now, not listed yet: {sid}" in res.stderr
        res = invoke("doctor", "--repair", sid)
        assert res.exit_code == 1 and "not removed: its `sweepkit sweep` is still running" in res.stdout
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert folder.is_dir()  # a SIGKILL cannot be cleaned up after: the folder stays, hidden

    res = invoke("sweeps")
    assert res.exit_code == 0 and sid not in res.stdout, res.stdout
    assert (
        f"1 incomplete sweep left by an interrupted `sweepkit sweep`: run `sweepkit doctor --repair {sid}`"
        in res.stderr
    )
    assert json.loads(invoke("sweeps", "--json").stdout) == []
    for command in ("status", "agent"):
        res = invoke(command, sid)
        assert res.exit_code == 2 and f"sweep {sid} is incomplete" in res.stderr, (command, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1
    res = invoke("doctor", sid)
    assert res.exit_code == 1 and res.stdout.startswith("incomplete sweep:"), res.stdout
    res = invoke("doctor", "--repair", sid)
    assert res.exit_code == 0 and "-> fixed: removed 1 folder(s)" in res.stdout, res.stdout + res.stderr
    assert list(_sweeps(tmp_path).iterdir()) == []
    assert "incomplete" not in invoke("sweeps").stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 1)], ids=["SIGTERM", "Ctrl-C"])
def test_a_terminated_or_interrupted_sweep_leaves_nothing(tmp_path, sig, code):
    proc, _, _ = start_big_sweep(tmp_path)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == code
    assert list(_sweeps(tmp_path).iterdir()) == []


def test_a_sweep_that_fails_half_way_leaves_nothing(tmp_path):
    (tmp_path / "big.yaml").write_text(BIG)

    def small_files():  # the journal cannot grow past 48 KiB: a real write error mid-enqueue
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, resource.RLIM_INFINITY))

    res = sk(tmp_path, "sweep", "big.yaml", preexec_fn=small_files)
    assert res.returncode == 1 and "File too large" in res.stderr, res.stderr
    assert list(_sweeps(tmp_path).iterdir()) == []
    assert sk(tmp_path, "sweeps").stderr.strip() == "no sweeps here; create one with `sweepkit sweep FILE`"


def test_an_error_in_the_grid_set_up_leaves_nothing(home, monkeypatch):
    calls = []
    original = Grid.setup

    def fails_half_way(self, study, **kwargs):
        real = study.enqueue_trial

        def enqueue(*args, **kwargs):
            calls.append(1)
            if len(calls) > 5:
                raise MemoryError
            return real(*args, **kwargs)

        study.enqueue_trial = enqueue
        original(self, study, **kwargs)

    monkeypatch.setattr(Grid, "setup", fails_half_way)
    with pytest.raises(MemoryError):
        LocalBackend().create_sweep({"method": "grid", "parameters": {"x": {"values": list(range(50))}}})
    assert len(calls) == 6 and list((home / ".sweepkit" / "sweeps").iterdir()) == []
    assert LocalBackend().list_sweeps() == [] and LocalBackend().incomplete_sweeps() == []


def test_a_finished_sweep_carries_no_trace_of_its_creation(home):
    sid = LocalBackend().create_sweep({"method": "grid", "parameters": {"x": {"values": [1, 2]}}})
    assert sorted(p.name for p in sweep_dir(sid).iterdir()) == ["journal.log", "journal.log.flock", "sweep.yaml"]
    study = LocalBackend().engine(sid).study
    assert study.user_attrs["sk_creating"] is None and len(study.trials) == 2


# -- on PostgreSQL: the rows cannot be renamed into place, the study is marked until its last write ----
CUT_AFTER_RENAME = """
import os, sys
from agent.backends.local import LocalBackend, creation

real = creation._set


def cut(study, attrs):
    if attrs == creation.Creating.done():
        os._exit(9)  # killed after the folder was renamed into place, before the marker was cleared
    real(study, attrs)


creation._set = cut
LocalBackend(sys.argv[1]).create_sweep({"method": "grid", "parameters": {"x": {"values": [1, 2, 3]}}})
"""


def _study_names(url: str) -> list[str]:
    import optuna

    return optuna.get_all_study_names(storage=url)


def _trials(url: str, sid: str) -> int:
    from optuna.storages import RDBStorage

    storage = RDBStorage(url)
    try:
        return storage.get_n_trials(storage.get_study_id_from_name(sid))
    except KeyError:
        return 0


@pytest.mark.postgres
def test_on_postgresql_a_study_marked_incomplete_is_refused_everywhere_and_doctor_removes_it(home, pg_url):
    res = subprocess.run(
        [sys.executable, "-c", CUT_AFTER_RENAME, pg_url], env=env_for(home), capture_output=True, text=True
    )
    assert res.returncode == 9, res.stderr
    (folder,) = _sweeps(home).iterdir()
    sid = folder.name
    assert (folder / "storage.txt").is_file() and sid in _study_names(pg_url)

    res = invoke("sweeps", "--storage", pg_url)
    assert sid not in res.stdout and f"`sweepkit doctor --repair {sid} --storage URL`" in res.stderr, res.stderr
    other = env_for(home, SWEEPKIT_HOME=str(home / "another-machine"))  # sees only the database
    for command in ("status", "agent"):
        for env in (None, other):
            got = sk(home, command, sid, "--storage", pg_url, env=env)
            assert got.returncode == 2 and f"sweep {sid} is incomplete" in got.stderr, (command, got.stderr)
    res = invoke("doctor", "--repair", sid, "--storage", pg_url)
    assert res.exit_code == 0 and "-> fixed: removed 1 folder(s) and its study" in res.stdout, res.stdout
    assert sid not in _study_names(pg_url) and list(_sweeps(home).iterdir()) == []


@pytest.mark.postgres
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_on_postgresql_an_interrupted_sweep_leaves_nothing_after_doctor(home, pg_url, sig):
    (home / "big.yaml").write_text(BIG)
    proc = sk_popen(home, "sweep", "big.yaml", "--storage", pg_url)

    def enqueuing():
        folders = list(_sweeps(home).glob(".creating-*"))
        return folders and _trials(pg_url, folders[0].name.split("-")[1]) > 50

    wait_until(lambda: enqueuing() or proc.poll() is not None, timeout=120, what="the grid being enqueued")
    assert proc.poll() is None, proc.communicate()
    sid = next(_sweeps(home).glob(".creating-*")).name.split("-")[1]
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    if sig == signal.SIGTERM:  # undone by the process itself
        assert proc.returncode == 143
    else:  # left behind, and removed by the repair
        assert sid in _study_names(pg_url)
        res = invoke("doctor", "--repair", sid, "--storage", pg_url)
        assert res.exit_code == 0 and "its study" in res.stdout, res.stdout
    assert sid not in _study_names(pg_url) and list(_sweeps(home).iterdir()) == []
