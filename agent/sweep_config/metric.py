"""The sweep metric's rules: which value is better, the best run, and when `target` is reached.

One declaration of "best" for every caller (status, the agents' views, the report): W&B's goal
defaults to minimize, and only finished runs with a finite value compete.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional, TypeVar

T = TypeVar("T")


def maximize(metric: Optional[Mapping]) -> bool:
    return str((metric or {}).get("goal", "minimize")).lower() == "maximize"


def finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def is_better(value: float, than: Optional[float], metric: Optional[Mapping]) -> bool:
    """Whether `value` beats `than` (None: nothing to beat) under the metric's goal."""
    if than is None:
        return True
    return value > than if maximize(metric) else value < than


def best(items: Iterable[T], value: Callable[[T], Any], metric: Optional[Mapping]) -> Optional[T]:
    """The item with the best finite value (the first one on ties), or None."""
    top, top_value = None, None
    for item in items:
        v = value(item)
        if finite(v) and (top is None or is_better(float(v), top_value, metric)):
            top, top_value = item, float(v)
    return top


def reached(metric: Optional[Mapping], value: Optional[float]) -> bool:
    """`metric.target`: once a run reaches it, the sweep hands out no new runs."""
    target = (metric or {}).get("target")
    if target is None or value is None:
        return False
    return value >= target if maximize(metric) else value <= target
