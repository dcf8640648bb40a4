"""`build_report`: tidy run/history tables + sweep config -> ReportData (numbers and sentences).

Pure: no I/O, so tests and the benchmark build reports from synthetic tables. Every number
the report states lives in ReportData and is written verbatim to report.json.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from agent.sweep_config.metric import maximize as metric_maximize
from analysis import compare as paired
from analysis import cost, stats, tidy
from analysis.data import ReportData, ReportError, Scale
from analysis.takeaways import takeaways_for

LR_HINTS = ("learning_rate", "lr")
BATCH_HINTS = ("per_device_train_batch_size", "batch_size", "train_batch_size")
SUMMARY_KEYS = {"num_parameters", "peak_gpu_memory_mb", "failure_reason", "total_flos", "gpu_share"}
FAILED_STATES = {"failed", "crashed", "killed", "pruned"}


def sweep_params(sweep_config: dict) -> list[str]:
    """Flattened names of the sweep's parameters (nested `parameters:` become dotted)."""
    out: list[str] = []

    def walk(d: dict, prefix: str) -> None:
        for k, spec in (d or {}).items():
            if isinstance(spec, dict) and "parameters" in spec:
                walk(spec["parameters"], f"{prefix}{k}.")
            else:
                out.append(f"{prefix}{k}")

    walk(sweep_config.get("parameters") or {}, "")
    return out


def default_compare(params: list[str], runs: pd.DataFrame) -> str | None:
    """The categorical parameter that names the model; else the first varied string parameter."""
    cats = [
        p
        for p in params
        if p in runs.columns and len(runs[p].dropna()) and runs[p].dropna().map(lambda v: isinstance(v, str)).all()
    ]
    for k in cats:
        if "model" in k.lower():
            return k  # even with one value: "only X was run" is the honest message
    varied = [k for k in cats if runs[k].nunique() > 1]
    return varied[0] if varied else None


def group_labels(df: pd.DataFrame, compare: str | None) -> pd.Series:
    """The compared key's values as labels; numbers get the key ("seed=1"): a bare 1 names nothing."""
    if not compare:
        return pd.Series("all", index=df.index, dtype=object)
    labels = tidy.text(df[compare])
    if not df[compare].dropna().map(lambda v: isinstance(v, str)).all():
        labels = f"{compare}=" + labels
    return labels


def _find(params: list[str], hints: tuple[str, ...]) -> str | None:
    for h in hints:
        for p in params:
            if p == h or p.split(".")[-1] == h:
                return p
    return None


def _varying(runs: pd.DataFrame, cols: list[str]) -> list[str]:
    return [c for c in cols if c in runs.columns and tidy.text(runs[c]).nunique() > 1]


def _curves(hist: pd.DataFrame, run_ids: list[str], metric: str) -> pd.DataFrame:
    h = hist[(hist["metric"] == metric) & hist["run_id"].isin(run_ids)]
    if h.empty:
        return pd.DataFrame(columns=["step", "mean", "std", "n", "low", "high"])
    g = stats.with_t_interval(h.groupby("step")["value"].agg(["mean", "std", "count"]).reset_index())
    return g.rename(columns={"count": "n"})


def _system(runs: pd.DataFrame, hist: pd.DataFrame, compare: str | None) -> pd.DataFrame:
    out = pd.DataFrame({"run_id": runs["run_id"], "model": runs["_model"]})
    out["peak_gpu_memory_mb"] = (
        pd.to_numeric(runs.get("peak_gpu_memory_mb"), errors="coerce") if "peak_gpu_memory_mb" in runs else np.nan
    )
    sys = hist[hist["metric"].str.match(r"^system\.gpu\.\d+\.gpu$")]
    util = sys.groupby("run_id")["value"].mean() if len(sys) else pd.Series(dtype=float)
    out["gpu_util"] = out["run_id"].map(util)
    return out.dropna(subset=["peak_gpu_memory_mb", "gpu_util"], how="all")


def _finite(v) -> float | None:
    v = pd.to_numeric(v, errors="coerce")
    return float(v) if v is not None and np.isfinite(v) else None


def _with_seed_counts(c: paired.PairedDifference, pairs: pd.DataFrame, seed_key: str | None) -> paired.PairedDifference:
    """Pair counts as seeds per matched config: each seed adds one pair per config matched."""
    seeds = pairs[seed_key].nunique() if seed_key and seed_key in pairs and len(pairs) else 0
    per_seed = len(pairs) / seeds if seeds else 1.0

    def seeds_for(n_pairs: int | None) -> int | None:
        return None if n_pairs is None else max(2, math.ceil(n_pairs / per_seed))

    return dataclasses.replace(
        c, seeds_needed=seeds_for(c.pairs_needed), seeds_for_sign_flip=seeds_for(c.min_pairs_sign_flip)
    )


