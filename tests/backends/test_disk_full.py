"""A full disk: the run fails as "disk full", the agent stops with one line, nothing recorded is lost."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess

import pytest
from optuna.trial import TrialState

from agent import paths
from agent.backends.base import FAILED, FINISHED
from agent.backends.local import LocalBackend
from agent.backends.local.journal import scan as journal_scan
from agent.backends.outcome import outcome
from tests.helpers import FunctionRunner, QuietProgress, env_for, run_in_process, sk

GRID = {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2, 3, 4]}}}


class Notes(QuietProgress):
    """A progress view that keeps what the agent said."""

    def __init__(self):
        self.lines: list[str] = []

    def note(self, text):
        self.lines.append(text)


def _agent(b, sid, fn, **settings):
    from agent.backends.base import AgentSettings

    notes = Notes()
    code = b.run_agent(sid, runner=FunctionRunner(fn), progress=notes, settings=AgentSettings(**settings))
    return code, notes.lines


# --- the pure rules ------------------------------------------------------------------------------
def test_disk_full_is_told_by_errno_text_or_a_write_failing_on_a_nearly_full_disk(tmp_path, monkeypatch):
    assert paths.disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert paths.disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    try:
        try:
            raise OSError(errno.ENOSPC, "x")
        except OSError as inner:
            raise RuntimeError("saving the checkpoint failed") from inner
    except RuntimeError as outer:
        assert paths.disk_full(outer)
    torch_like = RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    assert not paths.disk_full(OSError(errno.EIO, "Input/output error"), tmp_path)
    monkeypatch.setattr(paths, "free_bytes", lambda where: 10**12)
    assert not paths.disk_full(torch_like, tmp_path)
    monkeypatch.setattr(paths, "free_bytes", lambda where: 4096)
    assert paths.disk_full(torch_like, tmp_path)
    assert not paths.disk_full(ValueError("bad value"), tmp_path)
    reason = paths.disk_full_reason(tmp_path)
    assert reason.startswith("disk full:") and str(tmp_path) in reason and "free space" in reason


def test_outcome_names_a_full_disk_whoever_reports_it():
    def reason(**kw):
        state, _, why = outcome(metric="m", stopped=None, run_info={}, **kw)
        assert state == FAILED
        return why

    assert reason(exit_code=28, log_reason="sweepkit: trial failed: disk full: no space on /x") == (
        "disk full: no space on /x"
    )
    assert reason(exit_code=1, log_reason="OSError: [Errno 28] No space left on device").startswith("disk full: ")
    assert reason(exit_code=28, log_reason=None) == "disk full: exit 28"
    assert reason(exit_code=1, log_reason="ValueError: boom") == "ValueError: boom"


# --- the agent -------------------------------------------------------------------------------------
def test_a_trial_that_fills_the_disk_stops_the_agent_and_its_grid_point_runs_later(home):
    b = LocalBackend()
    sid = b.create_sweep(GRID)

    def trial(spec):
        if spec.params["x"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return {"m": spec.params["x"]}

    code, notes = _agent(b, sid, trial)
    assert code == paths.DISK_FULL_EXIT
    said = [n for n in notes if "disk full" in n]
    assert len(said) == 1 and said[0].startswith("stopping: disk full") and "\n" not in said[0]
    runs = LocalBackend().runs(sid)
    assert [(r.config["x"], r.state) for r in runs] == [(1, FINISHED), (2, FAILED)]
    assert runs[1].reason.startswith("disk full")
    # space freed: the next agent runs the rest, point 2 included
    assert run_in_process(LocalBackend(), sid, lambda s: {"m": s.params["x"]}) == 0
    done = [r.config["x"] for r in LocalBackend().runs(sid) if r.state == FINISHED]
    assert sorted(done) == [1, 2, 3, 4]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, where the machine lets us mount one (root); other tests inject the error."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root; the injected-error tests cover this machine")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(disk) -> None:
    with open(disk / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_under_the_store_loses_nothing_and_the_sweep_resumes(small_disk, monkeypatch):
    monkeypatch.setenv("SWEEPKIT_HOME", str(small_disk / ".sweepkit"))
    monkeypatch.delenv("SWEEPKIT_STORAGE", raising=False)
    b = LocalBackend()
    sid = b.create_sweep(GRID)
    assert run_in_process(b, sid, lambda s: {"m": s.params["x"]}, count=1) == 0
    journal = small_disk / ".sweepkit" / "sweeps" / sid / "journal.log"
    _fill(small_disk)
    before = journal.read_bytes()
    code, notes = _agent(LocalBackend(), sid, lambda s: {"m": s.params["x"]}, heartbeat_timeout=1)
    assert code == paths.DISK_FULL_EXIT and len([n for n in notes if "disk full" in n]) == 1
    after = journal.read_bytes()  # appends fit until the file's last page filled; then one failed
    assert after.startswith(before) and after.endswith(b"\n")
    assert journal_scan(journal)[1] == []  # the failed append was cut back: no fragment
    kept = [(r.config["x"], r.state) for r in LocalBackend().runs(sid)]
    assert kept[0] == (1, FINISHED) and len(kept) < 4
    (small_disk / "filler").unlink()
    assert run_in_process(LocalBackend(), sid, lambda s: {"m": s.params["x"]}, heartbeat_timeout=1) == 0
    runs = LocalBackend().runs(sid)
    done = sorted(r.config["x"] for r in runs if r.state == FINISHED)
    assert done == [1, 2, 3, 4]
    engine = LocalBackend().engine(sid)
    assert not engine.study.get_trials(states=(TrialState.WAITING, TrialState.RUNNING))


@pytest.mark.slow
def test_the_agent_command_on_a_full_disk_says_one_line(small_disk):
    env = env_for(small_disk)
    (small_disk / "s.py").write_text("import sys; sys.exit(0)\n")
    (small_disk / "sweep.yaml").write_text(
        'program: s.py\ncommand: ["${interpreter}", "${program}"]\nmethod: grid\n'
        "parameters:\n  a: {values: [1, 2, 3]}\n"
    )
    sid = sk(small_disk, "sweep", "sweep.yaml", env=env).stdout.split()[-1]
    _fill(small_disk)
    res = sk(small_disk, "agent", sid, env=env)
    assert res.returncode == paths.DISK_FULL_EXIT, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    said = [line for line in (res.stdout + res.stderr).splitlines() if "stopping:" in line]
    assert len(said) == 1 and "disk full" in said[0] and "free space" in said[0]
