"""The W&B backend's mapping, offline: wandb.sweep / wandb.Api / `wandb agent` are monkeypatched."""

from __future__ import annotations

import types

import pytest
import wandb

from agent.backends import BackendError
from agent.backends.base import PriorRun, RunRecord
from agent.backends.wandb import WandbBackend
from agent.backends.wandb.api import run_to_record, split_path


def test_split_path_forms():
    assert split_path("e/p/abc") == ("e", "p", "abc")
    assert split_path("p/abc") == (None, "p", "abc")
    assert split_path("e/p/sweeps/abc") == ("e", "p", "abc")
    with pytest.raises(BackendError):
        split_path("a/b/c/d")


def _run(**kw):
    base = dict(
        id="r1",
        name="bright-sun-1",
        state="finished",
        config={"lr": 0.1, "_wandb": {}},
        summary_metrics={"loss": 0.2, "_runtime": 12.5},
        url="https://wandb.ai/e/p/runs/r1",
        created_at="2026-01-01T00:00:00",
    )
    base.update(kw)
    return types.SimpleNamespace(**base)


def test_run_to_record_maps_public_api_run():
    rec = run_to_record(_run())
    assert (rec.id, rec.state, rec.name) == ("r1", "finished", "bright-sun-1")
    assert rec.config == {"lr": 0.1} and rec.summary["loss"] == 0.2
    assert rec.runtime_s == 12.5 and rec.url.endswith("/r1") and rec.run_dir is None


def test_create_sweep_uses_wandb_sweep_and_returns_the_path(monkeypatch):
    calls = {}

    def fake_sweep(config, project=None, entity=None):
        calls.update(config=config, project=project, entity=entity)
        return "sw123456"

    monkeypatch.setattr(wandb, "sweep", fake_sweep)
    path = WandbBackend().create_sweep({"method": "grid", "parameters": {}}, project="p", entity="e")
    assert path == "e/p/sw123456"
    assert calls["project"] == "p" and calls["entity"] == "e"

    monkeypatch.setattr(wandb, "sweep", lambda *a, **k: None)
    with pytest.raises(BackendError, match="did not create"):
        WandbBackend().create_sweep({"method": "grid"}, project="p", entity="e")


def test_a_warm_start_on_wandb_attaches_the_prior_runs_with_prior_runs(monkeypatch):
    calls = {}

    def fake_sweep(config, project=None, entity=None, prior_runs=None):
        calls.update(project=project, entity=entity, prior_runs=prior_runs)
        return "sw123456"

    monkeypatch.setattr(wandb, "sweep", fake_sweep)
    prior = [PriorRun("e/p/old00001", RunRecord(id=rid, state="finished"), {"a": 1}, 0.5) for rid in ("r1", "r2")]
    path = WandbBackend().create_sweep({"method": "bayes"}, project="p", entity="e", prior=prior)
    assert path == "e/p/sw123456" and calls == {"project": "p", "entity": "e", "prior_runs": ["r1", "r2"]}
    with pytest.raises(BackendError, match="W&B attaches prior runs of the project the sweep is made in"):
        WandbBackend().create_sweep({"method": "bayes"}, project="other", entity="e", prior=prior)
    with pytest.raises(BackendError, match="--no-skip: W&B's grid never hands out a point"):
        WandbBackend().create_sweep({"method": "grid"}, project="p", entity="e", prior=prior, skip_done=False)


def test_runs_query_filters_by_sweep_and_is_not_lazy(monkeypatch):
    seen = {}

    class FakeApi:
        def __init__(self, timeout=None):
            pass

        def runs(self, path, filters=None, per_page=None, lazy=True):
            seen.update(path=path, filters=filters, per_page=per_page, lazy=lazy)
            return [_run(id="b", created_at="2026-01-02"), _run(id="a", created_at="2026-01-01")]

    monkeypatch.setattr(wandb, "Api", FakeApi)
    recs = WandbBackend().runs("e/p/sw1")
    assert seen == {"path": "e/p", "filters": {"sweep": "sw1"}, "per_page": 500, "lazy": False}
    assert [r.id for r in recs] == ["a", "b"]


def test_agent_delegates_to_wandb_agent_cli(monkeypatch):
    argv = WandbBackend().agent_argv("e/p/sw1", 3)
    assert argv[1:] == ["agent", "--count", "3", "e/p/sw1"] and argv[0].endswith("wandb")
    got = {}

    class Done:  # `wandb agent`, ended at once
        returncode = 0

        def __init__(self, argv):
            got["argv"] = argv

        def poll(self):
            return 0

    monkeypatch.setattr("subprocess.Popen", Done)
    from agent.runners.child import ChildRunner
    from tests.helpers import QuietProgress

    assert WandbBackend().run_agent("e/p/sw1", runner=ChildRunner(), progress=QuietProgress()) == 0
    assert got["argv"][1:] == ["agent", "e/p/sw1"]


def test_bare_id_without_project_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    with pytest.raises(BackendError, match="needs a project"):
        WandbBackend().runs("sw1")


@pytest.mark.parametrize(
    ("word", "shown"),
    [("RUNNING", "running"), ("PENDING", "running"), ("PAUSED", "paused"), ("CANCELED", "cancelled"),
     ("FINISHED", "finished"), ("CRASHED", "crashed")],
)  # fmt: skip
def test_a_wandb_sweeps_state_reads_as_sweepkits_word(word, shown):
    sweep = types.SimpleNamespace(id="sw1", state=word, config={}, name="", entity="e", project="p")
    api = types.SimpleNamespace(sweep=lambda path: sweep)
    assert WandbBackend(api=api).sweep("e/p/sw1").state == shown
