"""`sweepkit sync` ends with a W&B sweep that holds the uploaded runs, made once (a recording fake of W&B)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wandb

from agent.backends.local import LocalBackend
from agent.backends.local.backend import WANDB_SWEEP_FILE
from agent.backends.local.store import sweep_dir
from tests.helpers import run_in_process

CONFIG = {"method": "grid", "program": "train.py", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}


def offline_run(spec):
    Path(spec.run_dir).mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        dir=spec.run_dir,
        id=spec.run_id,
        project="p",
        mode="offline",
        settings=wandb.Settings(silent=True, x_disable_stats=True),
    )
    run.log({"loss": float(spec.params["x"])})
    run.finish()
    return {}


class RecordingWandb:
    def __init__(self):
        self.sweeps: list[dict] = []

    def sweep(self, config, entity=None, project=None, prior_runs=None):
        self.sweeps.append({"config": config, "entity": entity, "project": project, "prior_runs": prior_runs})
        return f"wb{len(self.sweeps):06d}"

    def api(self, timeout=None):
        class Api:
            default_entity = "me"

            def sweep(self, path):
                return type("S", (), {"url": f"https://wandb.ai/{path.replace('/wb', '/sweeps/wb')}"})()

        return Api()


@pytest.fixture
def synced(home, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    b = LocalBackend()
    sid = b.create_sweep(CONFIG)
    assert run_in_process(b, sid, offline_run, no_sweep_id=True) == 0
    fake = RecordingWandb()
    monkeypatch.setattr(wandb, "sweep", fake.sweep)
    monkeypatch.setattr(wandb, "Api", fake.api)
    return b, sid, fake


def test_the_uploaded_runs_become_one_wandb_sweep_and_a_second_sync_makes_no_other(synced):
    b, sid, fake = synced
    plan = b.sync_plan(sid, project="proj", entity=None)
    ids = sorted(r.id for r in b.runs(sid))
    assert sorted(plan.run_ids) == ids and plan.runs == 2 and "create a W&B sweep in proj" in plan.sweep_note
    line = b.finish_sync(sid, plan)
    assert (
        line
        == "created W&B sweep me/proj/wb000001 (https://wandb.ai/me/proj/sweeps/wb000001) holding the 2 uploaded run(s)"
    )
    (made,) = fake.sweeps
    assert made["project"] == "proj" and sorted(made["prior_runs"]) == ids and made["config"] == CONFIG
    record = json.loads((sweep_dir(sid) / WANDB_SWEEP_FILE).read_text())
    assert record["path"] == "me/proj/wb000001"
    again = b.sync_plan(sid, project="proj", entity=None)
    assert "me/proj/wb000001" in again.sweep_note and "no second one" in again.sweep_note
    assert b.finish_sync(sid, again) == again.sweep_note and len(fake.sweeps) == 1


def test_a_refused_sweep_is_one_line_and_the_next_sync_tries_again(synced, monkeypatch):
    from agent.backends.base import BackendError

    b, sid, fake = synced

    def refuse(*a, **k):
        raise RuntimeError("permission denied\nmore")

    monkeypatch.setattr(wandb, "sweep", refuse)
    with pytest.raises(BackendError, match="runs are uploaded, but W&B refused the sweep: permission denied"):
        b.finish_sync(sid, b.sync_plan(sid, project="proj", entity=None))
    assert not (sweep_dir(sid) / WANDB_SWEEP_FILE).exists()
    monkeypatch.setattr(wandb, "sweep", fake.sweep)
    assert "created W&B sweep" in b.finish_sync(sid, b.sync_plan(sid, project="proj", entity=None))