def build_report(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    sweep_config: dict,
    compare: str | None = None,
    seed_key: str | None = "seed",
    *,
    sweep_id: str = "",
) -> ReportData:
    runs = tidy.sanitize_runs(runs)
    history = tidy.normalize_history(history) if len(history) else tidy.empty_history()
    if runs.empty:
        raise ReportError(f"sweep {sweep_id or '?'} has no runs yet; start an agent first")
    msgs: list[str] = []
    metric = (sweep_config.get("metric") or {}).get("name")
    maximize = metric_maximize(sweep_config.get("metric"))
    if not metric:
        evals = [c for c in runs.columns if c.startswith("eval/")]
        if not evals:
            raise ReportError(
                "the sweep config names no metric and runs logged no eval/* metric; "
                "add `metric: {name: ..., goal: ...}` to the sweep"
            )
        metric = "eval/accuracy" if "eval/accuracy" in evals else evals[0]
        maximize = "loss" not in metric
        msgs.append(f"The sweep names no metric; using {metric} ({'higher' if maximize else 'lower'} is better).")
    if metric not in runs.columns:
        raise ReportError(
            f"no run logged the sweep metric {metric!r}; check metric.name in the sweep config against the logged keys"
        )
    runs = runs.copy()
    runs[metric] = pd.to_numeric(runs[metric], errors="coerce")
    if compare is not None and compare not in runs.columns:
        choices = ", ".join(sorted(c for c in sweep_params(sweep_config) if c in runs.columns))
        raise ReportError(
            f"--compare {compare!r} is not a config key of these runs; choose one of: {choices or '(none)'}"
        )
    state = tidy.text(runs["state"])
    counts = {"total": int(len(runs)), **{s: int(n) for s, n in state.value_counts().items()}}
    finished = runs[state == "finished"]
    usable = finished[np.isfinite(finished[metric].to_numpy(dtype=float))]
    counts["usable"] = int(len(usable))
    if (state == "running").any():
        msgs.append(
            f"{int((state == 'running').sum())} run(s) still running are left out; "
            f"rerun the report when the sweep finishes."
        )
    if len(finished) > len(usable):
        msgs.append(
            f"{len(finished) - len(usable)} finished run(s) have a missing, NaN or infinite {metric} and are left out."
        )
    if usable.empty:
        raise ReportError(
            f"sweep {sweep_id or '?'} has no finished run with a finite {metric} "
            f"({', '.join(f'{v} {k}' for k, v in counts.items() if k != 'total')}); "
            f"nothing to report yet"
        )
    params = [p for p in sweep_params(sweep_config) if p in runs.columns] or [
        c
        for c in runs.columns
        if c not in tidy.META and c not in SUMMARY_KEYS and "/" not in c and not c.startswith(("summary:", "system."))
    ]
    compare = compare or default_compare(params, runs)
    if compare is None:
        msgs.append(
            "No categorical model parameter to compare; all runs form one group (pass --compare KEY to pick one)."
        )
    if compare and compare not in params:
        params = [*params, compare]
    if compare and compare == seed_key:
        msgs.append(f"Comparing seeds themselves: runs are not paired by {seed_key}.")
        seed_key = None
    groups = group_labels(usable, compare)
    usable = usable.assign(_model=groups)
    models = sorted(
        usable["_model"].unique(),
        key=lambda m: -usable.loc[usable._model == m, metric].mean() * (1 if maximize else -1),
    )
    if seed_key and seed_key not in runs.columns:
        msgs.append(
            f"Seed key {seed_key!r} is not in the run configs; runs are not grouped by seed (pass --seed-key KEY)."
        )
        seed_key = None
    # No seed key at all: cells pair on the other parameters alone. One seed value: no CI.
    single_seed = bool(seed_key) and usable[seed_key].nunique() < 2
    config_keys = [p for p in params if p not in {seed_key}]
    varying = _varying(usable, config_keys)
    cells = stats.seed_summary(usable, config_keys=varying or [], metric=metric)
    scale = Scale.for_values(metric, usable[metric])

    # Per model: best run, best config, what a trial costs.
    per_model = []
    for m in models:
        d = usable[usable._model == m]
        best = stats.best_row(d, metric, maximize=maximize)
        mc = cells[group_labels(cells, compare) == m] if compare and compare in cells else cells
        best_cell = stats.best_row(mc, "mean", maximize=maximize)
        per_model.append(
            {
                "model": m,
                "runs": int(len(d)),
                "best_run": {
                    "run_id": best["run_id"],
                    "name": best["name"],
                    "value": float(best[metric]),
                    "url": best.get("url"),
                    "config": {p: best[p] for p in varying if p in best},
                },
                "best_config": (
                    {k: best_cell[k] for k in varying}
                    | {
                        "mean": float(best_cell["mean"]),
                        "std": _finite(best_cell["std"]),
                        "low": _finite(best_cell["low"]),
                        "high": _finite(best_cell["high"]),
                        "seeds": int(best_cell["count"]),
                    }
                )
                if best_cell is not None
                else None,
                "mean": float(d[metric].mean()),
                "cost": cost.cost_summary(cost.with_cost(d)),
            }
        )

    # Paired comparison against the best model, over matched (other params, seed) cells.
    comparisons: list[paired.PairedDifference] = []
    if len(models) < 2:
        msgs.append("Only one model in the runs: there is nothing to compare.")
    elif single_seed:
        seeds = usable[seed_key].dropna().unique()
        msgs.append(
            f"Only one seed ({seed_key}={seeds[0] if len(seeds) else 'missing'}): no confidence "
            f"interval for the model difference; rerun with several seeds."
        )
    match = [k for k in varying if k != compare] + ([seed_key] if seed_key else [])
    for m in models[1:]:
        pairs = stats.matched_pairs(
            usable.assign(**{compare: usable._model}),
            compare=compare,
            a=m,
            b=models[0],
            metric=metric,
            match_keys=match,
        )
        if single_seed:
            diff = float(pairs["diff"].mean()) if len(pairs) else float("nan")
            comparisons.append(
                paired.PairedDifference(m, models[0], diff, None, None, len(pairs), 0.95, False, None, "a single seed")
            )
        else:
            c = paired.paired_difference(pairs["diff"], a=m, b=models[0], maximize=maximize)
            comparisons.append(_with_seed_counts(c, pairs, seed_key))

    lr, bs = _find(varying, LR_HINTS), _find(varying, BATCH_HINTS)
    heatmaps = {}
    if lr and bs:
        for m in models:
            d = usable[usable._model == m]
            heatmaps[m] = d.pivot_table(index=bs, columns=lr, values=metric, aggfunc="mean")
    else:
        msgs.append("No learning-rate x batch-size grid among the varied parameters: heatmaps skipped.")

    curves = {}
    for pm in per_model:
        bc = pm["best_config"] or {}
        d = usable[usable._model == pm["model"]]
        for k in varying:
            if k in bc:
                d = d[tidy.text(d[k]) == str(bc[k])]
        curves[pm["model"]] = _curves(history, d["run_id"].tolist(), metric)
    if all(c.empty for c in curves.values()):
        msgs.append(f"No {metric} history was logged: learning curves skipped.")

    scores = {m: usable.loc[usable._model == m, metric] for m in models}
    common = min((int(v.notna().sum()) for v in scores.values()), default=0)  # the budget every model reaches
    evp = {m: stats.expected_max_curve(v, maximize=maximize, also=(common,)) for m, v in scores.items()}
    costed = cost.with_cost(usable)
    evp_time = {
        m: cost.expected_best_by_budget(
            costed.loc[costed._model == m, metric], costed.loc[costed._model == m, "cost_hours"], maximize=maximize
        )
        for m in models
    }
    cell_keys = varying or ([compare] if compare else [])
    config_costs = cost.config_costs(
        usable,
        cells if varying else stats.seed_summary(usable, config_keys=cell_keys, metric=metric),
        cell_keys,
        maximize=maximize,
    )
    if compare and compare in config_costs:
        labels = group_labels(config_costs, compare).to_numpy()
        config_costs = config_costs.drop(columns=compare)
        config_costs.insert(0, "model", labels)
    method = str(sweep_config.get("method", "random"))
    caveats = []
    if method != "random":
        caveats.append(
            f"This is a {method} sweep: trials are not i.i.d. draws, so the expected-"
            f"validation-performance curves (which assume random search) are indicative only."
        )
    imp = stats.importance_table(usable, params=list(varying), metric=metric)
    fail = runs[state.isin(FAILED_STATES)]
    failures = fail[["run_id", "name", "state", "reason"] + ([compare] if compare else [])].copy()
    failures["reason"] = failures["reason"].fillna("(no reason recorded)")
    leader = usable.sort_values(metric, ascending=not maximize).head(10)
    lcols = ["run_id", "name", "url", *varying, seed_key, metric]
    leaderboard = leader[[c for c in dict.fromkeys(lcols) if c and c in leader]].reset_index(drop=True)

    data = ReportData(
        config=sweep_config,
        sweep_id=sweep_id,
        metric=metric,
        maximize=maximize,
        method=method,
        compare=compare,
        seed_key=seed_key,
        params=varying,
        models=models,
        counts=counts,
        messages=msgs,
        usable=usable.drop(columns="_model"),
        leaderboard=leaderboard,
        per_model=per_model,
        cells=cells,
        comparisons=comparisons,
        heatmaps=heatmaps,
        heatmap_axes=(lr, bs) if heatmaps else None,
        curves=curves,
        evp=evp,
        evp_time=evp_time,
        hours_unit=cost.hours_unit(usable),
        config_costs=config_costs,
        importance=imp,
        failures=failures.reset_index(drop=True),
        system=_system(usable, history, compare),
        scale=scale,
        caveats=caveats,
    )
    data.takeaways = takeaways_for(data)
    return data


__all__ = ["ReportData", "ReportError", "build_report", "default_compare"]
