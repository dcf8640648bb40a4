"""The smoke sweep end to end: real tiny fine-tunes (agent/trial.py, warm, offline W&B) through the
local backend, then `write_report`: the report's numbers come from what the trials logged."""

import json

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

SMOKE = {
    "name": "report-smoke",
    "method": "grid",
    "metric": {"name": "eval/accuracy", "goal": "maximize"},
    "command": [
        "${env}",
        "${interpreter}",
        "-m",
        "agent",
        "--task_name=mrpc-mini",
        "--max_train_samples=64",
        "--max_eval_samples=32",
        "--num_train_epochs=1",
        "--per_device_train_batch_size=8",
        "--eval_strategy=steps",
        "--eval_steps=4",
        "${args}",
    ],
    "parameters": {
        "model_name_or_path": {"values": ["tiny-bert", "tiny-distilbert"]},
        "learning_rate": {"value": 1e-4},
        "seed": {"values": [1, 2]},
    },
}


def test_smoke_sweep_to_report(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SWEEPKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    from agent.backends import get_backend
    from agent.runners.warm import WarmRunner
    from analysis.commands.report import write_report
    from tests.helpers import run_in_process

    backend = get_backend("local")
    sweep_id = backend.create_sweep(SMOKE)
    run_in_process(backend, sweep_id, WarmRunner())
    res = write_report(sweep_id, backend=backend, out_dir=tmp_path / "out")

    runs = pd.read_csv(res.runs_csv)
    assert len(runs) == 4 and set(runs.state) == {"finished"}, runs[["state", "reason"]]
    assert {"eval/accuracy", "train/train_samples_per_second", "num_parameters"} <= set(runs.columns)
    hist = pd.read_csv(res.history_csv)
    acc = hist[hist.metric == "eval/accuracy"]
    assert acc.run_id.nunique() == 4 and acc.groupby("run_id").size().min() >= 2
    rj = json.loads(res.json.read_text())
    assert sorted(rj["models"]) == ["tiny-bert", "tiny-distilbert"]
    for pm in rj["per_model"]:
        sub = runs[runs.model_name_or_path == pm["model"]]
        assert pm["best_run"]["value"] == pytest.approx(sub["eval/accuracy"].max())
        assert pm["cost"]["num_parameters"] == pytest.approx(sub["num_parameters"].median())
    assert rj["comparisons"][0]["n_pairs"] == 2
    assert rj["takeaways"]["comparison"] in res.html.read_text().replace("&#39;", "'")
