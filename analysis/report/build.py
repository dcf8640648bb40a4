"""`build_report`: tidy run/history tables + sweep config -> ReportData (numbers and sentences), in stages.

Pure: no I/O, so tests and the benchmark build reports from synthetic tables. Every number the report
states lives in ReportData and is written verbatim to report.json. The stages, in order:

    tables       which runs count, by which metric            scope.read_tables
    groups       the compared key, its groups, the seed key    scope.choose_groups
    models       per group: best run, best config, cost        sections.model_summary
    points       every run, and each group's mean over the     sections.run_points, model_means
                 cells all groups ran (what comparisons state)
    comparisons  each group against the best, paired           sections.compare_models
    grid/curves  lr x batch heatmaps, learning curves          sections.heatmap_grid, learning_curves
    evp          expected best against trials and hours        sections.expected_performance
    cost         per config: costs, the Pareto front           sections.cost_table
    importance   which parameters matter, each level's effect  stats.importance
    takeaways    one sentence per figure                       takeaways.takeaways_for
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.report import sections
from analysis.report.data import ReportData, ReportError, Scale
from analysis.report.scope import GROUP, choose_groups, read_tables
from analysis.report.takeaways import takeaways_for
from analysis.stats import cost
from analysis.stats.importance import importance_table, level_effects
from analysis.stats.intervals import method_note
from analysis.tables.sweep import log_scaled

__all__ = ["ReportData", "ReportError", "build_report"]


def build_report(
    runs: pd.DataFrame,
    history: pd.DataFrame,
    sweep_config: Mapping[str, Any],
    compare: str | None = None,
    seed_key: str | None = "seed",
    *,
    sweep_id: str = "",
) -> ReportData:
    """The report of one sweep; ReportError (one line) when there is nothing to report."""
    t = read_tables(runs, history, sweep_config, compare=compare, sweep_id=sweep_id)
    g = choose_groups(t, sweep_config, compare=compare, seed_key=seed_key)
    per_model = [sections.model_summary(t, g, m) for m in g.models]
    points = sections.run_points(t, g)
    comparisons, compared = sections.compare_models(t, g)
    heatmaps, axes, gridded = sections.heatmap_grid(t, g)
    curves, curve_seeds, curved = sections.learning_curves(t, g, per_model)
    evp, evp_time = sections.expected_performance(t, g)
    method = str(sweep_config.get("method", "random"))
    data = ReportData(
        config=dict(sweep_config),
        sweep_id=sweep_id,
        metric=t.metric,
        maximize=t.maximize,
        method=method,
        compare=g.compare,
        seed_key=g.seed_key,
        params=g.varying,
        models=g.models,
        counts=t.counts,
        messages=[*t.messages, *g.messages, *compared, *gridded, *curved],
        usable=g.usable.drop(columns=GROUP),
        leaderboard=sections.leaderboard(t, g),
        per_model=per_model,
        cells=g.cells,
        comparisons=comparisons,
        heatmaps=heatmaps,
        heatmap_axes=axes,
        curves=curves,
        curve_seeds=curve_seeds,
        evp=evp,
        evp_time=evp_time,
        hours_unit=cost.hours_unit(g.usable),
        config_costs=sections.cost_table(t, g),
        importance=importance_table(g.usable, params=list(g.varying), metric=t.metric),
        levels=level_effects(g.usable, params=list(g.varying), metric=t.metric),
        failures=sections.failures_table(t, g.compare),
        system=sections.system_table(t, g),
        scale=Scale.for_values(t.metric, g.usable[t.metric]),
        caveats=sections.caveats(method),
        bounds=t.bounds,
        interval_note=method_note(t.bounds),
        points=points,
        model_means=sections.model_means(t, g, points),
        log_params=log_scaled(sweep_config, list(g.varying), g.usable),
    )
    data.takeaways = takeaways_for(data)
    return data
