"""How the figures lay out what ReportData states, shared by the plotly (report.html) and matplotlib
(report.md) figures so that both mean the same: axis ranges kept within the metric's bounds, seed
points spread beside their mean, bands only where there are seeds enough, log axes in real values.

Layout only: every number drawn was computed by `analysis.report`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.report.data import ReportData, fmt_value

PAD = 0.08  # of the data's span, on each side of an axis


def scaled_bounds(d: ReportData) -> tuple[float, float]:
    """The metric's bounds in the units the figures show (-inf / inf where it has none)."""
    lo, hi = d.bounds
    return (-np.inf if lo is None else lo * d.scale.factor, np.inf if hi is None else hi * d.scale.factor)


def value_range(values: Iterable[Any], bounds: tuple[float, float] = (-np.inf, np.inf)) -> list[float] | None:
    """[low, high] of an axis that shows `values` with a margin and never passes `bounds` (None: no values)."""
    v = np.asarray([x for x in values if x is not None], dtype=float).ravel()
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    pad = PAD * (hi - lo) if hi > lo else max(abs(hi) * 0.02, 1e-9)
    return [max(lo - pad, bounds[0]), min(hi + pad, bounds[1])]


def log_axis(values: Iterable[Any]) -> bool:
    """Whether a cost axis is drawn log-scaled: positive values spanning at least 3x (else a log axis
    shows a single tick)."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size) and float(v.max() / v.min()) >= 3.0


def spread(n: int, width: float = 0.3) -> npt.NDArray[np.float64]:
    """x offsets of n points drawn beside one another around 0 (the seeds of one model)."""
    return np.zeros(n) if n <= 1 else np.linspace(-width / 2, width / 2, n)


def shows_interval(d: ReportData, n: Any) -> bool:
    """Whether an interval over n seeds is drawn; below `d.band_min_seeds` the seeds are drawn instead."""
    return bool(pd.notna(n) and int(n) >= d.band_min_seeds)


class ModelMean(NamedTuple):
    """One model's mean over the shared cells, as the comparison figures draw it."""

    model: str
    mean: float
    low: float
    high: float
    cells: int
    interval: bool  # whether its interval is drawn (enough seeds, and an interval at all)


def model_means(d: ReportData) -> list[ModelMean]:
    """`d.model_means` as typed rows; missing intervals as NaN."""

    def num(v: Any) -> float:
        return float(v) if v is not None and pd.notna(v) else float("nan")

    out = []
    for r in d.model_means.to_dict("records"):
        low, high = num(r["low"]), num(r["high"])
        drawn = shows_interval(d, r["n"]) and bool(np.isfinite(low) and np.isfinite(high))
        out.append(ModelMean(str(r["model"]), num(r["mean"]), low, high, int(r["cells"]), drawn))
    return out


def band_edges(c: pd.DataFrame, factor: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A curve's band in display units, collapsed onto the mean where it has too few seeds or no interval."""
    mean = c["mean"].to_numpy(dtype=float)
    drawn = c["band"].to_numpy(dtype=bool) if "band" in c else np.ones(len(c), dtype=bool)
    lo, hi = (c[k].to_numpy(dtype=float) for k in ("low", "high"))
    ok = drawn & np.isfinite(lo) & np.isfinite(hi)
    return np.where(ok, lo, mean) * factor, np.where(ok, hi, mean) * factor


def seed_label(seed: Any) -> str:
    return "" if seed is None or (isinstance(seed, float) and np.isnan(seed)) else f"seed {fmt_value(seed)}"


def log_ticks(values: pd.Series) -> tuple[list[float], list[str]]:
    """Ticks for a log10 axis of positive `values`, labelled in real values: the values themselves
    when few (a grid), else 1 and 3 of each decade in range ("1e-4", "3e-4")."""
    v = np.sort(pd.to_numeric(values, errors="coerce").dropna().unique())
    if len(v) <= 8:
        ticks = list(v)
    else:
        lo, hi = np.log10(v[0]), np.log10(v[-1])
        ticks = [m * 10.0**k for k in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) for m in (1, 3)]
        ticks = [t for t in ticks if lo - 1e-9 <= np.log10(t) <= hi + 1e-9] or [v[0], v[-1]]
    return [float(np.log10(t)) for t in ticks], [fmt_value(float(t)) for t in ticks]


def value_ticks(values: pd.Series) -> tuple[list[float], list[str]] | None:
    """The values themselves as ticks (a grid's few numbers), else None: let the axis choose."""
    v = np.sort(pd.to_numeric(values, errors="coerce").dropna().unique())
    return ([float(x) for x in v], [fmt_value(float(x)) for x in v]) if 1 < len(v) <= 8 else None
