"""The scheduler's stops with real processes, without a cluster: SIGTERM (scancel, preemption, the
time limit) and the time-limit warning (USR1) reach a plain agent, or the launcher and its
workers, as SLURM delivers them; each running trial is recorded `preempted` with the reason, its
point goes back at once, the agent exits 143, and a later agent runs every point exactly once.
(On the real scheduler: tests/e2e/test_slurm.py.)"""

from __future__ import annotations

import contextlib
import signal
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.helpers import TINY, env_for, make_sweep, records, sk, sk_popen, status, wait_until

pytestmark = pytest.mark.slow

# Says it started (a `started-<a>` file in GATE_DIR), waits for a `go` file there, records its point.
GATED = textwrap.dedent("""
    import json, os, sys, time
    args = json.loads(sys.argv[1])
    gate = os.environ["GATE_DIR"]
    open(os.path.join(gate, f"started-{args['a']}"), "w").close()
    while not os.path.exists(os.path.join(gate, "go")):
        time.sleep(0.05)
    with open(os.environ["RECORD_FILE"], "a") as fh:
        fh.write(json.dumps({"a": args["a"], "run": os.environ["WANDB_RUN_ID"]}) + "\\n")
""")

GRID4 = """
    program: gated.py
    command: ["${interpreter}", "${program}", "${args_json}"]
    method: grid
    parameters:
      a: {values: [1, 2, 3, 4]}
"""
IN_A_TASK = {"SLURM_JOB_ID": "42", "SLURM_ARRAY_JOB_ID": "41", "SLURM_ARRAY_TASK_ID": "2"}


def _setup(tmp: Path, **extra: str) -> tuple[str, dict, Path, Path]:
    (tmp / "gated.py").write_text(GATED)
    gate, rec = tmp / "gate", tmp / "rec.jsonl"
    gate.mkdir()
    env = env_for(tmp, GATE_DIR=str(gate), RECORD_FILE=str(rec), **extra)
    return make_sweep(tmp, GRID4, env=env), env, gate, rec


def _started(gate: Path, n: int) -> list[Path]:
    found = sorted(gate.glob("started-*"))
    return found if len(found) >= n else []


def _signal_the_task(root: int, sig: int) -> None:
    """What SLURM does to a task: the signal to every process in it at once (the agent, its workers,
    their trials, whatever session each is in)."""
    procs = [psutil.Process(root)]
    with contextlib.suppress(psutil.Error):
        procs += psutil.Process(root).children(recursive=True)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(sig)


def _then_the_rest_run_once(tmp: Path, sid: str, env: dict, gate: Path, rec: Path, stopped: int) -> list[dict]:
    """The stopped runs are preempted; a fresh agent runs every point exactly once (no heartbeat wait)."""
    (gate / "go").touch()
    runs = status(tmp, sid, env=env)["runs"]
    assert [r["state"] for r in runs] == ["preempted"] * stopped, runs
    assert records(rec) == []  # the stopped trials never reached their end
    res = sk(tmp, "agent", sid, "--heartbeat-timeout", "600", env=env, timeout=240)
    assert res.returncode == 0, res.stderr
    assert sorted(r["a"] for r in records(rec)) == [1, 2, 3, 4]
    after = status(tmp, sid, env=env)["runs"]
    assert sorted(r["config"]["a"] for r in after if r["state"] == "finished") == [1, 2, 3, 4]
    return runs


