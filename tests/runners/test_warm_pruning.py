"""Warm (in-process) trials are prunable: logged rows reach the local engine's hyperband pruner and a
pruned trial stops itself at the next step; the worker goes on with the next trial."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.backends.base import FINISHED, PRUNED
from agent.backends.local import LocalBackend
from agent.runners.worker_status import WorkerStatus
from agent.states import RunState
from agent.trial.result import TrialResult
from agent.trial.train import wandb_row
from tests.helpers import FunctionRunner, env_for, make_sweep, run_in_process, status

HYPERBAND = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},
    "parameters": {"x": {"values": [2, 100, 1]}},
}
STEPS = 12


class Curve:
    """An in-process trial logging loss = x * (STEPS - i); it stops when the engine says so."""

    def __init__(self):
        self.steps: dict[float, int] = {}

    def __call__(self, spec, control):
        x = spec.params["x"]
        for i in range(STEPS):
            self.steps[x] = i + 1
            loss = float(x * (STEPS - i))
            if control.on_row is not None:
                control.on_row("trial", {"loss": loss, "_step": i})
                if control.stop_reason():
                    break
        return {"loss": loss}


def test_wandb_row_uses_wandb_callback_names():
    assert wandb_row({"eval_loss": 0.4, "loss": 0.7, "learning_rate": 1e-3}, 6) == {
        "eval/loss": 0.4,
        "train/loss": 0.7,
        "train/learning_rate": 1e-3,
        "_step": 6,
    }


def test_in_process_trial_is_pruned_and_the_next_one_runs_whole(home):
    b = LocalBackend()
    sid = b.create_sweep(HYPERBAND)
    fn = Curve()
    assert run_in_process(b, sid, FunctionRunner(fn, report_rows=True)) == 0
    runs = {r.config["x"]: r for r in b.runs(sid)}
    assert {x: r.state for x, r in runs.items()} == {2: FINISHED, 100: PRUNED, 1: FINISHED}
    assert "hyperband" in runs[100].reason and "band 2" in runs[100].reason
    # stopped right at band 2 (its 2nd value, W&B's 1-based count); the runs before and after logged every step
    assert fn.steps == {2: STEPS, 100: 2, 1: STEPS}
    assert runs[1].summary["loss"] == 1.0


def test_a_function_that_does_not_report_is_never_pruned(home):
    b = LocalBackend()
    sid = b.create_sweep(HYPERBAND)
    assert run_in_process(b, sid, lambda spec: {"loss": float(spec.params["x"])}) == 0
    assert {r.state for r in b.runs(sid)} == {FINISHED}


# ---- a real warm worker ------------------------------------------------------------------------

TINY = [
    "--model_name_or_path=tiny-bert",
    "--task_name=mrpc-mini",
    "--max_train_samples=96",
    "--max_eval_samples=64",
    "--per_device_train_batch_size=16",
    "--max_steps=16",
    "--eval_strategy=steps",
    "--eval_steps=2",
    "--logging_steps=2",
    "--seed=3",
]


@pytest.mark.slow
def test_warm_worker_prunes_a_bad_trial_and_finishes_the_next(tmp_path):
    cmd = ", ".join(f'"{a}"' for a in ["${env}", "${interpreter}", "-m", "agent", *TINY, "${args}"])
    e = env_for(tmp_path, SWEEPKIT_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    sid = make_sweep(
        tmp_path,
        f"""
        method: grid
        metric: {{name: eval/loss, goal: minimize}}
        early_terminate: {{type: hyperband, min_iter: 1, eta: 3}}
        command: [{cmd}]
        parameters:
          learning_rate: {{values: [0.001, 0.5, 0.0009]}}
    """,
        env=e,
    )
    res = subprocess.run(
        [sys.executable, "-m", "agent.runners.pool_worker", sid, "--warm", "--status", str(tmp_path / "status.json")],
        cwd=tmp_path,
        env=e,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "running cold" not in res.stdout
    runs = {r["config"]["learning_rate"]: r for r in status(tmp_path, sid, env=e)["runs"]}
    results = {lr: TrialResult.read(r["run_dir"]) for lr, r in runs.items()}
    assert {lr: r["state"] for lr, r in runs.items()} == {0.001: "finished", 0.5: "pruned", 0.0009: "finished"}, {
        lr: (r["state"], r["reason"]) for lr, r in runs.items()
    }
    assert "hyperband" in runs[0.5]["reason"]
    # the worker's status file, read back as the launcher reads it, counts the pruned trial as pruned
    worker = WorkerStatus.from_json((tmp_path / "status.json").read_text())
    assert worker.counts == {RunState.FINISHED: 2, RunState.PRUNED: 1} and worker.describe() == "2 finished, 1 pruned"
    # the pruned trial stopped itself at the step its band's value was logged, and closed its run cleanly
    assert results[0.5].status == "pruned" and results[0.5].global_step == 2  # its 1st eval: band 1
    # the next trial in the same process ran to the end, unpoisoned
    assert results[0.0009].status == "finished" and results[0.0009].global_step == 16
    assert results[0.0009].metrics["eval/loss"] < results[0.5].metrics["eval/loss"]
    pids = {
        json.loads((Path(r["run_dir"]) / "agent.log").read_text().split("pid ")[1].split("]")[0]) for r in runs.values()
    }
    assert len(pids) == 1
