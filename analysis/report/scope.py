"""What a report is about, the first two stages of `build_report`: which runs count, by which metric
(`read_tables`), and in which groups, paired on which keys (`choose_groups`).

Pure. Errors a user can act on are one-line `ReportError`s; everything left out is said in a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from agent.lineage import superseded
from agent.states import RunState, count_states
from agent.sweep_config.metric import NO_WANDB_RUN, Bounds, closest_logged, metric_bounds
from agent.sweep_config.metric import maximize as metric_maximize
from analysis.report.data import ReportError
from analysis.stats.cells import seed_summary
from analysis.stats.intervals import observed_bounds
from analysis.tables import tidy
from analysis.tables.sweep import default_compare, group_labels, sweep_params, varying

# Run columns that are neither parameters nor metrics (when the sweep config names no parameters).
SUMMARY_KEYS = {"peak_gpu_memory_mb", "failure_reason", "total_flos", "gpu_share"} | {
    n for names in tidy.MEASURES.values() for n in names
}
GROUP = "_model"  # the column of Groups.usable that holds each run's group label


@dataclass
class Tables:
    """The runs as the report reads them: every run, and the usable ones by the report's metric."""

    runs: pd.DataFrame  # every run, secrets removed, the metric as numbers
    history: pd.DataFrame
    state: pd.Series  # each run's state, as text
    usable: pd.DataFrame  # finished runs with a finite metric, one per point (`one_run_per_point`)
    metric: str
    maximize: bool
    counts: dict[str, int]  # runs per state, "total" and "usable"; "re-runs" and "prior runs" when any
    messages: list[str]
    bounds: Bounds  # what the metric can be (its name's bounds, where its values keep to them)


@dataclass
class Groups:
    """The usable runs in groups (GROUP: the compared key's label) and the keys they are paired on."""

    usable: pd.DataFrame  # Tables.usable with its GROUP column
    compare: str | None  # the compared key (None: all runs form one group)
    seed_key: str | None  # None: runs are not paired by seed
    params: list[str]  # the sweep's parameters present in the runs, the compared key included
    varying: list[str]  # those that vary among the usable runs (the seed key excluded)
    models: list[str]  # the groups, the best mean first
    single_seed: bool  # one seed value only: no confidence interval for any difference
    cells: pd.DataFrame  # per config (the varied keys): mean, std, count and t-interval over seeds
    messages: list[str]


def guess_maximize(metric: str) -> bool:
    """What a metric's name says of its goal where nobody said: a loss is lower-better, the rest higher."""
    return "loss" not in metric.lower()


def resolve_metric(runs: pd.DataFrame, sweep_config: Mapping[str, Any]) -> tuple[str, bool, list[str]]:
    """(metric, maximize, messages): the sweep's metric, or a logged eval/* one when it names none."""
    metric = (sweep_config.get("metric") or {}).get("name")
    maximize = metric_maximize(sweep_config.get("metric"))
    msgs = []
    if not metric:
        evals = [c for c in runs.columns if c.startswith("eval/")]
        if not evals:
            raise ReportError(
                "the sweep config names no metric and runs logged no eval/* metric; "
                "add `metric: {name: ..., goal: ...}` to the sweep"
            )
        metric = "eval/accuracy" if "eval/accuracy" in evals else evals[0]
        maximize = guess_maximize(metric)
        msgs.append(f"The sweep names no metric; using {metric} ({'higher' if maximize else 'lower'} is better).")
    if metric not in runs.columns:
        raise ReportError(f"no run logged {metric!r}; {_logged_instead(runs, str(metric))}")
    return str(metric), maximize, msgs


