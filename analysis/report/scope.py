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

from agent.states import RunState, count_states
from agent.sweep_config.metric import maximize as metric_maximize
from analysis.report.data import ReportError
from analysis.stats.cells import seed_summary
from analysis.tables import tidy
from analysis.tables.sweep import default_compare, group_labels, sweep_params, varying

# Run columns that are neither parameters nor metrics (when the sweep config names no parameters).
SUMMARY_KEYS = {"num_parameters", "peak_gpu_memory_mb", "failure_reason", "total_flos", "gpu_share"}
GROUP = "_model"  # the column of Groups.usable that holds each run's group label


@dataclass
class Tables:
    """The runs as the report reads them: every run, and the usable ones by the report's metric."""

    runs: pd.DataFrame  # every run, secrets removed, the metric as numbers
    history: pd.DataFrame
    state: pd.Series  # each run's state, as text
    usable: pd.DataFrame  # finished runs with a finite metric
    metric: str
    maximize: bool
    counts: dict[str, int]  # runs per state, "total" and "usable"
    messages: list[str]


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
        maximize = "loss" not in metric
        msgs.append(f"The sweep names no metric; using {metric} ({'higher' if maximize else 'lower'} is better).")
    if metric not in runs.columns:
        raise ReportError(
            f"no run logged the sweep metric {metric!r}; check metric.name in the sweep config against the logged keys"
        )
    return str(metric), maximize, msgs


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


def read_tables(
    runs: pd.DataFrame, history: pd.DataFrame, sweep_config: Mapping[str, Any], *, compare: str | None, sweep_id: str
) -> Tables:
    """Stage 1, tables: the runs with secrets removed, the metric resolved, the usable runs picked."""
    runs = tidy.sanitize_runs(runs)
    history = tidy.normalize_history(history) if len(history) else tidy.empty_history()
    if runs.empty:
        raise ReportError(f"sweep {sweep_id or '?'} has no runs yet; start an agent first")
    metric, maximize, msgs = resolve_metric(runs, sweep_config)
    runs = runs.copy()
    runs[metric] = pd.to_numeric(runs[metric], errors="coerce")
    check_compare(runs, sweep_config, compare)
    state = tidy.text(runs["state"])
    usable, counts, left_out = usable_runs(runs, state, metric, sweep_id)
    return Tables(runs, history, state, usable, metric, maximize, counts, msgs + left_out)


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
    cells = seed_summary(usable, config_keys=varied, metric=t.metric)
    return Groups(usable, compare, seed_key, params, varied, list(models), single_seed, cells, msgs)
