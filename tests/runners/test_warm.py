"""Warm trials: same metrics as cold, memory released, a crash does not poison the worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.runners.warm import WarmRunner, WarmUnsupported, patched_env, trial_args
from agent.trial.result import TrialResult
from tests.helpers import REPO, env_for, make_sweep, status, sweep_yaml


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("sweepkit-cache"))


def env(tmp: Path, cache: str, **extra) -> dict:
    return env_for(tmp, SWEEPKIT_CACHE=cache, OMP_NUM_THREADS="1", **extra)


def worker(tmp: Path, sweep_id: str, e: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """One warm worker process, exactly as the launcher starts it."""
    status_file = tmp / f"status-{sweep_id}.json"
    return subprocess.run(
        [sys.executable, "-m", "agent.runners.pool_worker", sweep_id, "--warm", "--status", str(status_file), *args],
        cwd=tmp,
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def result_of(run: dict) -> TrialResult:
    return TrialResult.read(run["run_dir"])


# ---- pure ----------------------------------------------------------------------------------


def test_trial_args_takes_what_follows_our_module():
    argv = ["/usr/bin/env", "/x/python", "-m", "agent", "--task_name=mrpc-mini", "--seed=3"]
    assert trial_args(argv) == ["--task_name=mrpc-mini", "--seed=3"]
    main = str(REPO / "agent" / "__main__.py")
    assert trial_args(["python", main, "seed=1"]) == ["seed=1"]
    assert trial_args(["python", "-m", "agent.__main__", '{"seed": 1}']) == ['{"seed": 1}']


def test_foreign_program_is_refused_with_the_fix():
    with pytest.raises(WarmUnsupported, match="--cold"):
        trial_args(["/usr/bin/env", "python", "train.py", "--lr=1"])
    with pytest.raises(WarmUnsupported, match="--cold"):
        trial_args(["python", "-m", "agentx", "--lr=1"])


def test_warm_is_refused_up_front_for_a_foreign_program_or_where_the_backend_cannot_prune_in_process():
    from agent.backends.local import LocalBackend
    from agent.backends.wandb import WandbBackend
    from agent.runners.pool_worker import warm_unsupported

    ours = {
        "method": "random",
        "command": ["${env}", "${interpreter}", "-m", "agent", "${args}"],
        "early_terminate": {"type": "hyperband", "min_iter": 1},
    }
    assert warm_unsupported(LocalBackend(), ours) is None
    assert "hyperband" in warm_unsupported(WandbBackend(), ours)
    assert "--cold" in warm_unsupported(LocalBackend(), {"method": "grid", "program": "train.py"})
    WarmRunner.check(ours)


def test_patched_env_restores_set_and_unset_keys(monkeypatch):
    monkeypatch.setenv("SK_A", "old")
    monkeypatch.delenv("SK_B", raising=False)
    with patched_env({"SK_A": "new", "SK_B": "b"}):
        assert os.environ["SK_A"] == "new" and os.environ["SK_B"] == "b"
    assert os.environ["SK_A"] == "old" and "SK_B" not in os.environ


# ---- real trials ---------------------------------------------------------------------------


@pytest.mark.slow
def test_warm_trial_matches_the_same_trial_run_cold(tmp_path, cache):
    e = env(tmp_path, cache)
    # warm: the target point (seed 3) runs second, in a process that already ran a trial
    warm_id = make_sweep(tmp_path, sweep_yaml("  seed: {values: [5, 3]}\n", ["--max_steps=12"]), env=e)
    res = worker(tmp_path, warm_id, e)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    cold_id = make_sweep(tmp_path, sweep_yaml("  seed: {values: [3]}\n", ["--max_steps=12"]), env=e)
    res = subprocess.run(
        [sys.executable, "-m", "agent.cli", "agent", cold_id],
        cwd=tmp_path,
        env=e,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    warm_run = next(r for r in status(tmp_path, warm_id, env=e)["runs"] if r["config"]["seed"] == 3)
    cold_run = status(tmp_path, cold_id, env=e)["runs"][0]
    assert warm_run["state"] == cold_run["state"] == "finished"
    warm, cold = result_of(warm_run), result_of(cold_run)
    assert warm.global_step == cold.global_step == 12
    for key in ("eval/loss", "eval/accuracy", "eval/f1"):
        assert warm.metrics[key] == pytest.approx(cold.metrics[key], rel=1e-5, abs=1e-6), key
    # W&B saw the same locked config both ways (the run's own log, not our bookkeeping)
    assert {k: warm_run["config"].get(k) for k in ("seed", "learning_rate", "max_steps")} == {
        k: cold_run["config"].get(k) for k in ("seed", "learning_rate", "max_steps")
    }
    # the warm trial's output went to its own run's agent.log, like a cold child's
    assert "trial" in (Path(warm_run["run_dir"]) / "agent.log").read_text()


MEMORY_SCRIPT = """
import json, os, sys
from agent.backends import get_backend
from agent.runners.warm import WarmRunner
from tests.helpers import run_in_process
b = get_backend("local")
sid = sys.argv[1]
fn = WarmRunner()
run_in_process(b, sid, fn)
print(json.dumps({"rss": fn.rss_history, "restart": fn.restart_reason, "overhead": fn.overhead_s}))
"""


@pytest.mark.slow
def test_host_memory_does_not_grow_over_consecutive_warm_trials(tmp_path, cache):
    n = 14
    e = env(tmp_path, cache)
    sid = make_sweep(tmp_path, sweep_yaml(f"  seed: {{values: {list(range(1, n + 1))}}}\n", ["--max_steps=3"]), env=e)
    res = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, sid], cwd=tmp_path, env=e, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    rss = out["rss"]
    assert len(rss) == n and out["restart"] is None
    # After the caches fill (first trials), a leak of even ~5 MB per trial would show as > 40 MB here.
    growth = max(rss[3:]) - rss[2]
    assert growth < 40, f"RSS grew {growth:.1f} MB from trial 3 to {n}: {[round(x) for x in rss]}"


@pytest.mark.slow
def test_a_crashed_trial_does_not_poison_the_worker(tmp_path, cache):
    e = env(tmp_path, cache)
    params = "  inject_failure: {values: [exception, oom, nan, none]}\n"
    sid = make_sweep(tmp_path, sweep_yaml(params, ["--max_steps=6", "--seed=3", "--logging_steps=1"]), env=e)
    res = worker(tmp_path, sid, e)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    runs = {r["config"]["inject_failure"]: r for r in status(tmp_path, sid, env=e)["runs"]}
    assert {k: runs[k]["state"] for k in runs} == {
        "exception": "failed",
        "oom": "failed",
        "nan": "failed",
        "none": "finished",
    }
    assert "injected failure" in runs["exception"]["reason"]
    assert "out of memory" in runs["oom"]["reason"].lower()
    # the clean trial after three failures gives what the same trial gives alone in a fresh worker
    alone = make_sweep(
        tmp_path,
        sweep_yaml("  inject_failure: {values: [none]}\n", ["--max_steps=6", "--seed=3", "--logging_steps=1"]),
        env=e,
    )
    assert worker(tmp_path, alone, e).returncode == 0
    fresh = result_of(status(tmp_path, alone, env=e)["runs"][0]).metrics
    after = result_of(runs["none"]).metrics
    assert after["eval/loss"] == pytest.approx(fresh["eval/loss"], rel=1e-5)


def test_a_warm_worker_lists_the_installed_packages_once(monkeypatch):
    import wandb.util

    from agent.runners import warm

    calls = []

    def listing():
        calls.append(1)
        yield from ("pkg-a", "pkg-b")

    monkeypatch.setattr(wandb.util, "working_set", listing)
    warm._memoize_working_set()
    warm._memoize_working_set()  # a second trial does not wrap it again
    assert [list(wandb.util.working_set()) for _ in range(3)] == [["pkg-a", "pkg-b"]] * 3
    assert len(calls) == 1


def test_a_warm_trial_stopped_for_the_sweeps_cancel_is_killed_not_pruned(tmp_path, monkeypatch):
    import yaml

    from agent.backends.base import TrialControl, TrialSpec
    from agent.backends.outcome import outcome
    from agent.backends.stopping import cancelled
    from agent.states import RunState

    why = cancelled("`sweepkit sweep --cancel` by me@here")
    asked: list = []

    def run_trial(cfg, report=None, fresh=True, lean=True):  # stands in for the training loop
        asked.append(report({"loss": 1.0}))  # the loop asks at its first logged row, and stops
        return TrialResult(status=RunState.PRUNED, reason=asked[-1], metrics={"loss": 1.0})

    monkeypatch.setattr(WarmRunner, "_run", staticmethod(run_trial))
    monkeypatch.setattr(WarmRunner, "_check_health", lambda self, result: None)
    config = yaml.safe_load(sweep_yaml("  seed: {values: [1]}\n"))
    spec = TrialSpec("s", "r1", {"seed": 1}, str(tmp_path / "r1"))
    control = TrialControl(on_row=lambda source, row: None, stop_reason=lambda: why)
    ended = WarmRunner(capture_output=False)(spec, config, control)
    assert asked == [why] and ended.stopped == why and ended.exit_code is None
    state, _, reason = outcome(
        metric="loss", exit_code=ended.exit_code, stopped=ended.stopped, run_info={}, log_reason=None
    )
    assert (state, reason) == (RunState.KILLED, why)
