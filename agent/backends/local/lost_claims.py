"""A claim whose agent died before its run began, told apart from a run that started and lost its logs.

An agent claims a trial (its `sk_run` record reaches the store), then makes the run's dir and starts
the run; from then on its heartbeat thread beats. Killed in between, it leaves a claim that never
started: no run dir, no heartbeat, nothing logged, and no result but the one a reaper gives a lost
run (crashed, no runtime). Nothing of that run was lost, since nothing existed: `doctor --repair`
marks it crashed with `NEVER_STARTED` and queues its point again where the method requeues (grid)
and no other trial has it; once a reaper or doctor has marked it there is nothing left to report.
A run that did start (a heartbeat, a logged value, a result with a runtime) and has no run dir has
lost its logs: that stays a finding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import optuna
from optuna.trial import TrialState

from agent.backends.local.optuna_internals import storage_of, trial_id_of
from agent.backends.local.schema import Ended, QueuedPoint, Result, TrialAttrs
from agent.states import RunState

NEVER_STARTED = "claimed but never started: its agent died before the run began"


def never_started(trial: optuna.trial.FrozenTrial, runs_dir: Path) -> bool:
    """A claimed trial that left no sign its run began (see the module's docstring)."""
    a = TrialAttrs.from_attrs(trial.user_attrs)
    if a.run is None or not a.run.run_id or (runs_dir / a.run.run_id).exists():
        return False
    if a.beat is not None or a.live is not None or trial.intermediate_values:
        return False
    return a.result is None or (a.result.state == RunState.CRASHED and a.result.runtime is None)


def _params(a: TrialAttrs) -> Optional[dict[str, Any]]:
    return a.run.params if a.run else (a.point.params if a.point else None)


def point_covered(study: optuna.Study, trial: optuna.trial.FrozenTrial, params: dict[str, Any]) -> bool:
    """Whether another trial holds the same point: waiting, running, or ended without being requeued."""
    for t in study.get_trials(deepcopy=False):
        if t.number == trial.number:
            continue
        a = TrialAttrs.from_attrs(t.user_attrs)
        if _params(a) != params:
            continue
        if t.state in (TrialState.WAITING, TrialState.RUNNING) or (t.state.is_finished() and not a.requeued):
            return True
    return False


def mark(study: optuna.Study, trial: optuna.trial.FrozenTrial, *, requeue: bool) -> Optional[bool]:
    """Mark a running trial that never started as crashed (call under the claim lock); whether its
    point was queued again, or None when it ended meanwhile (its agent, or a reaper, was quicker)."""
    a = TrialAttrs.from_attrs(trial.user_attrs)
    params = _params(a) or {}
    again = requeue and not point_covered(study, trial, params)
    storage = storage_of(study)
    try:  # the result first: a reader that sees the trial ended sees why
        for key, value in Ended(Result(RunState.CRASHED, reason=NEVER_STARTED), requeued=again).to_attrs().items():
            storage.set_trial_user_attr(trial_id_of(trial), key, value)
        storage.set_trial_state_values(trial_id_of(trial), TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return None
    if again:
        study.enqueue_trial({}, user_attrs=QueuedPoint(params, requeue_of=trial.number).to_attrs())
    return again