def _logged_instead(runs: pd.DataFrame, metric: str) -> str:
    """What the runs logged instead of `metric`, and the fix: the nearest keys, or why there are none."""
    reasons = tidy.text(runs["reason"]) if "reason" in runs else pd.Series(dtype=object)
    if len(reasons) and reasons.str.contains(NO_WANDB_RUN, regex=False).any():
        return NO_WANDB_RUN
    numeric = [c for c in runs.columns if c not in tidy.META and pd.to_numeric(runs[c], errors="coerce").notna().any()]
    near = closest_logged(metric, numeric)
    if near:
        return f"did you mean {' or '.join(near)}? (pass --metric {near[0]}, or fix metric.name in the sweep config)"
    return f"they logged {', '.join(sorted(numeric)[:8]) or 'nothing numeric'} (pass --metric NAME)"


def check_compare(runs: pd.DataFrame, sweep_config: Mapping[str, Any], compare: str | None) -> None:
    """A `--compare` key the runs do not have is a one-line error naming the keys they do."""
    if compare is not None and compare not in runs.columns:
        choices = ", ".join(sorted(c for c in sweep_params(sweep_config) if c in runs.columns))
        raise ReportError(
            f"--compare {compare!r} is not a config key of these runs; choose one of: {choices or '(none)'}"
        )


