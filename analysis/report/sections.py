"""The report's sections, one stage each, all from the grouped runs (`scope.Groups`): per-model summaries,
paired comparisons, the learning-rate x batch-size grid, learning curves, expected validation performance,
costs, failures, the leaderboard and system metrics.

Pure. A stage that skips something returns the message that says so.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from agent.states import RunState
from agent.sweep_config.metric import Bounds
from analysis.report.scope import GROUP, Groups, Tables, is_prior
from analysis.stats import cost
from analysis.stats.cells import best_row, matched_pairs, seed_summary, with_t_interval
from analysis.stats.compare import PairedDifference, paired_difference, t_half_width
from analysis.stats.evp import expected_max_curve
from analysis.stats.intervals import BAND_MIN_SEEDS, bounded_interval
from analysis.tables import tidy
from analysis.tables.sweep import group_labels

LR_HINTS = ("learning_rate", "lr")
BATCH_HINTS = ("per_device_train_batch_size", "batch_size", "train_batch_size")
FAILED_STATES = {s.value for s in RunState if s.terminal and s is not RunState.FINISHED}  # every run not finished
CONFIDENCE = 0.95


def _finite(v: Any) -> float | None:
    v = pd.to_numeric(v, errors="coerce")
    return float(v) if v is not None and np.isfinite(v) else None


def _group(g: Groups, model: str) -> pd.DataFrame:
    return g.usable[g.usable[GROUP] == model]


def model_summary(t: Tables, g: Groups, model: str) -> dict[str, Any]:
    """One group: its runs, its best run, its best config (mean and t-interval over seeds) and its costs."""
    d = _group(g, model)
    best = best_row(d, t.metric, maximize=t.maximize)
    assert best is not None  # every usable run has a finite metric
    mine = g.cells[group_labels(g.cells, g.compare) == model] if g.compare and g.compare in g.cells else g.cells
    cell = best_row(mine, "mean", maximize=t.maximize)
    best_config = None
    if cell is not None:
        best_config = {k: cell[k] for k in g.varying} | {
            "mean": float(cell["mean"]),
            "std": _finite(cell["std"]),
            "low": _finite(cell["low"]),
            "high": _finite(cell["high"]),
            "seeds": int(cell["count"]),
        }
    return {
        "model": model,
        "runs": int(len(d)),
        "best_run": {
            "run_id": best["run_id"],
            "name": best["name"],
            "value": float(best[t.metric]),
            "url": best.get("url"),
            "config": {p: best[p] for p in g.varying if p in best},
        },
        "best_config": best_config,
        "mean": float(d[t.metric].mean()),
        "cost": cost.cost_summary(cost.with_cost(d)),
    }


def with_seed_counts(c: PairedDifference, pairs: pd.DataFrame, seed_key: str | None) -> PairedDifference:
    """Pair counts as seeds per matched config: each seed adds one pair per config matched."""
    seeds = pairs[seed_key].nunique() if seed_key and seed_key in pairs and len(pairs) else 0
    per_seed = len(pairs) / seeds if seeds else 1.0

    def seeds_for(n_pairs: int | None) -> int | None:
        return None if n_pairs is None else max(2, math.ceil(n_pairs / per_seed))

    return dataclasses.replace(
        c, seeds_needed=seeds_for(c.pairs_needed), seeds_for_sign_flip=seeds_for(c.min_pairs_sign_flip)
    )


def compare_models(t: Tables, g: Groups) -> tuple[list[PairedDifference], list[str]]:
    """Each group against the best one, paired over matched (other varied keys, seed) cells."""
    if len(g.models) < 2 or g.compare is None:
        return [], ["Only one model in the runs: there is nothing to compare."]
    msgs = []
    if g.single_seed:
        seeds = g.usable[g.seed_key].dropna().unique()
        msgs.append(
            f"Only one seed ({g.seed_key}={seeds[0] if len(seeds) else 'missing'}): no confidence "
            f"interval for the model difference; rerun with several seeds."
        )
    match = _match_keys(g)
    labelled = g.usable.assign(**{g.compare: g.usable[GROUP]})
    out = []
    for m in g.models[1:]:
        pairs = matched_pairs(labelled, compare=g.compare, a=m, b=g.models[0], metric=t.metric, match_keys=match)
        if g.single_seed:
            diff = float(pairs["diff"].mean()) if len(pairs) else float("nan")
            out.append(
                PairedDifference(m, g.models[0], diff, None, None, len(pairs), CONFIDENCE, False, None, "a single seed")
            )
        else:
            c = paired_difference(pairs["diff"], a=m, b=g.models[0], maximize=t.maximize)
            out.append(with_seed_counts(c, pairs, g.seed_key))
    return out, msgs


def _match_keys(g: Groups) -> list[str]:
    """The keys a (config, seed) cell is matched on: the other varied keys and the seed."""
    return [k for k in g.varying if k != g.compare] + ([g.seed_key] if g.seed_key else [])


def run_points(t: Tables, g: Groups) -> pd.DataFrame:
    """Every usable run as a point the figures draw: its group, seed, config label, value and cost,
    and whether its (config, seed) cell is one that every group ran (`shared`)."""
    u = cost.with_cost(g.usable)
    keys = [k for k in g.varying if k != g.compare]
    config = tidy.text(u[keys[0]]).radd(f"{keys[0]}=") if keys else pd.Series("", index=u.index)
    for k in keys[1:]:
        config = config + f", {k}=" + tidy.text(u[k])
    match = _match_keys(g)
    keyed = u.assign(**{k: tidy.text(u[k]) for k in match})
    cell = keyed.groupby(match, dropna=False).ngroup() if match else pd.Series(0, index=u.index)
    per_group = [set(cell[u[GROUP] == m]) for m in g.models]
    shared = set.intersection(*per_group) if per_group else set()
    in_shared = cell.isin(shared) if shared else pd.Series(True, index=u.index)  # no common cell: every run
    seed = u[g.seed_key] if g.seed_key else pd.Series(np.nan, index=u.index)
    return pd.DataFrame(
        {
            "run_id": u["run_id"].to_numpy(),
            "name": u["name"].to_numpy(),
            "model": u[GROUP].to_numpy(),
            "seed": seed.to_numpy(),
            "config": config.to_numpy(),
            "cell": cell.to_numpy(),
            "value": u[t.metric].to_numpy(dtype=float),
            "hours": u["cost_hours"].to_numpy(dtype=float),
            "shared": in_shared.to_numpy(),
        }
    )


def model_means(t: Tables, g: Groups, points: pd.DataFrame) -> pd.DataFrame:
    """Per group: its mean over the (config, seed) cells every group ran, the quantity whose differences
    the paired comparisons state, with a 95% interval over seeds (the replicate; runs without a seed key)
    that stays within the metric's bounds. Columns: model, mean, low, high, n, unit, cells, over (which
    cells: those every group ran, or all its runs where the groups share none)."""
    rows = []
    unit = "seeds" if g.seed_key else "runs"
    over = "the cells every model ran" if not points["shared"].all() or _all_share(points) else "all its runs"
    for m in g.models:
        p = points[(points["model"] == m) & points["shared"]]
        cells = p.groupby("cell")["value"].mean()  # repeats of one cell count once
        seeds = p.groupby("seed")["value"].mean() if g.seed_key else p["value"]
        mean = float(cells.mean()) if len(cells) else float("nan")
        n = int(seeds.notna().sum())
        half = t_half_width(float(seeds.std(ddof=1)) if n > 1 else np.nan, n)
        low, high = bounded_interval(mean, half, t.bounds)
        rows.append((m, mean, _finite(low), _finite(high), n, unit, int(len(cells)), over))
    return pd.DataFrame(rows, columns=["model", "mean", "low", "high", "n", "unit", "cells", "over"])


def _all_share(points: pd.DataFrame) -> bool:
    """Whether every group ran the same cells (then all runs are the shared ones)."""
    cells = [set(p["cell"]) for _, p in points.groupby("model")]
    return all(c == cells[0] for c in cells)


def _find(params: list[str], hints: tuple[str, ...]) -> str | None:
    for h in hints:
        for p in params:
            if p == h or p.split(".")[-1] == h:
                return p
    return None


def heatmap_grid(t: Tables, g: Groups) -> tuple[dict[str, pd.DataFrame], tuple[str, str] | None, list[str]]:
    """(per group: the metric's mean over seeds on batch size x learning rate, (lr, batch) keys, messages)."""
    lr, bs = _find(g.varying, LR_HINTS), _find(g.varying, BATCH_HINTS)
    if not (lr and bs):
        return {}, None, ["No learning-rate x batch-size grid among the varied parameters: heatmaps skipped."]
    maps = {m: _group(g, m).pivot_table(index=bs, columns=lr, values=t.metric, aggfunc="mean") for m in g.models}
    return maps, ((lr, bs) if maps else None), []


def _curve(history: pd.DataFrame, run_ids: list[str], metric: str, bounds: Bounds) -> pd.DataFrame:
    """Mean, interval and n over seeds per step; `band`: whether n is enough to draw the interval."""
    h = history[(history["metric"] == metric) & history["run_id"].isin(run_ids)]
    if h.empty:
        return pd.DataFrame(columns=["step", "mean", "std", "n", "low", "high", "band"])
    g = with_t_interval(h.groupby("step")["value"].agg(["mean", "std", "count"]).reset_index(), bounds=bounds)
    return g.rename(columns={"count": "n"}).assign(band=lambda c: c["n"] >= BAND_MIN_SEEDS)


def _seed_curves(history: pd.DataFrame, runs: pd.DataFrame, metric: str, seed_key: str | None) -> pd.DataFrame:
    """Each run's own curve (run_id, seed, step, value): what a figure shows when seeds are too few for a band."""
    h = history[(history["metric"] == metric) & history["run_id"].isin(runs["run_id"])]
    seeds = runs.set_index("run_id")[seed_key] if seed_key else pd.Series(np.nan, index=runs["run_id"])
    out = h[["run_id", "step", "value"]].assign(seed=h["run_id"].map(seeds))
    return out[["run_id", "seed", "step", "value"]].sort_values(["run_id", "step"], ignore_index=True)


def learning_curves(
    t: Tables, g: Groups, per_model: list[dict[str, Any]]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], list[str]]:
    """Per group: its best config's metric by step, mean and t-interval over seeds, and each seed's curve."""
    curves, seeds = {}, {}
    for pm in per_model:
        bc = pm["best_config"] or {}
        d = _group(g, pm["model"])
        for k in g.varying:
            if k in bc:
                d = d[tidy.text(d[k]) == str(bc[k])]
        curves[pm["model"]] = _curve(t.history, d["run_id"].tolist(), t.metric, t.bounds)
        seeds[pm["model"]] = _seed_curves(t.history, d, t.metric, g.seed_key)
    if all(c.empty for c in curves.values()):
        return curves, seeds, [f"No {t.metric} history was logged: learning curves skipped."]
    return curves, seeds, []


