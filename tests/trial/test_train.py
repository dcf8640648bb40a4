"""End-to-end trials: `python -m agent` in a subprocess, offline W&B, tiny models, bundled data."""

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from agent.runlog import history_rows, read_summary
from agent.trial.result import RESULT_FILE, TrialResult

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One SWEEPKIT_CACHE per module: tiny models and tokenized data are built once."""
    return tmp_path_factory.mktemp("sweepkit-cache")


def trial_env(run_dir: Path, cache: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "SWEEPKIT_"))}
    env.update(
        WANDB_MODE="offline",
        WANDB_DIR=str(run_dir),
        SWEEPKIT_RUN_DIR=str(run_dir),
        SWEEPKIT_CACHE=str(cache),
        WANDB_SILENT="true",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_agent(args, run_dir, cache, timeout=400, **env):
    run_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "agent", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=trial_env(run_dir, cache, **env),
        timeout=timeout,
    )
    result = TrialResult.read(run_dir) if (run_dir / RESULT_FILE).exists() else None
    return proc, result


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else ""


QUICK = [
    "--model_name_or_path=tiny-bert",
    "--task_name=mrpc-mini",
    "--max_train_samples=256",
    "--max_eval_samples=128",
    "--logging_steps=2",
]


def _write_sentiment(path: Path, n: int, seed: int):
    """An sst2-shaped csv: filler words around one opinion word that decides the label."""
    import random

    rng = random.Random(seed)
    filler = "the film plot cast music scene ending story was and a it with of its".split()
    good, bad = ["wonderful", "moving", "brilliant", "charming"], ["dull", "awful", "tedious", "clumsy"]
    with path.open("w") as fh:
        fh.write("sentence,label\n")
        for _ in range(n):
            y = rng.randrange(2)
            words = rng.sample(filler, 6)
            words.insert(rng.randrange(7), rng.choice(good if y else bad))
            fh.write(f"{' '.join(words)},{y}\n")


@pytest.mark.slow
def test_sweep_protocol_learns_and_applies_swept_values(tmp_path, cache):
    _write_sentiment(tmp_path / "train.csv", 400, seed=0)
    _write_sentiment(tmp_path / "dev.csv", 100, seed=1)
    params = {
        "model_name_or_path": "tiny-bert",
        "task_name": "sst2",
        "learning_rate": 2e-3,
        "per_device_train_batch_size": 24,
        "num_train_epochs": 3,
        "warmup_ratio": 0.1,
        "seed": 3,
        "train_file": str(tmp_path / "train.csv"),
        "validation_file": str(tmp_path / "dev.csv"),
        "logging_steps": 5,
        "precision": "auto",
    }
    param_file = tmp_path / "params.yaml"
    param_file.write_text(yaml.safe_dump({k: {"value": v} for k, v in params.items()}))
    run_dir = tmp_path / "run"
    # No argv at all: every value must come from wandb.config, as the sweep put it there.
    proc, result = run_agent(
        [], run_dir, cache, WANDB_SWEEP_ID="swp123", WANDB_RUN_ID="trial001", WANDB_SWEEP_PARAM_PATH=str(param_file)
    )
    assert proc.returncode == 0, last_line(proc.stderr)
    assert result.status == "finished" and result.run_id == "trial001"
    assert result.global_step == math.ceil(400 / 24) * 3  # swept batch size and epochs applied
    assert result.config["learning_rate"] == 2e-3 and result.config["per_device_train_batch_size"] == 24
    assert result.metrics["eval/accuracy"] >= 0.9, result.metrics  # chance is 0.5

    run = read_summary(run_dir)
    assert run["state"] == "finished" and run["exit_code"] == 0 and run["run_id"] == "trial001"
    cfg, summary = run["config"], run["summary"]
    assert cfg["learning_rate"] == 2e-3 and cfg["per_device_train_batch_size"] == 24
    assert cfg["num_train_epochs"] == 3 and cfg["seed"] == 3 and cfg["model_name_or_path"] == "tiny-bert"
    # A swept "auto" stays as W&B locked it; what it resolved to on this machine is logged beside it.
    assert cfg["warmup_ratio"] == 0.1 and cfg["precision"] == "auto" and cfg["precision_effective"] == "fp32"
    assert cfg["optim"] == "adamw_torch" and cfg["tf32"] is False and cfg["warmup_steps"] == 0
    assert summary["eval/accuracy"] == pytest.approx(result.metrics["eval/accuracy"])
    for key in ("train/train_runtime", "train/train_samples_per_second", "num_parameters"):
        assert key in summary, key
    assert summary["num_parameters"] == result.num_parameters > 100_000
    # The learning-rate schedule really used the swept peak (warmup then linear decay).
    lrs = [r["train/learning_rate"] for r in history_rows(run_dir) if "train/learning_rate" in r]
    assert max(lrs) <= 2e-3 and max(lrs) > 1.5e-3


@pytest.mark.slow
def test_second_trial_skips_tokenization(tmp_path):
    cache = tmp_path / "cache"
    args = [*QUICK, "--max_steps=2", "--eval_strategy=no", "--report_to=none"]
    _, first = run_agent(args, tmp_path / "a", cache)
    _, second = run_agent([*args, "--seed=9"], tmp_path / "b", cache)
    assert (first.status, second.status) == ("finished", "finished")
    assert (first.data_cache, second.data_cache) == ("miss", "disk")


@pytest.mark.slow
def test_bad_swept_key_exit_2_and_failed_run(tmp_path, cache):
    param_file = tmp_path / "params.yaml"
    param_file.write_text(
        yaml.safe_dump({"learning_rat": {"value": 1e-3}, "model_name_or_path": {"value": "tiny-bert"}})
    )
    run_dir = tmp_path / "run"
    proc, result = run_agent(
        [], run_dir, cache, WANDB_SWEEP_ID="s", WANDB_RUN_ID="badkey01", WANDB_SWEEP_PARAM_PATH=str(param_file)
    )
    assert proc.returncode == 2
    assert "unknown key 'learning_rat'; did you mean learning_rate" in last_line(proc.stderr)
    assert result.status == "failed" and "learning_rat" in result.reason
    assert read_summary(run_dir)["exit_code"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("kind, needle", [("nan", "loss became nan"), ("exception", "RuntimeError: injected failure")])
def test_injected_failure_gives_failed_run_with_reason(tmp_path, cache, kind, needle):
    run_dir = tmp_path / "run"
    proc, result = run_agent([*QUICK, "--max_steps=20", f"--inject_failure={kind}"], run_dir, cache)
    assert proc.returncode == 1
    assert needle in last_line(proc.stderr)
    assert result.status == "failed" and needle in result.reason
    run = read_summary(run_dir)
    assert run["state"] == "failed" and run["exit_code"] == 1
    assert needle in run["summary"]["failure_reason"]
    if kind == "nan":
        assert result.global_step < 20  # the guard stopped training early


@pytest.mark.slow
def test_a_full_disk_fails_the_run_as_disk_full_with_its_own_exit_code(tmp_path, cache):
    run_dir = tmp_path / "run"
    proc, result = run_agent([*QUICK, "--max_steps=20", "--inject_failure=disk_full"], run_dir, cache)
    assert proc.returncode == 28
    assert last_line(proc.stderr).startswith("sweepkit: trial failed: disk full: no space left on the disk holding")
    assert result.status == "failed" and result.disk_full and result.reason.startswith("disk full")
    run = read_summary(run_dir)
    assert run["state"] == "failed" and run["summary"]["failure_reason"].startswith("disk full")


def test_oom_reason_is_one_actionable_line():
    import torch

    from agent.trial.train import _one_line

    line = _one_line(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore text"))
    assert line.startswith("CUDA out of memory; fix: lower per_device_train_batch_size") and "\n" not in line


@pytest.mark.slow
def test_sigterm_finishes_the_run_cleanly_and_exits_143(tmp_path, cache):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", *QUICK, "--logging_steps=1", "--num_train_epochs=500", "--eval_strategy=no"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=trial_env(run_dir, cache),
    )
    started = threading.Event()

    def watch():  # training has begun once the first loss is printed
        for line in proc.stdout:
            if "'loss'" in line:
                started.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert started.wait(300), "training never started"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
        assert time.monotonic() - t0 < 60
    finally:
        if proc.poll() is None:
            proc.kill()
    result = TrialResult.read(run_dir)
    assert result.status == "killed" and 0 < result.global_step < 500 * 8
    run = read_summary(run_dir)
    assert run["summary"]["stopped_by"] == "sigterm" and run["state"] == "finished"


def _write_stsb(path: Path, n: int):
    import random

    rng = random.Random(0)
    words = ["red", "blue", "green", "small", "large", "quick", "slow", "bright", "dark", "warm", "cold", "old", "new"]
    with path.open("w") as fh:
        fh.write("sentence1,sentence2,label\n")
        for _ in range(n):
            a = rng.sample(words, 5)
            k = rng.randint(0, 5)
            b = a[:k] + rng.sample([w for w in words if w not in a], 5 - k)
            fh.write(f"{' '.join(a)},{' '.join(b)},{k:.1f}\n")


@pytest.mark.slow
def test_stsb_regression_on_local_csv(tmp_path, cache):
    _write_stsb(tmp_path / "train.csv", 300)
    _write_stsb(tmp_path / "dev.csv", 60)
    proc, result = run_agent(
        [
            "--model_name_or_path=tiny-distilbert",
            "--task_name=stsb",
            f"--train_file={tmp_path / 'train.csv'}",
            f"--validation_file={tmp_path / 'dev.csv'}",
            "--learning_rate=1e-3",
            "--num_train_epochs=2",
            "--report_to=none",
        ],
        tmp_path / "run",
        cache,
    )
    assert proc.returncode == 0, last_line(proc.stderr)
    m = result.metrics
    assert math.isfinite(m["eval/pearson"]) and math.isfinite(m["eval/spearmanr"]) and "eval/accuracy" not in m


@pytest.mark.slow
def test_three_class_task_on_local_jsonl_with_string_labels(tmp_path, cache):
    import random

    rng = random.Random(1)
    names = ["entailment", "neutral", "contradiction"]
    for split, n in (("train", 240), ("dev", 60)):
        with (tmp_path / f"{split}.jsonl").open("w") as fh:
            for _ in range(n):
                y = rng.randrange(3)
                hyp = ["the cat sat", "a dog may run", "nobody sat at all"][y]
                fh.write(json.dumps({"premise": "the cat sat on the mat", "hypothesis": hyp, "label": names[y]}) + "\n")
    run_dir = tmp_path / "run"
    proc, result = run_agent(
        [
            "--model_name_or_path=tiny-bert",
            "--task_name=mnli",
            "--learning_rate=2e-3",
            f"--train_file={tmp_path / 'train.jsonl'}",
            f"--validation_file={tmp_path / 'dev.jsonl'}",
            "--num_train_epochs=3",
            "--per_device_train_batch_size=16",
        ],
        run_dir,
        cache,
    )
    assert proc.returncode == 0, last_line(proc.stderr)
    assert result.metrics["eval/accuracy"] > 0.9  # the hypothesis alone gives the class away
    id2label = read_summary(run_dir)["config"]["id2label"]
    assert sorted(id2label.values()) == sorted(names)


@pytest.mark.slow
def test_hub_model_offline_is_one_clear_line(tmp_path, cache):
    proc, result = run_agent(
        ["--model_name_or_path=bert-base-uncased", "--task_name=mrpc-mini", "--report_to=none"],
        tmp_path / "run",
        cache,
        HF_HOME=str(tmp_path / "hf"),
        HF_HUB_OFFLINE="1",
    )
    assert proc.returncode == 1
    line = last_line(proc.stderr)
    assert "'bert-base-uncased'" in line and "hub is unreachable" in line and "tiny-bert" in line
    assert "Traceback" not in proc.stderr
    assert result.status == "failed" and result.reason in line


@pytest.mark.slow
def test_wandb_disabled_mode_runs(tmp_path, cache):
    proc, result = run_agent(
        [*QUICK, "--max_steps=3", "--eval_strategy=no"], tmp_path / "run", cache, WANDB_MODE="disabled"
    )
    assert proc.returncode == 0, last_line(proc.stderr)
    assert result.global_step == 3 and "eval/accuracy" in result.metrics
