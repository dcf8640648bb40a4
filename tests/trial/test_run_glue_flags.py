"""run_glue's command line, pasted into `python -m agent`: each flag taken with its meaning, or refused in
one line that names the fix; and the HF + W&B tutorial's own line, run as it is (model and data swapped
for the offline ones)."""

from __future__ import annotations

import fcntl
import math
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.trial.argv import parse_argv
from agent.trial.config import ConfigError, build_config
from agent.trial.draws import check_draws
from agent.trial.flags import FLAGS
from agent.trial.mrpc_mini import TRAIN_SIZE
from agent.trial.reference import help_text
from agent.trial.result import TrialResult
from tests.trial.test_train import ROOT, run_agent

# The tutorial's line, with bert-base-uncased / MRPC swapped for the built-in offline model and data.
TUTORIAL = (
    "--model_name_or_path tiny-bert --task_name MRPC-MINI --do_train --do_eval "
    "--max_seq_length 256 --per_device_train_batch_size 32 --learning_rate 2e-4 --num_train_epochs 3 "
    "--output_dir /tmp/MRPC/ --overwrite_output_dir --logging_steps 50"
)


def cfg(line: str):
    return build_config(parse_argv(shlex.split(line)))


def refusal(line: str) -> str:
    with pytest.raises(ConfigError) as err:
        cfg(line)
    msg = str(err.value)
    assert "\n" not in msg and "=VALUE" not in msg, msg  # one line, and never a hint that leads to another error
    return msg


@pytest.fixture
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sweepkit-cache")


def test_the_tutorials_line_means_what_it_means_to_run_glue():
    c = cfg(TUTORIAL)
    assert (c.model_name_or_path, c.task_name, c.output_dir) == ("tiny-bert", "mrpc-mini", "/tmp/MRPC/")
    assert (c.max_seq_length, c.per_device_train_batch_size, c.num_train_epochs) == (256, 32, 3.0)
    assert (c.learning_rate, c.logging_steps, c.eval_strategy) == (2e-4, 50, "epoch")
    assert c.max_steps == -1 and c.max_train_samples is None  # all of it: three epochs of the whole set


@pytest.mark.parametrize(
    "line, want",
    [
        ("--do_train --do_eval --overwrite_output_dir --overwrite_cache", {}),
        ("--do_predict False --push_to_hub false", {}),
        ("--fp16", {"precision": "fp16"}),
        ("--bf16 --seed 3", {"precision": "bf16", "seed": 3}),
        ("--fp16 False", {"precision": "auto"}),
        ("--no_cuda", {"use_cpu": True}),
        ("--use_cpu", {"use_cpu": True}),
        ("--evaluation_strategy steps --eval_steps 5", {"eval_strategy": "steps", "eval_steps": 5}),
        ("--per_gpu_train_batch_size 8 --per_gpu_eval_batch_size 16", {"per_device_train_batch_size": 8}),
        ("--train_sampling_strategy random", {"group_by_length": False}),
        ("--train_sampling_strategy group_by_length", {"group_by_length": True}),
        ("--task_name MRPC --lr_scheduler_type Cosine", {"task_name": "mrpc", "lr_scheduler_type": "cosine"}),
    ],
)
def test_each_flag_is_taken_with_its_meaning(line, want):
    c = cfg(line)
    assert {k: getattr(c, k) for k in want} == want


@pytest.mark.parametrize(
    "line, names",
    [
        ("--do_train=false", ("do_train", "always trains")),
        ("--do_eval False", ("do_eval", "evaluate")),
        ("--do_predict", ("do_predict", "drop it")),
        ("--test_file t.csv", ("test_file", "predictions")),
        ("--overwrite_output_dir=false", ("overwrite_output_dir", "fresh output_dir")),
        ("--cache_dir /x", ("cache_dir", "HF_HOME")),
        ("--push_to_hub", ("push_to_hub", "upload nothing")),
        ("--fp16 --bf16", ("bf16", "precision='fp16' (from fp16)")),
        ("--precision fp32 --fp16", ("fp16", "precision='fp32' is given too")),
        ("--evaluation_strategy steps --eval_strategy epoch", ("evaluation_strategy", "keep one")),
        ("--train_sampling_strategy sequential", ("sequential", "group_by_length or random")),
    ],
)
def test_each_refusal_is_one_line_naming_the_flag_and_the_fix(line, names):
    msg = refusal(line)
    for needle in names:
        assert needle in msg, msg


