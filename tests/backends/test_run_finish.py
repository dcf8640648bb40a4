"""The end of a trial waits for wandb to finish writing the run's log (exit record) before reading it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import agent.backends.local.ending as ending
import agent.runlog as runlog
from agent.backends.base import FINISHED
from agent.backends.local import LocalBackend
from agent.runlog import has_exit, read_final_summary
from tests.helpers import run_in_process

LIVE = {"state": "unknown", "exit_code": None, "summary": {}}
DONE = {"state": "finished", "exit_code": 0, "summary": {"acc": 0.7}}


class LateLog:
    """A reader of a log whose final summary and exit record land `late` reads after the trial ended."""

    def __init__(self, late: int):
        self.late, self.calls = late, 0

    def __call__(self, path, timeout: float = 60) -> dict:
        self.calls += 1
        return dict(DONE) if self.calls > self.late else dict(LIVE)


def test_has_exit_reads_the_exit_record_or_a_final_state():
    assert not has_exit(LIVE)
    assert has_exit(DONE) and has_exit({"exit_code": 1}) and has_exit({"state": "failed", "exit_code": None})


def test_read_final_summary_waits_for_the_exit_record():
    late = LateLog(3)
    info, complete = read_final_summary("x", wait_s=10, read=late)
    assert complete and info["summary"] == {"acc": 0.7} and late.calls == 4


def test_read_final_summary_gives_up_after_the_bound():
    t0 = time.monotonic()
    info, complete = read_final_summary("x", wait_s=0.3, read=LateLog(10**6))
    assert not complete and info["exit_code"] is None
    assert time.monotonic() - t0 < 2


@pytest.fixture
def late_log(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / ".sweepkit"))
    monkeypatch.delenv("SWEEPKIT_STORAGE", raising=False)
    monkeypatch.setattr(runlog, "find_run_file", lambda p: Path(p) / "run-x.wandb")
    return monkeypatch


def _one_run():
    b = LocalBackend()
    sid = b.create_sweep(
        {"method": "random", "metric": {"name": "acc", "goal": "maximize"}, "parameters": {"x": {"values": [1]}}}
    )
    # the trial logs its metric only to W&B (as a foreign function does): the log is the only source
    assert run_in_process(b, sid, lambda spec: {}, count=1) == 0
    (run,) = b.runs(sid)
    return run


def test_in_process_trial_whose_log_is_written_late_keeps_its_metric(late_log):
    reader = LateLog(3)
    late_log.setattr(runlog, "read_summary", reader)
    run = _one_run()
    # before the fix: one read of the unfinished log -> "finished without logging a finite 'acc'"
    assert (run.state, run.summary.get("acc"), run.reason) == (FINISHED, 0.7, None)
    assert reader.calls == 4


def test_a_log_that_never_gets_its_exit_record_is_named_in_the_reason(late_log):
    late_log.setattr(runlog, "read_summary", LateLog(10**6))
    late_log.setattr(ending, "EXIT_WAIT_S", 0.3)
    run = _one_run()
    assert run.state == FINISHED and "no exit record" in run.reason and "run-x.wandb" in run.reason


def test_a_preempted_trial_s_log_is_read_as_it_stands_and_its_reason_claims_no_wait(late_log):
    """A preempted agent does not wait for the log's exit record (the scheduler's SIGKILL is coming): the
    run's reason is its preemption, with no claim that wandb was waited for."""
    from agent.backends.base import TrialOutcome, TrialSpec

    reader = LateLog(10**6)
    late_log.setattr(runlog, "read_summary", reader)
    spec = TrialSpec("s", "r", {}, "/nowhere/r", 0)
    stopped = "preempted: SIGTERM from the scheduler (job 1_2)"
    info, log_reason, incomplete = ending.final_info(spec, TrialOutcome(-15, 1.0, stopped=stopped))
    assert reader.calls == 1 and incomplete is None and log_reason is None