def expected_performance(t: Tables, g: Groups) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Per group: expected best score against trials (every group's curve includes the budget all reach)
    and against a budget of hours. This sweep's own trials only: a warm start's prior runs were drawn
    by another search."""
    own = g.usable[~is_prior(g.usable)]
    scores = {m: own.loc[own[GROUP] == m, t.metric] for m in g.models}
    common = min((int(v.notna().sum()) for v in scores.values()), default=0)  # the budget every model reaches
    evp = {m: expected_max_curve(v, maximize=t.maximize, also=(common,)) for m, v in scores.items()}
    costed = cost.with_cost(own)
    evp_time = {
        m: cost.expected_best_by_budget(
            costed.loc[costed[GROUP] == m, t.metric], costed.loc[costed[GROUP] == m, "cost_hours"], maximize=t.maximize
        )
        for m in g.models
    }
    return evp, evp_time


def cost_table(t: Tables, g: Groups) -> pd.DataFrame:
    """Per config: its metric mean and interval beside its costs, and whether it is on the Pareto front."""
    keys = g.varying or ([g.compare] if g.compare else [])
    cells = g.cells if g.varying else seed_summary(g.usable, config_keys=keys, metric=t.metric, bounds=t.bounds)
    out = cost.config_costs(g.usable, cells, keys, maximize=t.maximize)
    if g.compare and g.compare in out:
        labels = group_labels(out, g.compare).to_numpy()
        out = out.drop(columns=g.compare)
        out.insert(0, "model", labels)
    return out


def caveats(method: str) -> list[str]:
    """What the reader must keep in mind about this kind of sweep."""
    if method == "random":
        return []
    return [
        f"This is a {method} sweep: trials are not i.i.d. draws, so the expected-"
        f"validation-performance curves (which assume random search) are indicative only."
    ]


def failures_table(t: Tables, compare: str | None) -> pd.DataFrame:
    """Runs that ended without finishing (failed, crashed, killed, pruned, preempted), each with its reason."""
    fail = t.runs[t.state.isin(FAILED_STATES)]
    again = ["rerun_by"] if "rerun_by" in fail and fail["rerun_by"].notna().any() else []
    failures = fail[["run_id", "name", "state", "reason"] + ([compare] if compare else []) + again].copy()
    failures["reason"] = failures["reason"].fillna("(no reason recorded)")
    if again:
        failures = failures.rename(columns={"rerun_by": "re-run as"}).fillna({"re-run as": ""})
    return failures.reset_index(drop=True)


def leaderboard(t: Tables, g: Groups, size: int = 10) -> pd.DataFrame:
    """The best `size` runs: their names, varied keys, seed and metric."""
    top = g.usable.sort_values(t.metric, ascending=not t.maximize).head(size)
    marked = is_prior(g.usable).any()
    cols = ["run_id", "name", "url", *g.varying, g.seed_key, t.metric, *(["prior"] if marked else [])]
    board = top[[c for c in dict.fromkeys(cols) if c and c in top]].reset_index(drop=True)
    if marked:  # a warm start's run names the sweep it ran in; this sweep's own runs show nothing
        board["prior"] = board["prior"].map(lambda v: f"prior ({v})" if isinstance(v, str) and v else "")
    return board


def system_table(t: Tables, g: Groups) -> pd.DataFrame:
    """Per run: its peak GPU memory and mean GPU utilisation (rows with neither are dropped)."""
    runs = g.usable
    out = pd.DataFrame({"run_id": runs["run_id"], "model": runs[GROUP]})
    out["peak_gpu_memory_mb"] = (
        pd.to_numeric(runs["peak_gpu_memory_mb"], errors="coerce") if "peak_gpu_memory_mb" in runs else np.nan
    )
    gpu = t.history[t.history["metric"].str.match(r"^system\.gpu\.\d+\.gpu$")]
    util = gpu.groupby("run_id")["value"].mean() if len(gpu) else pd.Series(dtype=float)
    out["gpu_util"] = out["run_id"].map(util)
    return out.dropna(subset=["peak_gpu_memory_mb", "gpu_util"], how="all")
