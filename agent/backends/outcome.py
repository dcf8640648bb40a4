"""The pure rule for a trial that ended: its W&B state, metric value and reason."""

from __future__ import annotations

import math
from typing import Any, Optional

from agent.backends.stopping import INTERRUPTED, is_cancel, is_preemption
from agent.paths import DISK_FULL, DISK_FULL_EXIT
from agent.states import RunState
from agent.sweep_config.metric import missing_reason

_NO_SPACE = "No space left on device"  # how a foreign program's last line says it (OSError's text)


def outcome(
    *,
    metric: Optional[str],
    exit_code: Optional[int],
    stopped: Optional[str],
    run_info: dict[str, Any],
    log_reason: Optional[str],
    run_log: Optional[bool] = None,
) -> tuple[RunState, Optional[float], Optional[str]]:
    """(W&B state, metric value, reason) of a trial that ended. `run_log`: whether its run dir holds a
    W&B run (None: not known here); a finished run without the metric says why, and what it did log."""
    summary = run_info.get("summary") or {}
    value = summary.get(metric) if metric else None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        value = None
    reason = summary.get("failure_reason") or log_reason
    if is_preemption(stopped):
        if exit_code != 0:
            return RunState.PREEMPTED, value, stopped
        stopped = None  # it finished by itself before the stop reached it: nothing to run again
    if stopped == INTERRUPTED:
        return RunState.KILLED, value, INTERRUPTED
    if is_cancel(stopped):
        if exit_code != 0:
            return RunState.KILLED, value, stopped
        stopped = None  # it finished by itself before the cancel reached it
    if stopped:
        return RunState.PRUNED, value, stopped
    if exit_code == 0:
        if metric and value is None:
            return RunState.FINISHED, None, missing_reason(metric, summary, run_log)
        return RunState.FINISHED, value, None
    if exit_code == DISK_FULL_EXIT or (reason or "").startswith(DISK_FULL) or _NO_SPACE in (reason or ""):
        said = reason or ""  # from the child's stderr it reads "sweepkit: trial failed: disk full: ..."
        why = said[said.find(DISK_FULL) :] if DISK_FULL in said else f"{DISK_FULL}: {said or 'exit 28'}"
        return RunState.FAILED, value, why
    if exit_code is None:
        return RunState.CRASHED, value, reason or "could not start"
    if exit_code < 0:
        return RunState.CRASHED, value, f"killed by signal {-exit_code}" + (f": {reason}" if reason else "")
    return RunState.FAILED, value, reason or f"exit code {exit_code}"


def is_disk_full(state: str, reason: Optional[str]) -> bool:
    """A run that failed for want of disk space: the agent stops, and a grid point runs again later."""
    return state == RunState.FAILED and (reason or "").startswith(DISK_FULL)
