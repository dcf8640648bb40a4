"""--publish: the W&B Report is built offline (panels, grouping, summary) and never saved offline."""
import pytest

from agent.backends.base import SweepInfo
from analysis.model import build_report
from analysis.publish import build_wandb_report, publish_report, summary_markdown
from analysis.synthetic import synthetic_sweep

wr = pytest.importorskip("wandb_workspaces.reports.v2")


@pytest.fixture(scope="module")
def data():
    runs, hist, cfg = synthetic_sweep(models=("tiny-bert", "</script><b>x</b>"))
    return build_report(runs, hist, cfg, sweep_id="abc123")


def info(path="ent/proj/abc123", backend="wandb"):
    return SweepInfo(id="abc123", backend=backend, config={}, path=path, state="finished")


def test_report_object_has_the_panels(data):
    rep = build_wandb_report(data, info())
    assert (rep.entity, rep.project) == ("ent", "proj") and "abc123" in rep.title
    grids = [b for b in rep.blocks if isinstance(b, wr.PanelGrid)]
    panels = [p for g in grids for p in g.panels]
    kinds = {type(p).__name__ for p in panels}
    assert {"ParallelCoordinatesPlot", "ParameterImportancePlot", "LinePlot"} <= kinds
    pc = next(p for p in panels if isinstance(p, wr.ParallelCoordinatesPlot))
    assert len(pc.columns) == len(data.params) + 1
    imp = next(p for p in panels if isinstance(p, wr.ParameterImportancePlot))
    assert imp.with_respect_to == "eval/accuracy"
    lines = [p for p in panels if isinstance(p, wr.LinePlot)]
    assert all(p.groupby is not None and p.groupby_rangefunc == "stddev" for p in lines)
    assert all(rs.filters == "Sweep = 'abc123'" for g in grids for rs in g.runsets)
    md = next(b for b in rep.blocks if isinstance(b, wr.MarkdownBlock)).text
    assert md == summary_markdown(data) and "95% CI" in md


def test_summary_markdown_escapes_run_strings(data):
    md = summary_markdown(data)
    assert "<b>" not in md and "</script>" not in md and r"\<b\>" in md


def test_publish_never_saves_offline(data, monkeypatch):
    url, note = publish_report(data, info(backend="local", path="/store"), backend_name="local")
    assert url is None and "offline sweep" in note
    monkeypatch.setenv("WANDB_MODE", "offline")
    url, note = publish_report(data, info(), backend_name="wandb")
    assert url is None and "WANDB_MODE=offline" in note
    monkeypatch.delenv("WANDB_MODE")
    url, note = publish_report(data, info(), backend_name="wandb", save=False)
    assert url is None and note == "W&B Report built (not saved)."
