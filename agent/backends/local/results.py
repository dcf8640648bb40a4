"""Pure rules for what the local engine records of an ended trial: imputed values, capped summaries."""

from __future__ import annotations

import json
from typing import Any, Optional

from agent.sweep_config.metric import maximize

SUMMARY_CAP = 200_000  # bytes of JSON kept in the store per run; the run dir keeps everything


def impute(metric: dict, own: Optional[float], finished: list[float]) -> Optional[float]:
    """W&B's `metric.impute` (worst | best | latest, default worst) for a failed bayes run:
    the value the sampler learns from it. None when there is nothing to impute from yet."""
    how = metric.get("impute", "worst")
    if how == "latest" and own is not None:
        return own
    if not finished:
        return None
    worst, best = (min(finished), max(finished)) if maximize(metric) else (max(finished), min(finished))
    return best if how == "best" else worst


def jsonable(obj: Any, cap: int = SUMMARY_CAP) -> Any:
    text = json.dumps(obj, default=str)
    return json.loads(text) if len(text) <= cap else None
