"""A trial's end, read and written: what its run's log says when it ended, and its result written
once, whatever the store did meanwhile."""

from __future__ import annotations

from typing import Any, Optional

import optuna
from optuna.trial import TrialState

from agent import runlog
from agent.backends.base import TrialOutcome, TrialSpec
from agent.backends.local.methods import Lesson
from agent.backends.local.optuna_internals import frozen, storage_of, trial_id_of
from agent.backends.local.retry import StoreRetry
from agent.backends.local.schema import Ended, Result
from agent.backends.local.store import batched_writes
from agent.backends.stopping import is_preemption
from agent.sweep_config.metric import finite

EXIT_WAIT_S = 30.0  # how long a run's log may take to get its exit record after the trial ended


def final_info(spec: TrialSpec, ended: TrialOutcome) -> tuple[dict[str, Any], Optional[str], Optional[str]]:
    """(the run's final info: summary, config...; the reason its log gave, if unreadable; why its
    summary may be incomplete). The runner's own summary wins over the log's."""
    info: dict[str, Any] = {"summary": dict(ended.summary or {})}
    log_reason, incomplete = ended.reason, None
    run_file = runlog.find_run_file(spec.run_dir)
    if run_file is None:
        return info, log_reason, None
    try:
        # a preempted agent has seconds before the scheduler's SIGKILL: it never waits for the log
        wait = EXIT_WAIT_S if ended.log_complete and not is_preemption(ended.stopped) else 0
        read, complete = runlog.read_final_summary(spec.run_dir, wait_s=wait)
        info = {**read, "summary": {**(read.get("summary") or {}), **info["summary"]}}
        if wait and not complete:  # a preempted trial's log is read as it stands: its reason says why
            incomplete = (
                f"wandb had not finished writing {run_file.name} {wait:g} s after "
                "the trial ended (no exit record): its summary may be incomplete"
            )
    except (runlog.RunReadError, OSError, ValueError) as exc:
        log_reason = log_reason or f"unreadable run log: {exc}"
    return info, log_reason, incomplete


def metric_history(trial: optuna.Trial, run_dir: str, metric: str) -> list[float]:
    """The trial's finite logged values of the metric: what the stopper was fed, else its run's log."""
    fed = frozen(trial).intermediate_values
    if fed:
        return [fed[k] for k in sorted(fed)]
    if runlog.find_run_file(run_dir) is None:
        return []
    try:
        rows = runlog.history_rows(run_dir)
    except (runlog.RunReadError, OSError, ValueError):
        return []
    return [float(r[metric]) for r in rows if finite(r.get(metric))]


def record_end(study: optuna.Study, trial: optuna.Trial, ended: Ended, lesson: Lesson, retry: StoreRetry) -> bool:
    """Write how the trial ended and end it; False if another agent had ended it (declared it
    lost). Retried while the store does not answer; a retry that finds the trial ended with this
    very result knows its earlier write went through unseen."""
    storage = storage_of(study)
    tries = 0

    def write() -> bool:
        nonlocal tries
        tries += 1
        try:
            with batched_writes(storage):  # the result and the state: one journal append
                for key, v in ended.to_attrs().items():
                    trial.set_user_attr(key, v)
                if lesson.state == TrialState.COMPLETE:
                    study.tell(trial, lesson.value)
                else:
                    study.tell(trial, state=lesson.state)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):  # ValueError: tell on a FAIL
            return tries > 1 and _recorded_as(storage, trial, ended.result)
        return True

    return retry("record the result", write)


def _recorded_as(storage: optuna.storages.BaseStorage, trial: optuna.Trial, result: Result) -> bool:
    stored = storage.get_trial(trial_id_of(trial))
    mine = Result.from_attrs(stored.user_attrs)
    same = mine is not None and (mine.state, mine.runtime) == (result.state, result.runtime)
    return stored.state.is_finished() and same
