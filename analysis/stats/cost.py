"""What a trial costs, and the metric set against it: per-run cost, the Pareto front, EVP by time.

Cost of one trial:
- wall time: the run's own wall-clock seconds (`runtime_s`), set-up and evaluation included;
- GPU-hours: wall time x the run's share of its GPU (`gpu_share` = 1 / agents on that GPU, which
  the trial records). On a CPU-only machine there is no GPU share and the budget is wall hours;
- training throughput (samples/s, the Trainer's own), parameters and peak GPU memory.

Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analysis.stats.evp import OUTCOME_RANGE

THROUGHPUT = "train/train_samples_per_second"
# name in report.json -> (column, label, lower is better)
COSTS = {
    "hours": ("cost_hours", "GPU-hours per trial", True),
    "wall_s": ("wall_s", "wall time per trial (s)", True),
    "throughput": (THROUGHPUT, "training samples/s", False),
    "num_parameters": ("num_parameters", "parameters", True),
    "peak_gpu_memory_mb": ("peak_gpu_memory_mb", "peak GPU memory (MB)", True),
}
N_ORDERINGS = 2000
N_BUDGETS = 40


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(np.nan, index=df.index, dtype=float)


def hours_unit(runs: pd.DataFrame) -> str:
    """GPU-hours when every run recorded its GPU share, else wall hours (a CPU-only sweep)."""
    share = _num(runs, "gpu_share")
    return "GPU-hours" if len(share) and share.notna().all() else "wall hours"


def with_cost(runs: pd.DataFrame) -> pd.DataFrame:
    """runs plus wall_s and cost_hours (GPU-hours, or wall hours where no run used a GPU)."""
    out = runs.copy()
    out["wall_s"] = _num(out, "runtime_s")
    share = _num(out, "gpu_share")
    share = share if hours_unit(out) == "GPU-hours" else pd.Series(1.0, index=out.index)
    out["cost_hours"] = out["wall_s"] * share / 3600.0
    return out


def cost_summary(runs: pd.DataFrame) -> dict[str, float | None]:
    """Each cost's mean over these runs (median for parameters: one model, one count)."""
    out: dict[str, float | None] = {}
    for name, (col, _, _) in COSTS.items():
        v = _num(runs, col).dropna()
        agg = v.median() if name == "num_parameters" else v.mean()
        out[name] = float(agg) if len(v) and np.isfinite(agg) else None
    return out


def pareto_mask(metric: ArrayLike, cost: ArrayLike, *, maximize: bool) -> np.ndarray:
    """True where no other point is at least as good on both and strictly better on one."""
    m = np.asarray(metric, dtype=float) * (1 if maximize else -1)
    c = np.asarray(cost, dtype=float)
    ok = np.isfinite(m) & np.isfinite(c)
    out = np.zeros(m.size, dtype=bool)
    for i in np.flatnonzero(ok):
        better_eq = ok & (m >= m[i]) & (c <= c[i])
        strictly = (m > m[i]) | (c < c[i])
        out[i] = not np.any(better_eq & strictly)
    return out


def config_costs(runs: pd.DataFrame, cells: pd.DataFrame, keys: Sequence[str], *, maximize: bool) -> pd.DataFrame:
    """Per config (the `cells` rows): its mean costs beside its metric mean, and `pareto` on hours."""
    keys = [k for k in keys if k in runs.columns and k in cells.columns]
    costed = with_cost(runs)
    cols = {name: col for name, (col, _, _) in COSTS.items() if col in costed}
    if keys:
        text = costed.assign(**{k: costed[k].astype(str) for k in keys})
        numeric = text.assign(**{c: pd.to_numeric(text[c], errors="coerce") for c in cols.values()})
        agg = numeric.groupby(keys, dropna=False)[list(cols.values())].mean().reset_index()
        left = cells.assign(**{k: cells[k].astype(str) for k in keys})
        out = left.merge(agg, on=keys, how="left")
        for k in keys:  # back to the cells' own values (numbers stay numbers)
            out[k] = cells[k].to_numpy()
    else:
        out = cells.copy()
        for col in cols.values():
            out[col] = float(pd.to_numeric(costed[col], errors="coerce").mean())
    out = out.rename(columns={col: name for name, col in cols.items()})
    if "num_parameters" in out:  # a count, not a measurement: no "5.356e+05"
        out["num_parameters"] = pd.to_numeric(out["num_parameters"], errors="coerce").round().astype("Int64")
    hours = out["hours"].to_numpy(dtype=float) if "hours" in out else np.full(len(out), np.nan)
    out["pareto"] = pareto_mask(out["mean"].to_numpy(dtype=float), hours, maximize=maximize)
    return out


def expected_best_by_budget(
    values: ArrayLike,
    hours: ArrayLike,
    *,
    maximize: bool,
    budgets: ArrayLike | None = None,
    n_orderings: int = N_ORDERINGS,
    seed: int = 0,
) -> pd.DataFrame:
    """The best metric among the trials that finish within a budget of hours, run in random order.

    Dodge et al. 2019's expected validation performance against a budget of time: the trials are
    taken as i.i.d. draws, run one after another in a random order (n_orderings permutations,
    seeded), and after a budget B the best of those whose cumulative cost is <= B counts.
    Columns: budget, mean, low, high (the central 90% of outcomes, as the per-trial bands) and
    `share`, the fraction of orderings that finished at least one trial within B (mean/low/high
    are over those). Budgets default to N_BUDGETS log-spaced points from the cheapest trial to all.
    """
    v = np.asarray(values, dtype=float)
    h = np.asarray(hours, dtype=float)
    ok = np.isfinite(v) & np.isfinite(h) & (h > 0)
    v, h = v[ok] * (1 if maximize else -1), h[ok]
    cols = ["budget", "mean", "low", "high", "share"]
    if v.size == 0:
        return pd.DataFrame(columns=cols)
    grid = np.unique(np.geomspace(h.min(), h.sum(), N_BUDGETS)) if budgets is None else np.asarray(budgets, float)
    rng = np.random.default_rng(seed)
    best = np.full((n_orderings, grid.size), np.nan)
    for r in range(n_orderings):
        order = rng.permutation(v.size)
        cum, run_best = np.cumsum(h[order]), np.maximum.accumulate(v[order])
        done = np.searchsorted(cum, grid * (1 + 1e-12), side="right")  # trials finished by each budget
        has = done > 0
        best[r, has] = run_best[done[has] - 1]
    share = np.mean(np.isfinite(best), axis=0)
    rows = []
    sign = 1 if maximize else -1
    for j, b in enumerate(grid):
        col = best[:, j][np.isfinite(best[:, j])]
        if col.size == 0:
            rows.append((b, np.nan, np.nan, np.nan, 0.0))
            continue
        lo, hi = np.quantile(col, OUTCOME_RANGE)
        lo, hi = sorted((sign * lo, sign * hi))
        rows.append((b, sign * float(col.mean()), lo, hi, float(share[j])))
    return pd.DataFrame(rows, columns=cols)
