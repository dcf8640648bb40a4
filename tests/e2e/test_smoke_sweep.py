"""End to end with the real trial runner (`python -m agent`, tiny offline models, CPU).

A smoke-like grid (sweeps/smoke.yaml's shape, smaller) through `sweepkit sweep` + `agent`:
real Trainer fine-tunes as children, metrics read back from their offline W&B runs.
"""

from __future__ import annotations

import time

import pytest

from agent.trial.result import TrialResult
from tests.helpers import REPO, env_for, make_sweep, sk, status

SMOKE_LIKE = """
    command: ["${env}", "${interpreter}", "-m", "agent", "${args}"]
    method: grid
    metric: {name: eval/accuracy, goal: maximize}
    parameters:
      model_name_or_path: {values: [tiny-bert, tiny-distilbert]}
      task_name: {value: mrpc-mini}
      learning_rate: {value: 0.001}
      max_steps: {value: 8}
      max_train_samples: {value: 64}
      max_eval_samples: {value: 32}
      per_device_train_batch_size: {value: 8}
      eval_strategy: {value: steps}
      eval_steps: {value: 4}
      logging_steps: {value: 4}
"""


@pytest.mark.slow
def test_smoke_like_sweep_runs_real_trials_offline(tmp_path):
    env = env_for(
        tmp_path,
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(REPO),
        SWEEPKIT_CACHE=str(tmp_path / "cache"),
    )
    sid = make_sweep(tmp_path, SMOKE_LIKE, env=env)
    t0 = time.monotonic()
    res = sk(tmp_path, "agent", sid, "--count", "2", env=env, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    took = time.monotonic() - t0
    runs = status(tmp_path, sid, env=env)["runs"]
    assert [r["config"]["model_name_or_path"] for r in runs] == ["tiny-bert", "tiny-distilbert"]
    for run in runs:
        assert run["state"] == "finished", run
        assert 0.0 <= run["summary"]["eval/accuracy"] <= 1.0
        result = TrialResult.read(run["run_dir"])
        assert result.status == "finished"
        assert result.config["model_name_or_path"] == run["config"]["model_name_or_path"]
        assert result.config["max_steps"] == 8 and result.global_step == 8
    print(f"smoke-like sweep: 2 real trials in {took:.1f} s wall")