@pytest.mark.parametrize(
    ("sig", "extra", "reason"),
    [
        (signal.SIGTERM, {}, "preempted: SIGTERM"),
        (signal.SIGUSR1, {"SWEEPKIT_TIME_WARNING_S": "120"}, "preempted: time limit in 120 s"),
        (signal.SIGTERM, IN_A_TASK, "preempted: SIGTERM from the scheduler (job 41_2)"),
    ],
    ids=["sigterm", "time-limit-warning", "sigterm-to-the-whole-task"],
)
def test_an_agent_stopped_by_the_scheduler_records_its_trial_preempted_and_its_point_runs_again(
    tmp_path, sig, extra, reason
):
    sid, env, gate, rec = _setup(tmp_path, **extra)
    agent = sk_popen(tmp_path, "agent", sid, "--heartbeat-timeout", "600", env=env)
    wait_until(lambda: _started(gate, 1), timeout=120, what="a trial to start")
    if extra is IN_A_TASK:
        _signal_the_task(agent.pid, sig)  # the trial dies of it too, maybe before the agent hears it
    else:
        agent.send_signal(sig)  # USR1 goes to the batch shell only: the agent passes the stop on
    _, err = agent.communicate(timeout=120)
    assert agent.returncode == 143, err
    assert f"{reason}: the running trial was stopped and recorded as preempted" in err and "Traceback" not in err
    (run,) = _then_the_rest_run_once(tmp_path, sid, env, gate, rec, stopped=1)
    assert run["reason"] == reason


@pytest.mark.parametrize(("sig", "to_all"), [(signal.SIGUSR1, False), (signal.SIGTERM, True)], ids=["usr1", "sigterm"])
def test_the_launcher_passes_the_scheduler_s_stop_to_its_workers(tmp_path, sig, to_all):
    sid, env, gate, rec = _setup(tmp_path, SWEEPKIT_TIME_WARNING_S="120", **IN_A_TASK)
    launcher = sk_popen(tmp_path, "agent", sid, "--workers", "2", "--cold", "--heartbeat-timeout", "600", env=env)
    wait_until(lambda: _started(gate, 2), timeout=180, what="both workers' trials to start")
    if to_all:
        _signal_the_task(launcher.pid, sig)
    else:
        launcher.send_signal(sig)
    out, err = launcher.communicate(timeout=180)
    assert launcher.returncode == 143, out + err
    runs = _then_the_rest_run_once(tmp_path, sid, env, gate, rec, stopped=2)
    why = "time limit in 120 s" if sig == signal.SIGUSR1 else "SIGTERM from the scheduler (job 41_2)"
    assert {r["reason"] for r in runs} == {f"preempted: {why}"}


def test_a_warm_worker_s_trial_is_preempted_mid_training(tmp_path, monkeypatch):
    """A warm trial (sweepkit's own, in the worker's process) stopped by the scheduler's SIGTERM to
    every process of the task: preempted, its point back, the launcher exits 143."""
    cmd = ", ".join(f'"{a}"' for a in ["${env}", "${interpreter}", "-m", "agent", *TINY, "${args}"])
    sid = make_sweep(
        tmp_path,
        f"""
        method: grid
        metric: {{name: eval/loss, goal: minimize}}
        command: [{cmd}]
        parameters:
          num_train_epochs: {{value: 500}}
          seed: {{values: [1, 2]}}
        """,
        env=env_for(tmp_path),
    )
    env = env_for(tmp_path, **IN_A_TASK)
    launcher = sk_popen(tmp_path, "agent", sid, "--workers", "1", "--heartbeat-timeout", "600", env=env)
    runs = tmp_path / ".sweepkit" / "sweeps" / sid / "runs"

    def training() -> bool:  # the trial's run is open in the worker: it is past its imports and set-up
        return any(runs.glob("*/wandb/offline-run-*/run-*.wandb"))

    wait_until(training, timeout=300, what="the warm trial to start training")
    _signal_the_task(launcher.pid, signal.SIGTERM)
    out, err = launcher.communicate(timeout=180)
    assert launcher.returncode == 143, out + err
    (run,) = status(tmp_path, sid, env=env)["runs"]
    assert run["state"] == "preempted" and run["reason"] == "preempted: SIGTERM from the scheduler (job 41_2)", run
    from agent.backends.local import LocalBackend

    monkeypatch.setenv("SWEEPKIT_HOME", env["SWEEPKIT_HOME"])
    study = LocalBackend().engine(sid).study
    waiting = [t for t in study.trials if t.state.name == "WAITING"]
    assert len(waiting) == 2  # its point back at once, beside the one never started
