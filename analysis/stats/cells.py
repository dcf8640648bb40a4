"""A sweep's cells (one config over its seeds): seed summaries with t-intervals, matched pairs, the best row.

Pure: DataFrames in and out. `maximize` comes from the sweep's `metric.goal`, decided by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from agent.sweep_config.metric import UNBOUNDED, Bounds, best
from analysis.stats.compare import t_half_width
from analysis.stats.intervals import bounded_interval
from analysis.tables import tidy


def matched_pairs(
    runs: pd.DataFrame, *, compare: str, a: str, b: str, metric: str, match_keys: Sequence[str]
) -> pd.DataFrame:
    """One row per cell (match_keys) where both a and b have a value: columns a, b, diff.

    Several runs in one cell (repeats) are averaged first, so a cell counts once.
    """
    keys = [k for k in match_keys if k in runs.columns and k != compare]
    df = runs[runs[compare].isin([a, b])].dropna(subset=[metric])
    if df.empty:
        return pd.DataFrame(columns=[*keys, "a", "b", "diff"])
    if not keys:
        # Nothing to match on: each model is one cell, which gives a single (unpaired) pair.
        means = df.groupby(compare)[metric].mean()
        if a in means and b in means:
            return pd.DataFrame({"a": [means[a]], "b": [means[b]], "diff": [means[a] - means[b]]})
        return pd.DataFrame(columns=["a", "b", "diff"])
    cells = df.assign(**{k: tidy.text(df[k]) for k in keys}).pivot_table(
        index=keys, columns=compare, values=metric, aggfunc="mean"
    )
    if a not in cells.columns or b not in cells.columns:
        return pd.DataFrame(columns=[*keys, "a", "b", "diff"])
    cells = cells[[a, b]].dropna()
    out = pd.DataFrame({"a": cells[a], "b": cells[b]}).reset_index()
    out["diff"] = out["a"] - out["b"]
    return out


def with_t_interval(df: pd.DataFrame, confidence: float = 0.95, bounds: Bounds = UNBOUNDED) -> pd.DataFrame:
    """Add low/high, the t-interval of each row's mean from its mean, std (ddof=1) and count.

    The seed bands: t(0.975, n-1) * s / sqrt(n) keeps 95% coverage at 2 or 3 seeds, where a
    normal +-1.96 s/sqrt(n) or a bootstrap falls far short; for a bounded metric it is built on
    the bounded scale (`intervals.bounded_interval`), so it stays within `bounds`. One seed: no
    interval (NaN).
    """
    out = df.copy()
    n = pd.to_numeric(out["count"], errors="coerce").to_numpy(dtype=float)
    sd = pd.to_numeric(out["std"], errors="coerce").to_numpy(dtype=float)
    half = t_half_width(sd, n, confidence)
    mean = pd.to_numeric(out["mean"], errors="coerce").to_numpy(dtype=float)
    out["low"], out["high"] = bounded_interval(mean, half, bounds)
    return out


def seed_summary(
    runs: pd.DataFrame, *, config_keys: Sequence[str], metric: str, bounds: Bounds = UNBOUNDED
) -> pd.DataFrame:
    """mean, std (ddof=1; NaN for one seed), count and the 95% t-interval of `metric` per config."""
    keys = [k for k in config_keys if k in runs.columns]
    df = runs.dropna(subset=[metric])
    if df.empty:
        return pd.DataFrame(columns=[*keys, "mean", "std", "count", "low", "high"])
    if not keys:
        g = df[metric]
        one = pd.DataFrame({"mean": [g.mean()], "std": [g.std()], "count": [g.count()]})
        return with_t_interval(one, bounds=bounds)
    summary = df.groupby(keys, dropna=False)[metric].agg(["mean", "std", "count"]).reset_index()
    return with_t_interval(summary, bounds=bounds)


def best_row(df: pd.DataFrame, col: str, *, maximize: bool) -> pd.Series | None:
    """The row with the best finite `col` (the sweep's one "best" rule), or None."""
    values = pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(dtype=float)
    i = best(df.index, lambda i: values.at[i], {"goal": "maximize" if maximize else "minimize"})
    return None if i is None else df.loc[i]
