"""Pure rules for what the local engine records of an ended trial: what bayes learns, capped summaries.

W&B's bayes learns each finished run's best logged value of the metric (history and summary), and
imputes one for a failed, crashed or killed run, or a finished one that never logged the metric, as
`metric.impute` says: `worst` (the default) is the worst value any ended run logged, `best` the run's
own best, `latest` its last logged value. Where W&B then has nothing to impute from it uses 0.0;
sweepkit tells the sampler nothing instead (a 0.0 would read as a perfect loss).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from agent.states import RunState
from agent.sweep_config.metric import finite, maximize

SUMMARY_CAP = 200_000  # bytes of JSON kept in the store per run; the run dir keeps everything


def extremes(values: list[Any]) -> Optional[list[float]]:
    """[min, max] of the finite values, or None."""
    ok = [float(v) for v in values if finite(v)]
    return [min(ok), max(ok)] if ok else None


def learned_value(
    metric: dict[str, Any],
    state: str,
    history: list[float],
    own: Optional[list[float]],
    ended: list[Optional[list[float]]],
) -> tuple[Optional[float], bool]:
    """(the value bayes learns from this run, whether it is imputed); (None, False): nothing to learn.

    `history`: the run's finite logged values in order; `own`: its [min, max] over history and summary;
    `ended`: [min, max] of every ended run of the sweep, this one included.
    """
    up = maximize(metric)
    if state == RunState.FINISHED and own is not None:
        return (own[1] if up else own[0]), False
    how = metric.get("impute", "worst")
    if how == "latest":
        return (history[-1], True) if history else (None, False)
    if how == "best":
        return ((own[1] if up else own[0]), True) if own is not None else (None, False)
    worsts = [e[0] if up else e[1] for e in ended if e is not None]
    return ((min if up else max)(worsts), True) if worsts else (None, False)


def jsonable(obj: Any, cap: int = SUMMARY_CAP) -> Any:
    text = json.dumps(obj, default=str)
    return json.loads(text) if len(text) <= cap else None
