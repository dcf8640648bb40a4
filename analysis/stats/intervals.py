"""Intervals for a mean over seeds that respect what the metric can be, and when figures show seeds instead.

A 95% t-interval at 2 seeds is the mean +- 12.7 standard errors: for an accuracy of 0.86 with seeds
4 points apart it runs from 0.58 to 1.15, past what an accuracy can be. For a metric bounded by its
nature (`agent.sweep_config.metric.metric_bounds`) the interval is built on a scale where the
bounds are infinitely far away and mapped back (the delta method, centred on the mean itself):

    [0, 1], or any (low, high)   logit((x - low) / (high - low))   (for [-1, 1] this is 2 x Fisher's z)
    [low, inf)                   log(x - low)
    (-inf, high]                 -log(high - x)

so it never leaves the bounds, it holds the mean, and as the seeds grow it becomes the plain
t-interval (same t quantile, same standard error). Its coverage is checked by simulation at 2 to
30 seeds (tests/analysis/test_calibration.py, benchmarks/calibration.py). A difference between two
models is not bounded that way and keeps the plain paired t-interval (`compare`).

Below BAND_MIN_SEEDS a 95% interval of a mean is too wide to draw usefully (t = 12.7 at 2 seeds,
4.3 at 3), so figures show each seed with the mean, and tables give the interval with its n.

Pure: numbers in, numbers out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from agent.sweep_config.metric import UNBOUNDED, Bounds
from analysis.stats.arrays import FloatArray, floats
from analysis.stats.compare import t_half_width

BAND_MIN_SEEDS = 4
PERCENT: Bounds = (0.0, 100.0)
Transform = tuple[
    Callable[[FloatArray], FloatArray], Callable[[FloatArray], FloatArray], Callable[[FloatArray], FloatArray]
]


def observed_bounds(bounds: Bounds, values: npt.ArrayLike | pd.Series) -> Bounds:
    """The metric's bounds where its values keep to them; a [0, 1] metric logged in percent gets
    [0, 100]; values past a declared bound mean the name misled, and the metric is taken as unbounded."""
    v = floats(values)
    v = v[np.isfinite(v)]
    lo, hi = bounds

    def within(b: Bounds) -> bool:
        return bool(np.all((b[0] is None or v >= b[0]) & (b[1] is None or v <= b[1]))) if v.size else True

    if within(bounds):
        return bounds
    if (lo, hi) == (0.0, 1.0) and within(PERCENT):
        return PERCENT
    return UNBOUNDED


def _transform(bounds: Bounds) -> Transform | None:
    """(g, g', g^-1): the scale on which the interval is symmetric; None for an unbounded metric."""
    lo, hi = bounds
    if lo is not None and hi is not None:
        w = hi - lo
        return (
            lambda x: np.log((x - lo) / (hi - x)),
            lambda x: w / ((x - lo) * (hi - x)),
            lambda z: lo + w / (1.0 + np.exp(-z)),
        )
    if lo is not None:
        return (lambda x: np.log(x - lo), lambda x: 1.0 / (x - lo), lambda z: lo + np.exp(z))
    if hi is not None:
        return (lambda x: -np.log(hi - x), lambda x: 1.0 / (hi - x), lambda z: hi - np.exp(-z))
    return None


def bounded_interval(
    mean: npt.ArrayLike, half: npt.ArrayLike, bounds: Bounds = UNBOUNDED
) -> tuple[FloatArray, FloatArray]:
    """(low, high) of mean +- half (a t half-width), elementwise, carried to the bounded scale and back.

    NaN where `half` is NaN (one seed). A mean on a bound has no spread (every seed sits there),
    so its interval is that point.
    """
    m, h = np.broadcast_arrays(floats(mean), floats(half))
    t = _transform(bounds)
    if t is None:
        return m - h, m + h
    g, dg, inv = t
    lo = -np.inf if bounds[0] is None else bounds[0]
    hi = np.inf if bounds[1] is None else bounds[1]
    inside = (m > lo) & (m < hi)
    safe = np.where(inside, m, (lo + hi) / 2 if np.isfinite(lo + hi) else (lo if np.isfinite(lo) else hi) + 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        z, hz = g(safe), h * dg(safe)
        low, high = inv(z - hz), inv(z + hz)
    plain_low, plain_high = np.clip(m - h, lo, hi), np.clip(m + h, lo, hi)
    return np.where(inside, low, plain_low), np.where(inside, high, plain_high)


def mean_interval(
    values: npt.ArrayLike | pd.Series, bounds: Bounds = UNBOUNDED, confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """(mean, low, high) of the mean over n >= 2 values, within `bounds` (None below 2 values)."""
    v = floats(values)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return None
    m = float(v.mean())
    low, high = bounded_interval(m, t_half_width(v.std(ddof=1), v.size, confidence), bounds)
    return m, float(low), float(high)


def method_note(bounds: Bounds) -> str:
    """How an interval of a mean over seeds is made, for the report's figure notes."""
    lo, hi = bounds
    if lo is None and hi is None:
        return "95% t-intervals over seeds"
    if lo is not None and hi is not None:
        scale = "Fisher's z scale" if (lo, hi) == (-1.0, 1.0) else "logit scale"
        rng = f"[{lo:g}, {hi:g}]"
    else:
        scale, rng = "log scale of the distance to its bound", (f"≥ {lo:g}" if lo is not None else f"≤ {hi:g}")
    return (
        f"95% t-intervals over seeds, built on the {scale} and mapped back (delta method), so they stay "
        f"within the metric's range {rng}"
    )
