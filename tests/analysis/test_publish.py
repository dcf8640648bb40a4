"""--publish: the summary handed to the backend escapes run strings; offline sweeps are never published."""

import pytest

from agent.backends.base import SweepInfo
from agent.backends.local import LocalBackend
from agent.backends.wandb import WandbBackend
from analysis.commands.publish import publish_report, summary_markdown
from analysis.report.build import build_report
from tests.synthetic import synthetic_sweep


@pytest.fixture(scope="module")
def data():
    runs, hist, cfg = synthetic_sweep(models=("tiny-bert", "</script><b>x</b>"))
    return build_report(runs, hist, cfg, sweep_id="abc123")


def info(path="ent/proj/abc123", backend="wandb"):
    return SweepInfo(id="abc123", backend=backend, config={}, path=path, state="finished")


def test_summary_markdown_escapes_run_strings(data):
    md = summary_markdown(data)
    assert "<b>" not in md and "</script>" not in md and r"\<b\>" in md and "95% CI" in md


def test_publish_never_saves_offline(data, monkeypatch):
    url, note = publish_report(data, info(backend="local", path="/store"), LocalBackend())
    assert url is None and "offline sweep" in note
    monkeypatch.setenv("WANDB_MODE", "offline")
    url, note = publish_report(data, info(), WandbBackend())
    assert url is None and "WANDB_MODE=offline" in note
    monkeypatch.delenv("WANDB_MODE")
    pytest.importorskip("wandb_workspaces.reports.v2")
    url, note = publish_report(data, info(), WandbBackend(), save=False)
    assert url is None and note == "W&B Report built (not saved)."