def usable_runs(
    runs: pd.DataFrame, state: pd.Series, metric: str, sweep_id: str
) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """(usable, counts, messages): the finished runs with a finite metric, and why others are left out."""
    by_state = count_states(state)
    counts = {"total": int(len(runs)), **{s.value: by_state[s] for s in RunState if by_state[s]}}
    finished = runs[state == RunState.FINISHED.value]
    usable = finished[np.isfinite(finished[metric].to_numpy(dtype=float))]
    counts["usable"] = int(len(usable))
    msgs = []
    running = state == RunState.RUNNING.value
    if running.any():
        msgs.append(
            f"{int(running.sum())} run(s) still running are left out; rerun the report when the sweep finishes."
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
    return usable, counts, msgs


def is_prior(df: pd.DataFrame) -> pd.Series:
    """Which rows are a warm start's prior runs (runs of an earlier sweep)."""
    if "prior" not in df:
        return pd.Series(False, index=df.index)
    return df["prior"].map(lambda v: isinstance(v, str) and bool(v)).astype(bool)


def _reruns(runs: pd.DataFrame, usable: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """The usable runs less those a later usable run of the same point replaces (`agent.lineage`)."""
    if "rerun_of" not in runs:
        return usable, {}, []
    links = {str(r): str(o) for r, o in zip(runs["run_id"], runs["rerun_of"], strict=True) if isinstance(o, str) and o}
    if not links:
        return usable, {}, []
    gone = superseded(links, usable["run_id"].astype(str))
    points = len(set(links.values()) - set(links))  # the first runs of the points run again
    msg = (
        f"{points} point(s) were run again ({len(links)} re-run(s) in all: `sweepkit rerun`, or a lost run "
        "requeued); each point counts once, with its latest finished run"
        + (f" ({len(gone)} earlier finished run(s) left out)." if gone else ".")
    )
    return usable[~usable["run_id"].astype(str).isin(gone)], {"re-runs": len(links)}, [msg]


def _prior_runs(
    runs: pd.DataFrame, usable: pd.DataFrame, params: list[str]
) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """The usable runs less the prior runs whose point this sweep ran itself (its own run counts)."""
    prior = is_prior(usable)
    if not is_prior(runs).any():
        return usable, {}, []
    keys = [p for p in params if p in usable]
    dup = pd.Series(False, index=usable.index)
    if keys:
        point = pd.Series(list(zip(*(tidy.text(usable[k]) for k in keys), strict=True)), index=usable.index)
        dup = prior & point.isin(set(point[~prior]))
    sweeps = ", ".join(sorted({str(v) for v in runs.loc[is_prior(runs), "prior"]}))
    msg = (
        f"{int(prior.sum())} prior run(s) of sweep(s) {sweeps} (a warm start) are marked prior in the leaderboard "
        "and count in the comparisons, but not in expected validation performance, which counts this "
        "sweep's own trials"
        + (f"; {int(dup.sum())} of them left out: this sweep ran their point itself." if dup.any() else ".")
    )
    return usable[~dup], {"prior runs": int(is_prior(runs).sum())}, [msg]


def one_run_per_point(
    runs: pd.DataFrame, usable: pd.DataFrame, sweep_config: Mapping[str, Any]
) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """(usable, counts, messages): each point once, with its latest usable run; a warm start's prior
    run only where this sweep has no usable run of that point."""
    usable, counts, msgs = _reruns(runs, usable)
    usable, more, said = _prior_runs(runs, usable, report_params(runs, sweep_config))
    return usable, {**counts, **more}, msgs + said


def read_tables(
    runs: pd.DataFrame, history: pd.DataFrame, sweep_config: Mapping[str, Any], *, compare: str | None, sweep_id: str
) -> Tables:
    """Stage 1, tables: the runs with secrets removed, the metric resolved, the usable runs picked."""
    runs = tidy.with_measures(tidy.sanitize_runs(runs))
    history = tidy.normalize_history(history) if len(history) else tidy.empty_history()
    if runs.empty:
        raise ReportError(f"sweep {sweep_id or '?'} has no runs yet; start an agent first")
    metric, maximize, msgs = resolve_metric(runs, sweep_config)
    runs = runs.copy()
    runs[metric] = pd.to_numeric(runs[metric], errors="coerce")
    check_compare(runs, sweep_config, compare)
    state = tidy.text(runs["state"])
    usable, counts, left_out = usable_runs(runs, state, metric, sweep_id)
    usable, more, once = one_run_per_point(runs, usable, sweep_config)
    counts = {**counts, "usable": int(len(usable)), **more}
    bounds = observed_bounds(metric_bounds(metric), usable[metric])
    return Tables(runs, history, state, usable, metric, maximize, counts, msgs + left_out + once, bounds)


def report_params(runs: pd.DataFrame, sweep_config: Mapping[str, Any]) -> list[str]:
    """The sweep's parameters present in the runs; else every column that is neither metadata nor a metric."""
    return [p for p in sweep_params(sweep_config) if p in runs.columns] or [
        c
        for c in runs.columns
        if c not in tidy.META and c not in SUMMARY_KEYS and "/" not in c and not c.startswith(("summary:", "system."))
    ]


def choose_groups(t: Tables, sweep_config: Mapping[str, Any], *, compare: str | None, seed_key: str | None) -> Groups:
    """Stage 2, groups: the compared key and its groups (best mean first), the seed key, the varied keys."""
    msgs = []
    params = report_params(t.runs, sweep_config)
    compare = compare or default_compare(params, t.runs)
    if compare is None:
        msgs.append(
            "No categorical model parameter to compare; all runs form one group (pass --compare KEY to pick one)."
        )
    if compare and compare not in params:
        params = [*params, compare]
    if compare and compare == seed_key:
        msgs.append(f"Comparing seeds themselves: runs are not paired by {seed_key}.")
        seed_key = None
    usable = t.usable.assign(**{GROUP: group_labels(t.usable, compare)})
    sign = 1 if t.maximize else -1
    models = sorted(usable[GROUP].unique(), key=lambda m: -usable.loc[usable[GROUP] == m, t.metric].mean() * sign)
    if seed_key and seed_key not in t.runs.columns:
        msgs.append(
            f"Seed key {seed_key!r} is not in the run configs; runs are not grouped by seed (pass --seed-key KEY)."
        )
        seed_key = None
    # No seed key at all: cells pair on the other parameters alone. One seed value: no CI.
    single_seed = bool(seed_key) and usable[seed_key].nunique() < 2
    varied = varying(usable, [p for p in params if p != seed_key])
    cells = seed_summary(usable, config_keys=varied, metric=t.metric, bounds=t.bounds)
    return Groups(usable, compare, seed_key, params, varied, list(models), single_seed, cells, msgs)