def test_a_bare_unknown_flag_is_an_unknown_key_and_only_a_known_key_is_told_to_take_a_value():
    assert "unknown key 'do_trian'; did you mean do_train" in refusal("--do_trian --do_eval")  # was: "has no value"
    assert "unknown key 'gradient_accumulation_steps'" in refusal("--gradient_accumulation_steps 2")
    for line, key in (
        ("--learning_rate --do_train", "learning_rate"),
        ("--evaluation_strategy", "evaluation_strategy"),
    ):
        assert f"write --{key}=VALUE" in str(pytest.raises(ConfigError, cfg, line).value)


def test_help_names_every_flag_and_a_sweep_may_set_them_too():
    text = help_text()
    assert all(f"--{name}:" in text for name in FLAGS)
    assert check_draws("evaluation_strategy", ["steps", "epoch"], None, None, True) == []
    assert check_draws("fp16", [True, False], None, None, True) == []
    assert check_draws("do_train", [True], None, None, True) == []
    (where, problem, _), *_ = check_draws("do_train", [False], None, None, True)
    assert where == "value" and "always trains" in problem
    assert check_draws("per_gpu_train_batch_size", [0], None, None, True)[0][1].startswith(
        "per_device_train_batch_size=0 is out of range"
    )


@pytest.mark.slow
def test_a_swept_number_yaml_read_as_text_is_what_training_used(tmp_path, cache):
    """YAML 1.1 reads `2e-4` as the string '2e-4', and W&B locks it so; the trial reads it as 0.0002 and must
    not then call the locked '2e-4' a value training never used (it did: it is the same number)."""
    params = {"learning_rate": "2e-4", "task_name": "MRPC-MINI", "model_name_or_path": "tiny-bert"}
    params |= {"max_steps": 2, "max_train_samples": 32, "max_eval_samples": 16, "per_device_train_batch_size": 8}
    param_file = tmp_path / "params.yaml"
    param_file.write_text(yaml.safe_dump({k: {"value": v} for k, v in params.items()}))
    proc, result = run_agent(
        [], tmp_path / "run", cache, WANDB_SWEEP_ID="s", WANDB_RUN_ID="textnum1", WANDB_SWEEP_PARAM_PATH=str(param_file)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert result.status == "finished"
    assert result.config["learning_rate"] == 2e-4 and result.config["task_name"] == "mrpc-mini"


@pytest.mark.slow
def test_the_tutorials_line_runs_verbatim(tmp_path, cache):
    """The line as the tutorial gives it, its /tmp/MRPC/ output folder included: three epochs of mrpc-mini."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "SWEEPKIT_"))}
    env |= {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "SWEEPKIT_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    env |= {"SWEEPKIT_HOME": str(tmp_path / ".sweepkit"), "TOKENIZERS_PARALLELISM": "false"}
    # One thread: beside the suite's other workers, torch's default (a thread per core) fights them for
    # the cores and takes five times as long; the line itself is untouched.
    env["OMP_NUM_THREADS"] = "1"
    out = Path("/tmp/MRPC")
    with open("/tmp/MRPC.sweepkit-test.lock", "w") as lock:  # two runs of this test share the tutorial's folder
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            [sys.executable, "-m", "agent", *shlex.split(TUTORIAL)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        try:
            assert proc.returncode == 0, proc.stderr[-3000:]
            result = TrialResult.read(out)
        finally:  # the machine keeps /tmp: leave no tutorial folder behind
            shutil.rmtree(out, ignore_errors=True)
    assert result.status == "finished" and result.output_dir == "/tmp/MRPC/"
    assert result.config["max_seq_length"] == 256 and result.config["learning_rate"] == 2e-4
    # 3 epochs of the whole training set at batch 32, evaluated after each epoch
    assert result.global_step == 3 * math.ceil(TRAIN_SIZE / 32)
    assert 0.0 <= result.metrics["eval/accuracy"] <= 1.0
