"""The W&B Report object is built offline: panels, grouping, the summary, the sweep's filter."""

import pytest

from agent.backends.base import SweepInfo
from agent.backends.wandb.publish import build_wandb_report

wr = pytest.importorskip("wandb_workspaces.reports.v2")


def test_report_object_has_the_panels():
    info = SweepInfo(id="abc123", backend="wandb", config={}, path="ent/proj/abc123", state="finished")
    rep = build_wandb_report(
        info,
        title="Sweep abc123: eval/accuracy",
        summary_markdown="**summary** 95% CI",
        params=["learning_rate", "seed"],
        metric="eval/accuracy",
        compare="model_name_or_path",
    )
    assert (rep.entity, rep.project) == ("ent", "proj") and "abc123" in rep.title
    grids = [b for b in rep.blocks if isinstance(b, wr.PanelGrid)]
    panels = [p for g in grids for p in g.panels]
    kinds = {type(p).__name__ for p in panels}
    assert {"ParallelCoordinatesPlot", "ParameterImportancePlot", "LinePlot"} <= kinds
    pc = next(p for p in panels if isinstance(p, wr.ParallelCoordinatesPlot))
    assert len(pc.columns) == 3
    imp = next(p for p in panels if isinstance(p, wr.ParameterImportancePlot))
    assert imp.with_respect_to == "eval/accuracy"
    lines = [p for p in panels if isinstance(p, wr.LinePlot)]
    assert all(p.groupby is not None and p.groupby_rangefunc == "stddev" for p in lines)
    assert all(rs.filters == "Sweep = 'abc123'" for g in grids for rs in g.runsets)
    md = next(b for b in rep.blocks if isinstance(b, wr.MarkdownBlock)).text
    assert md == "**summary** 95% CI"


def test_a_sweep_without_a_wandb_path_is_not_published():
    info = SweepInfo(id="abc123", backend="wandb", config={}, path="abc123")
    with pytest.raises(ValueError, match="entity/project"):
        build_wandb_report(info, title="t", summary_markdown="", params=[], metric="m", compare=None)
