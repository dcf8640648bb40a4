"""A user's own HF Trainer script (written like run_glue, no W&B code) as a sweep's program, through
`sweepkit validate`, `sweep`, `agent --workers 2`, `status` and `report`, on local model folders and csv
files: what it needs (`report_to: wandb`) is said before a run is wasted, and once it reports, its runs,
metric, throughput and parameter counts reach `status` and the report."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from agent.sweep_config.metric import NO_WANDB_RUN
from agent.trial import mrpc_mini
from tests.helpers import env_for, make_sweep, sk, status

SCRIPT = Path(__file__).parent / "data" / "glue_trainer.py"


def _csv(path: Path, rows: list[dict]) -> str:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["sentence1", "sentence2", "label"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return str(path)


def _sweep(program: str, models: list[str], data: dict[str, str], *, report: bool, metric: str) -> str:
    lines = [
        f"program: {program}",
        "method: grid",
        f"metric: {{name: {metric}, goal: maximize}}",
        "parameters:",
        f"  model_name_or_path: {{values: [{', '.join(models)}]}}",
        f"  train_file: {{value: {data['train']}}}",
        f"  validation_file: {{value: {data['validation']}}}",
        "  do_train: {value: true}",
        "  do_eval: {value: true}",
        "  max_seq_length: {value: 64}",
        "  per_device_train_batch_size: {value: 16}",
        "  learning_rate: {values: [2.0e-4]}",
        "  num_train_epochs: {value: 1}",
        "  eval_strategy: {value: epoch}",
        "  logging_steps: {value: 2}",
        "  output_dir: {value: trainer_out}",
    ]
    return "\n".join(lines + (["  report_to: {value: wandb}"] if report else [])) + "\n"


@pytest.mark.slow
def test_a_stock_trainer_script_sweeps_with_no_code_change(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SWEEPKIT_CACHE", str(cache))
    from agent.trial.models import ensure_tiny

    # The user's own folders, as they name them (the tiny models stand in for bert-base / distilbert).
    models = []
    for name in ("tiny-bert", "tiny-distilbert"):
        shutil.copytree(ensure_tiny(name), tmp_path / "models" / name)
        models.append(str(tmp_path / "models" / name))
    splits = mrpc_mini.splits()
    data = {
        "train": _csv(tmp_path / "train.csv", splits["train"][:64]),
        "validation": _csv(tmp_path / "dev.csv", splits["validation"][:32]),
    }
    program = str(tmp_path / "glue_trainer.py")
    shutil.copy(SCRIPT, program)
    env = env_for(
        tmp_path,
        SWEEPKIT_CACHE=str(cache),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_CACHE=str(tmp_path / "datasets"),
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
    )

    # 1. As the tutorial's user first writes it: no report_to. Said before any run, and by the run.
    (tmp_path / "silent.yaml").write_text(_sweep(program, models[:1], data, report=False, metric="eval/accuracy"))
    checked = sk(tmp_path, "validate", "silent.yaml", env=env)
    assert checked.returncode == 0 and "sets no report_to" in checked.stderr, checked.stderr
    sid = make_sweep(tmp_path, (tmp_path / "silent.yaml").read_text(), env=env)
    assert sk(tmp_path, "agent", sid, env=env, timeout=900).returncode == 0
    (run,) = status(tmp_path, sid, env=env)["runs"]
    assert run["state"] == "finished" and run["reason"] == NO_WANDB_RUN, run["reason"]

    # 2. With report_to: wandb, and the metric under HF's own name (eval_accuracy), two workers.
    sid = make_sweep(tmp_path, _sweep(program, models, data, report=True, metric="eval_accuracy"), env=env)
    ran = sk(tmp_path, "agent", sid, "--workers", "2", env=env, timeout=1200)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "running trials cold, in 2 parallel agent(s)" in ran.stdout and "warm" not in ran.stdout
    runs = status(tmp_path, sid, env=env)["runs"]
    assert [r["state"] for r in runs] == ["finished", "finished"], [r["reason"] for r in runs]
    for r in runs:
        assert "did you mean eval/accuracy?" in r["reason"], r["reason"]
        assert 0.0 <= r["summary"]["eval/accuracy"] <= 1.0 and r["summary"]["train_samples_per_second"] > 0
        assert r["config"]["learning_rate"] == 2e-4 and r["config"]["model/num_parameters"] > 100_000
    table = sk(tmp_path, "status", sid, env=env).stdout
    assert "2 finished run(s) have no eval_accuracy" in table and "--metric eval/accuracy" in table

    refused = sk(tmp_path, "report", sid, env=env, timeout=600)
    assert refused.returncode == 2 and "did you mean eval/accuracy?" in refused.stderr
    res = sk(tmp_path, "report", sid, "--metric", "eval/accuracy", "--out", "rep", env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["metric"] == "eval/accuracy" and report["goal"] == "maximize"
    assert sorted(report["models"]) == ["tiny-bert", "tiny-distilbert"]  # folder names, not full paths
    costs = report["cost"]["configs"]
    assert len(costs) == 2 and all(c["throughput"] > 0 and c["num_parameters"] > 100_000 for c in costs), costs
    assert {c["num_parameters"] for c in costs} == {r["config"]["model/num_parameters"] for r in runs}
