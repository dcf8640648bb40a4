"""Warm trials under `wandb.agent(function=...)`, offline: a fake agent keeps wandb 0.31's contract
(wandb/agents/pyagent.py `_run_job`), and the trial must open exactly one run, with the job's id
and locked params, without tearing down the setup the agent's heartbeats use."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import env_for

# Installs a fake wandb.agent that does, per job, what pyagent's Agent._run_job does before and after
# calling the function; counts wandb.init calls per job. Shared by the fast and the slow test.
FAKE_AGENT = textwrap.dedent("""
    import os, wandb
    from wandb.sdk import wandb_setup
    from wandb.sdk.lib import config_util

    JOBS = [("job00001", {"x": 1, "nested": {"a": 2}}), ("job00002", {"x": 3, "nested": {"a": 4}})]
    INITS, REPORT = [], []
    _init = wandb.init

    def counting_init(*a, **kw):
        run = _init(*a, **kw)
        INITS.append(run.id)
        return run

    wandb.init = counting_init

    def fake_agent(sweep_id, function=None, entity=None, project=None, count=None, **kw):
        os.environ.setdefault("WANDB_DIR", os.path.abspath(os.getcwd()))       # pyagent Agent.__init__
        for run_id, params in JOBS[:count]:
            path = os.path.join(os.environ["WANDB_DIR"], "wandb", f"sweep-{sweep_id}", f"config-{run_id}.yaml")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.environ["WANDB_RUN_ID"] = run_id
            os.environ["WANDB_SWEEP_PARAM_PATH"] = path
            config_util.save_config_file_from_dict(path, {k: {"value": v} for k, v in params.items()})
            os.environ["WANDB_SWEEP_ID"] = sweep_id
            wandb.teardown()
            api_setup = wandb_setup.singleton()   # what wandb.Api() does first (its heartbeats use it)
            before = len(INITS)
            try:
                function()
            finally:
                wandb.finish()
                for k in ("WANDB_RUN_ID", "WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH"):
                    os.environ.pop(k, None)
            REPORT.append({"run_id": run_id, "inits": INITS[before:],
                           "setup_kept": wandb_setup._singleton is api_setup})

    wandb.agent = fake_agent


    class FakeApi:  # the sweep's config, as W&B's API would return it
        def __init__(self, config):
            self.config = config

        def sweep(self, path):
            from types import SimpleNamespace
            return SimpleNamespace(id=path.split("/")[-1], entity="ent", project="proj", config=self.config,
                                   state="RUNNING", name="s")
""")

FAST = FAKE_AGENT + textwrap.dedent("""
    import json, sys
    from agent.backends.wandb import WandbBackend
    from tests.helpers import run_in_process

    seen = []

    def trial(spec):
        run = wandb.init()
        run.config.update({"x": 99}, allow_val_change=True)     # locked by the sweep: ignored
        run.log({"loss": float(run.config["x"])})
        seen.append({"spec_run_id": spec.run_id, "params": spec.params, "run_dir": spec.run_dir,
                     "run_id": run.id, "config": {k: run.config[k] for k in ("x", "nested")},
                     "mode": os.environ.get("WANDB_MODE")})
        run.finish()
        return {"loss": float(run.config["x"])}

    code = run_in_process(WandbBackend(api=FakeApi({"method": "grid", "parameters": {}})), "ent/proj/sw1", trial,
                          count=2)
    print(json.dumps({"code": code, "report": REPORT, "seen": seen}))
""")


def _run(tmp_path, script: str, timeout: float, **extra: str) -> dict:
    env = env_for(tmp_path, **extra)
    env.pop("WANDB_DIR", None)
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_each_job_opens_exactly_one_run_with_the_agents_id_and_locked_params(tmp_path):
    out = _run(tmp_path, FAST, 120)
    assert out["code"] == 0
    assert [r["inits"] for r in out["report"]] == [["job00001"], ["job00002"]]
    assert all(r["setup_kept"] for r in out["report"])
    first, second = out["seen"]
    assert first["spec_run_id"] == first["run_id"] == "job00001"
    assert first["params"] == {"x": 1, "nested": {"a": 2}} == first["config"]
    assert second["params"] == {"x": 3, "nested": {"a": 4}} == second["config"]
    assert first["run_dir"] == str(tmp_path / "wandb" / "sweep-sw1" / "job00001")
    assert first["mode"] == "offline"  # the user's WANDB_MODE is kept, never replaced


WARM = FAKE_AGENT + textwrap.dedent("""
    import json, sys
    from agent.backends.wandb import WandbBackend
    from agent.runners.warm import WarmRunner
    from tests.helpers import run_in_process
    cmd = ["${env}", "${interpreter}", "-m", "agent", "--model_name_or_path=tiny-bert",
           "--task_name=mrpc-mini", "--max_train_samples=32", "--max_eval_samples=16", "--max_steps=2",
           "--per_device_train_batch_size=16", "${args}"]
    JOBS[:] = [("job00001", {"seed": 1, "learning_rate": 0.001}), ("job00002", {"seed": 2, "learning_rate": 0.002})]
    fn = WarmRunner()
    api = FakeApi({"method": "grid", "metric": {"name": "eval/loss"}, "command": cmd})
    code = run_in_process(WandbBackend(api=api), "ent/proj/sw1", fn, count=2)
    print(json.dumps({"code": code, "report": REPORT, "status": fn.last_status,
                      "config": fn.last_result.config, "run_id": fn.last_result.run_id}))
""")


@pytest.mark.slow
def test_warm_trials_under_wandb_agent_open_one_run_each(tmp_path):
    out = _run(tmp_path, WARM, 300, SWEEPKIT_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    assert out["code"] == 0 and out["status"] == "finished", out
    # before the fix: two inits per job (the backend's, then run_trial's reinit="finish_previous")
    assert [r["inits"] for r in out["report"]] == [["job00001"], ["job00002"]]
    assert all(r["setup_kept"] for r in out["report"])
    assert out["run_id"] == "job00002"
    assert (out["config"]["seed"], out["config"]["learning_rate"]) == (2, 0.002)
    from agent.runlog import read_summary

    info = read_summary(tmp_path / "wandb" / "sweep-sw1" / "job00002")
    assert info["run_id"] == "job00002" and info["config"]["learning_rate"] == 0.002
