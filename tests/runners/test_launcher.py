"""The packing launcher: pure choices, then real workers on CPU (`--workers`)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil
import pytest

from agent.runners import launcher
from agent.runners.launcher import Launcher, LaunchError, Slot, choose_per_gpu, parse_gpus, parse_per_gpu
from agent.runners.worker_status import WorkerStatus, WorkerStatusError
from agent.states import RunState
from agent.trial.result import TrialResult
from tests.helpers import env_for, make_sweep, status, sweep_yaml, wait_until

# ---- pure ----------------------------------------------------------------------------------


def test_parse_gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # no inherited grant: the machine's GPUs
    assert parse_gpus("all", 4) == ["0", "1", "2", "3"]
    assert parse_gpus("2,0,2", 4) == ["2", "0"]
    with pytest.raises(LaunchError, match="no GPU 5"):
        parse_gpus("0,5", 2)
    with pytest.raises(LaunchError, match="--workers"):
        parse_gpus("all", 0)
    with pytest.raises(LaunchError, match="comma-separated"):
        parse_gpus("gpu0", 2)


def test_parse_per_gpu():
    assert parse_per_gpu("auto") is None and parse_per_gpu("3") == 3 and parse_per_gpu(2) == 2
    for bad in ("0", "x"):
        with pytest.raises(LaunchError):
            parse_per_gpu(bad)


def test_choose_per_gpu_is_limited_by_memory_cpu_or_cap():
    # 4 GB peak -> 4*1.2 + 1 = 5.8 GB per worker; 20 GB free beside 1 running worker -> 1 + 3
    n, why = choose_per_gpu(4096, 20_000, running=1, cpu_count=64, n_gpus=1, cap=8)
    assert n == 4 and "GPU memory" in why and "4,096 MB" in why
    n, why = choose_per_gpu(1000, 200_000, running=1, cpu_count=6, n_gpus=2, cap=8)
    assert n == 3 and "CPU cores" in why
    n, why = choose_per_gpu(1000, 200_000, running=1, cpu_count=64, n_gpus=1, cap=8)
    assert n == 8 and "cap" in why
    n, why = choose_per_gpu(None, 80_000, running=1)
    assert n == 1 and "no GPU peak" in why
    assert choose_per_gpu(90_000, 10, running=1, cpu_count=8)[0] == 1  # never below the worker already there


def test_gpu_workers_are_pinned_and_auto_fills_the_gpu(tmp_path, monkeypatch):
    la = Launcher("abc", gpus=["0", "1"], per_gpu=None, console=None, log_dir=tmp_path, live=False)
    assert [s.gpu for s in la.slots] == ["0", "1"]  # auto starts one per GPU
    monkeypatch.setenv("WANDB_SERVICE", "3-1-tcp-localhost-1")  # the launcher's own wandb, if it has one
    envs = [la._env(s) for s in la.slots]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1"] and not any("WANDB_SERVICE" in e for e in envs)
    assert all(e["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID" for e in envs)
    started: list[Slot] = []
    monkeypatch.setattr(la, "_start", started.append)
    monkeypatch.setattr(launcher, "gpu_memory_mb", lambda i: (30_000.0, 80_000.0))
    monkeypatch.setenv(launcher.MAX_PER_GPU_ENV, "8")
    monkeypatch.setattr(launcher.os, "cpu_count", lambda: 64)
    la._maybe_scale()
    assert started == [] and la.auto_pending  # no trial finished yet: wait
    la.slots[0].info = WorkerStatus(pid=1, counts=Counter({RunState.FINISHED: 1}), peak_gpu_memory_mb=4096.0)
    la._maybe_scale()
    assert not la.auto_pending
    # 4096 * 1.2 + 1024 = 5939 MB a worker; 30000 // 5939 = 5 more beside the one running = 6 per GPU
    assert [s.gpu for s in started] == ["0"] * 5 + ["1"] * 5
    assert any("workers per GPU" in n for n in la.notes)


def test_trials_learn_how_many_agents_share_their_gpu(tmp_path, monkeypatch):
    from agent.runners.gpus import publish_gpu_agents
    from agent.trial.result import GPU_AGENTS_ENV, gpu_agents

    la = Launcher("abc", gpus=["0", "1"], per_gpu=3, console=None, log_dir=tmp_path, live=False)
    env = la._env(la.slots[0])
    monkeypatch.setenv(GPU_AGENTS_ENV, env[GPU_AGENTS_ENV])
    assert gpu_agents() is None  # no file yet: the trial assumes it has the GPU to itself
    written: dict = {}
    publish_gpu_agents(tmp_path, [s.gpu for s in la.slots], written)
    assert gpu_agents() == 3 and written == {"0": 3, "1": 3}
    publish_gpu_agents(tmp_path, ["0", "1", "1"], written)  # two workers on GPU 0 ended
    assert gpu_agents() == 1 and (tmp_path / "gpu-1.agents").read_text() == "2\n"
    publish_gpu_agents(tmp_path, [None, None], written)  # CPU workers share no GPU
    assert gpu_agents() is None  # 0 agents reads as "not known"


def test_the_worker_status_file_reads_back_and_the_summary_names_each_state(tmp_path):
    from agent.backends.base import TrialSpec
    from agent.runners.pool_worker import StatusFile

    la = Launcher("abc", gpus=None, per_gpu=None, workers=1, console=None, log_dir=tmp_path, live=False)
    sink = StatusFile(str(la.slots[0].status), "loss", "minimize")
    for i, state in enumerate(["finished", "pruned", "pruned"]):
        spec = TrialSpec("abc", f"r{i}", {}, str(tmp_path / f"r{i}"), i)
        sink.started(spec)
        sink.finished(spec, state, 0.5 if state == "finished" else 0.9, "hyperband" if state == "pruned" else None)
    back = WorkerStatus.from_json(la.slots[0].status.read_text())
    assert back == sink.status
    assert back.counts == {RunState.FINISHED: 1, RunState.PRUNED: 2} and back.describe() == "1 finished, 2 pruned"
    la._read_status()
    assert la.summary() == "sweep abc: 1 workers, 1 finished, 2 pruned, 0 restarts, best loss=0.5 (run r0)"


def test_a_worker_status_file_from_a_newer_worker_is_read_for_what_it_shares(tmp_path):
    newer = {"format": 2, "pid": 7, "phase": "idle", "counts": {"finished": 2, "paused": 1}, "gpu_temp_c": 61}
    got = WorkerStatus.from_json(json.dumps(newer))
    assert got.pid == 7 and got.format == 2 and got.describe() == "2 finished, 1 crashed"  # an unknown state
    for torn in ('{"pid": 7, "pha', "[]", "{}"):
        with pytest.raises(WorkerStatusError):
            WorkerStatus.from_json(torn)


# ---- real workers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("sweepkit-cache"))


def run_launcher(tmp: Path, e: dict, sweep_id: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`sweepkit agent SWEEP_ID --workers N ...`, the way users start the launcher."""
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "agent", sweep_id, *args],
        cwd=tmp,
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_two_workers_run_a_grid_to_completion_each_point_once(tmp_path, cache):
    e = env_for(tmp_path, SWEEPKIT_CACHE=cache, OMP_NUM_THREADS="1")
    sid = make_sweep(
        tmp_path,
        sweep_yaml("  seed: {values: [1, 2, 3, 4]}\n  learning_rate: {values: [0.001]}\n", ["--max_steps=3"]),
        env=e,
    )
    res = run_launcher(tmp_path, e, sid, "--workers", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    runs = status(tmp_path, sid, env=e)["runs"]
    assert sorted(r["config"]["seed"] for r in runs) == [1, 2, 3, 4]
    assert all(r["state"] == "finished" for r in runs)
    pids = {TrialResult.read(r["run_dir"]).run_id for r in runs}
    assert len(pids) == 4
    for r in runs:  # every trial's own output is in its run's log
        assert "warm worker pid" in (Path(r["run_dir"]) / "agent.log").read_text()
    logs = sorted((tmp_path / ".sweepkit" / "agents" / sid).glob("worker-*.log"))
    assert len(logs) == 2
    # both workers took trials (packing happened) and the view printed every finished run once
    took = [WorkerStatus.from_json(p.with_suffix(".json").read_text()).trials for p in logs]
    assert sum(took) == 4 and min(took) >= 1
    assert res.stdout.count(" finished eval/loss=") == 4
    assert "2 workers, 4 finished, 0 restarts" in res.stdout


@pytest.mark.slow
def test_a_worker_that_cannot_clean_up_is_restarted(tmp_path, cache):
    # A growth limit far below zero makes every repeat trial "unclean" (RSS may also shrink a
    # little between trials): the worker exits 75 and is replaced.
    e = env_for(tmp_path, SWEEPKIT_CACHE=cache, OMP_NUM_THREADS="1", SWEEPKIT_WARM_RSS_GROWTH_MB="-100000")
    sid = make_sweep(tmp_path, sweep_yaml("  seed: {values: [1, 2, 3]}\n", ["--max_steps=2"]), env=e)
    res = run_launcher(tmp_path, e, sid, "--workers", "1")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "restarting (host memory grew" in res.stdout
    assert "1 workers, 3 finished, 1 restarts" in res.stdout
    assert sorted(r["config"]["seed"] for r in status(tmp_path, sid, env=e)["runs"]) == [1, 2, 3]


def _training(tmp: Path, sweep_id: str) -> list[str]:
    """The trials that are inside their training loop now: their worker runs them and their log
    holds a training loss."""
    found = []
    for f in (tmp / ".sweepkit" / "agents" / sweep_id).glob("worker-*.json"):
        with contextlib.suppress(OSError, WorkerStatusError):  # not written yet
            worker = WorkerStatus.from_json(f.read_text())
            log = tmp / ".sweepkit" / "sweeps" / sweep_id / "runs" / str(worker.run_id) / "agent.log"
            if worker.phase == "running" and log.is_file() and "{'loss'" in log.read_text(errors="replace"):
                found.append(str(worker.run_id))
    return found


@pytest.mark.slow
def test_one_ctrl_c_stops_every_worker_cleanly(tmp_path, cache):
    e = env_for(tmp_path, SWEEPKIT_CACHE=cache, OMP_NUM_THREADS="1")
    grid = sweep_yaml("  seed: {values: [1, 2, 3, 4, 5, 6]}\n", ["--max_steps=400", "--logging_steps=2"])
    sid = make_sweep(tmp_path, grid, env=e)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "agent", sid, "--workers", "2"],
        cwd=tmp_path,
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: len(_training(tmp_path, sid)) == 2, timeout=240, what="both workers to be training")
    except AssertionError:
        proc.kill()
        raise
    workers = psutil.Process(proc.pid).children()
    assert len(workers) == 2
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    for w in workers:
        assert not w.is_running() or w.status() == psutil.STATUS_ZOMBIE
    runs = status(tmp_path, sid, env=e)["runs"]
    # the two interrupted trials ended as killed (never left running) and nothing else started
    assert sorted(r["state"] for r in runs) == ["killed", "killed"]
    assert "2 workers, 0 finished, 2 killed, 0 restarts" in out  # the summary says so too
