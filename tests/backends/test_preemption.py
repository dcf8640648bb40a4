"""A preempted trial (the scheduler's SIGTERM, the time-limit warning): recorded `preempted` with its
reason, its point back at once with the same params whatever the method, counted toward no
run_cap and no failure guard, and taught to no sampler. In-process agents; the signals themselves
are tested with real processes in tests/runners/test_slurm.py and tests/e2e/test_slurm.py."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from agent.backends.base import AgentSettings, TrialControl, TrialSpec
from agent.backends.local import LocalBackend
from agent.backends.local.schema import Result
from agent.backends.outcome import outcome
from agent.backends.stopping import PREEMPTED_EXIT, StopRequest, preempted
from agent.states import RunState
from tests.helpers import FunctionRunner, QuietProgress, run_in_process

WHY = preempted("SIGTERM from the scheduler (job 41_2)")


def _preempted_once(b: LocalBackend, sid: str, metric: str = "m") -> tuple[int, dict[str, Any]]:
    """One agent whose first trial the scheduler stops midway (after logging a value); its exit code
    and that trial's params."""
    stop, seen = StopRequest(), {}

    def trial(spec: TrialSpec, control: TrialControl) -> dict:
        seen.update(spec.params)
        if control.on_row is not None:
            control.on_row("trial", {metric: 0.5, "_step": 0})
        stop.request(WHY)  # what the signal handler does
        while control.stop_reason() is None:
            pass
        raise KeyboardInterrupt  # how an in-process trial ends when told to stop

    code = b.run_agent(
        sid, runner=FunctionRunner(trial, report_rows=True), progress=QuietProgress(), settings=AgentSettings(),
        stop=stop,
    )  # fmt: skip
    return code, seen


def test_a_preempted_grid_point_is_recorded_with_its_reason_and_runs_again_at_once(home):
    b = LocalBackend()
    sid = b.create_sweep({"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2, 3]}}})
    code, params = _preempted_once(b, sid)
    assert code == PREEMPTED_EXIT
    (run,) = b.runs(sid)
    assert (run.state, run.reason, run.config) == (RunState.PREEMPTED, WHY, params)
    assert run_in_process(b, sid, lambda s: {"m": s.params["x"]}) == 0  # no heartbeat timeout to wait for
    finished = sorted(r.config["x"] for r in b.runs(sid) if r.state == RunState.FINISHED)
    assert finished == [1, 2, 3]


def test_a_preempted_random_run_reruns_its_params_and_takes_no_slot_of_run_cap(home):
    b = LocalBackend()
    sid = b.create_sweep({"method": "random", "run_cap": 3, "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    _, params = _preempted_once(b, sid)
    assert run_in_process(b, sid, lambda s: {}) == 0
    runs = b.runs(sid)
    finished = [r.config for r in runs if r.state == RunState.FINISHED]
    assert len(finished) == 3 and finished[0] == params  # the same point first, then two new draws
    assert b.sweep(sid).state == "finished"


def test_bayes_learns_nothing_from_a_preempted_run_and_reruns_the_same_point(home):
    b = LocalBackend()
    sid = b.create_sweep(
        {
            "method": "bayes",
            "run_cap": 2,
            "metric": {"name": "m", "goal": "minimize", "impute": "worst"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )
    _, params = _preempted_once(b, sid)
    study = b.engine(sid).study
    first = study.trials[0]
    result = Result.from_attrs(first.user_attrs)
    assert first.state == optuna.trial.TrialState.FAIL and result is not None
    assert result.state == RunState.PREEMPTED and not result.has_imputed  # no value imputed, nothing learned
    assert run_in_process(b, sid, lambda s: {"m": s.params["x"]}) == 0
    again = study.trials[1]
    assert again.params == first.params  # Optuna's own params: the GP sees the point as it was
    assert [r.config for r in b.runs(sid) if r.state == RunState.FINISHED][0] == params


@pytest.mark.parametrize(
    ("exit_code", "state"),
    [(-15, RunState.PREEMPTED), (143, RunState.PREEMPTED), (None, RunState.PREEMPTED), (0, RunState.FINISHED)],
)
def test_a_preempted_trial_that_finished_by_itself_is_finished(exit_code, state):
    got, _, reason = outcome(metric=None, exit_code=exit_code, stopped=WHY, run_info={}, log_reason=None)
    assert got == state and (reason == WHY) == (state == RunState.PREEMPTED)
