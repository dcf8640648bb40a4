"""A W&B Report (wandb-workspaces) holding the sweepkit summary beside W&B's own panels.

Building the Report object needs no network and is tested offline; only `save()` talks to W&B.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from agent.backends.base import BackendError, SweepInfo
from agent.backends.wandb.api import split_path
from agent.errors import one_line


def build_wandb_report(
    info: SweepInfo, *, title: str, summary_markdown: str, params: list[str], metric: str, compare: Optional[str]
) -> Any:
    """A wandb_workspaces Report (not saved) for this sweep's runs (wandb_workspaces' own type)."""
    import wandb_workspaces.reports.v2 as wr

    entity, project, sweep = split_path(info.path or "")
    if not entity or not project:
        raise ValueError(f"sweep {info.id} has no entity/project/id path; publish needs a W&B sweep")
    runset = wr.Runset(entity=entity, project=project, name=f"sweep {sweep}", filters=f"Sweep = '{sweep}'")
    grouped = wr.Runset(
        entity=entity,
        project=project,
        name=f"sweep {sweep} by {compare}",
        filters=f"Sweep = '{sweep}'",
        groupby=[f"config.{compare}"] if compare else [],
    )
    columns = [wr.ParallelCoordinatesPlotColumn(metric=wr.Config(p)) for p in params]
    columns.append(wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(metric)))
    curves: list[Any] = [
        wr.LinePlot(
            title=f"{m} by {compare or 'run'}",
            x="Step",
            y=[m],
            groupby=wr.Config(compare) if compare else None,
            groupby_aggfunc="mean",
            groupby_rangefunc="stddev",
        )
        for m in dict.fromkeys([metric, "eval/loss"])
    ]
    return wr.Report(
        entity=entity,
        project=project,
        title=title[:128],
        description=f"sweepkit comparison report for sweep {sweep}",
        blocks=[
            wr.H1(text="Summary"),
            wr.MarkdownBlock(text=summary_markdown),
            wr.PanelGrid(
                runsets=[runset],
                panels=[
                    wr.ParallelCoordinatesPlot(columns=columns, title="Parallel coordinates"),
                    wr.ParameterImportancePlot(with_respect_to=metric),
                ],
            ),
            wr.H2(text=f"Learning curves grouped by {compare or 'run'}"),
            wr.PanelGrid(runsets=[grouped], panels=curves),
        ],
    )


def publish(info: SweepInfo, *, save: bool = True, **content: Any) -> tuple[Optional[str], str]:
    """(url or None, one-line note). Offline mode is never saved."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "disabled", "dryrun"):
        return None, f"Not published: WANDB_MODE={os.environ['WANDB_MODE']}."
    try:
        report = build_wandb_report(info, **content)
    except (ValueError, BackendError) as exc:
        return None, f"Not published: {exc}."
    if not save:
        return None, "W&B Report built (not saved)."
    try:
        report.save()
        return report.url, f"Published W&B Report: {report.url}"
    except Exception as exc:  # the local report is written; say why publish failed
        return None, f"Not published: W&B refused the report ({one_line(exc, 160)})."
