"""Pure rules for a trial that ended: its W&B state, value and reason; target; impute."""
from __future__ import annotations

import json
import math
from typing import Any, Optional

from agent.backends.base import CRASHED, FAILED, FINISHED, KILLED, PRUNED

SUMMARY_CAP = 200_000  # bytes of JSON kept in the store per run; the run dir keeps everything


def reached(metric: dict, value: Optional[float]) -> bool:
    target = metric.get("target")
    if target is None or value is None:
        return False
    return value >= target if metric.get("goal") == "maximize" else value <= target


def outcome(*, metric: Optional[str], exit_code: Optional[int], stopped: Optional[str],
            run_info: dict, log_reason: Optional[str]) -> tuple[str, Optional[float], Optional[str]]:
    """(W&B state, metric value, reason) of a trial that ended. Pure: tested directly."""
    summary = run_info.get("summary") or {}
    value = summary.get(metric) if metric else None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        value = None
    reason = summary.get("failure_reason") or log_reason
    if stopped == "interrupted":
        return KILLED, value, "interrupted"
    if stopped:
        return PRUNED, value, stopped
    if exit_code == 0:
        if metric and value is None:
            return FINISHED, None, f"finished without logging a finite {metric!r} (check metric.name)"
        return FINISHED, value, None
    if exit_code is None:
        return CRASHED, value, reason or "could not start"
    if exit_code < 0:
        return CRASHED, value, f"killed by signal {-exit_code}" + (f": {reason}" if reason else "")
    return FAILED, value, reason or f"exit code {exit_code}"


def impute(metric: dict, own: Optional[float], finished: list[float]) -> Optional[float]:
    """W&B's `metric.impute` (worst | best | latest, default worst) for a failed bayes run:
    the value the sampler learns from it. None when there is nothing to impute from yet."""
    how = metric.get("impute", "worst")
    if how == "latest" and own is not None:
        return own
    if not finished:
        return None
    maximize = metric.get("goal") == "maximize"
    worst, best = (min(finished), max(finished)) if maximize else (max(finished), min(finished))
    return best if how == "best" else worst


def jsonable(obj: Any, cap: int = SUMMARY_CAP) -> Any:
    text = json.dumps(obj, default=str)
    return json.loads(text) if len(text) <= cap else None
