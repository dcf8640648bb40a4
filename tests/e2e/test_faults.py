"""Faults with real processes: SIGKILLed agent, failing trials, the failure guard, Ctrl-C."""

from __future__ import annotations

import signal
import textwrap
import time
from pathlib import Path

import pytest

from agent.backends.local.leases import is_stale
from tests.helpers import env_for, make_sweep, records, sk, sk_popen, status, wait_until

# Records its point; says it started (a `started` file in its run dir), then sleeps $SLOW seconds (so a
# test can catch it mid-trial); exits with `exit`.
SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    args = json.loads(sys.argv[1])
    open(os.path.join(os.environ["SWEEPKIT_RUN_DIR"], "started"), "w").close()
    time.sleep(float(os.environ.get("SLOW", "0")))
    with open(os.environ["RECORD_FILE"], "a") as fh:
        fh.write(json.dumps({"a": args["a"], "run": os.environ["WANDB_RUN_ID"]}) + "\\n")
    print(f"trial a={args['a']} ends with exit {args.get('exit', 0)}", file=sys.stderr)
    sys.exit(int(args.get("exit", 0)))
""")

GRID3 = """
    program: s.py
    command: ["${interpreter}", "${program}", "${args_json}"]
    method: grid
    parameters:
      a: {values: [1, 2, 3]}
"""


def _setup(tmp: Path, yaml_text: str = GRID3) -> str:
    (tmp / "s.py").write_text(SCRIPT)
    return make_sweep(tmp, yaml_text)


def _wait_for_trial(tmp: Path, sweep_id: str, timeout: float = 60) -> Path:
    """The run dir of the first trial whose program has started (it wrote `started` there)."""
    runs = tmp / ".sweepkit" / "sweeps" / sweep_id / "runs"
    found = wait_until(lambda: sorted(runs.glob("*/started")), timeout=timeout, what="a trial to start")
    return found[0].parent


@pytest.mark.slow
def test_sigkilled_agent_point_is_requeued_and_nothing_runs_twice(tmp_path):
    sid = _setup(tmp_path)
    rec = tmp_path / "rec.jsonl"
    slow = env_for(tmp_path, RECORD_FILE=str(rec), SLOW="30")
    victim = sk_popen(tmp_path, "agent", sid, "--heartbeat-timeout", "2", env=slow)
    _wait_for_trial(tmp_path, sid)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    t0 = time.monotonic()
    res = sk(tmp_path, "agent", sid, "--heartbeat-timeout", "2", env=env_for(tmp_path, RECORD_FILE=str(rec)))
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 < 60
    assert sorted(r["a"] for r in records(rec)) == [1, 2, 3]  # every point exactly once
    runs = status(tmp_path, sid)["runs"]
    crashed = [r for r in runs if r["state"] == "crashed"]
    assert len(crashed) == 1 and "no heartbeat" in crashed[0]["reason"]
    assert sorted(r["config"]["a"] for r in runs if r["state"] == "finished") == [1, 2, 3]
    assert crashed[0]["config"]["a"] in (1, 2, 3)


@pytest.mark.slow
def test_ctrl_c_stops_gracefully_with_130_and_requeues_the_point(tmp_path):
    sid = _setup(tmp_path)
    rec = tmp_path / "rec.jsonl"
    agent = sk_popen(
        tmp_path, "agent", sid, "--kill-delay", "5", env=env_for(tmp_path, RECORD_FILE=str(rec), SLOW="30")
    )
    _wait_for_trial(tmp_path, sid)
    agent.send_signal(signal.SIGINT)
    out, errout = agent.communicate(timeout=30)
    assert agent.returncode == 130, errout
    assert "interrupted" in errout
    assert "Traceback" not in errout
    (killed,) = status(tmp_path, sid)["runs"]
    assert killed["state"] == "killed" and killed["reason"] == "interrupted"

    res = sk(tmp_path, "agent", sid, env=env_for(tmp_path, RECORD_FILE=str(rec)))
    assert res.returncode == 0, res.stderr
    assert sorted(r["a"] for r in records(rec)) == [1, 2, 3]
    assert sorted(r["state"] for r in status(tmp_path, sid)["runs"]) == ["finished"] * 3 + ["killed"]


@pytest.mark.slow
def test_failing_trial_does_not_stop_the_sweep(tmp_path):
    sid = _setup(
        tmp_path, GRID3.replace("a: {values: [1, 2, 3]}", "a: {values: [1, 2, 3]}\n      exit: {values: [0, 1]}")
    )
    res = sk(tmp_path, "agent", sid, env=env_for(tmp_path, RECORD_FILE=str(tmp_path / "r")))
    assert res.returncode == 0, res.stderr
    runs = status(tmp_path, sid)["runs"]
    assert sorted(r["state"] for r in runs) == ["failed"] * 3 + ["finished"] * 3
    failed = [r for r in runs if r["state"] == "failed"]
    assert all(r["reason"].startswith("trial a=") for r in failed)  # the child's own last line


@pytest.mark.slow
@pytest.mark.parametrize("how", ["option", "env"])
def test_consecutive_failures_stop_the_agent(tmp_path, how):
    sid = _setup(
        tmp_path, GRID3.replace("a: {values: [1, 2, 3]}", "a: {values: [1, 2, 3, 4, 5, 6]}\n      exit: {value: 1}")
    )
    env = env_for(tmp_path, RECORD_FILE=str(tmp_path / "r"))
    if how == "option":
        res = sk(tmp_path, "agent", sid, "--max-consecutive-failures", "2", env=env)
        expected = 2
    else:
        env["WANDB_AGENT_MAX_INITIAL_FAILURES"] = "3"
        res = sk(tmp_path, "agent", sid, env=env)
        expected = 3
    assert res.returncode == 1
    assert f"{expected} runs failed in a row" in res.stdout + res.stderr
    assert len(status(tmp_path, sid)["runs"]) == expected


def test_lease_expiry_rules():
    import optuna

    study = optuna.create_study()
    study.ask()
    t = study.trials[0]
    now = time.time()
    assert not is_stale(t, now + 1)  # being claimed: its agent holds the claim lock for milliseconds
    assert is_stale(t, now + 6)  # a claim cut short (agent died, disk full) before its lease was written
    t2 = study.ask()
    t2.set_user_attr("sk_heartbeat", now)
    t2.set_user_attr("sk_run", {"lease_s": 2})
    frozen = study.trials[1]
    assert not is_stale(frozen, now + 1.5) and is_stale(frozen, now + 2.5)
    study.tell(t2, 1.0)
    assert not is_stale(study.trials[1], now + 100)  # finished trials never expire


@pytest.mark.slow
def test_second_ctrl_c_kills_a_trial_that_ignores_sigterm(tmp_path):
    (tmp_path / "stubborn.py").write_text(
        textwrap.dedent("""
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(os.path.join(os.environ["SWEEPKIT_RUN_DIR"], "started"), "w").close()
        time.sleep(120)
    """)
    )
    sid = make_sweep(
        tmp_path,
        """
        program: stubborn.py
        method: grid
        parameters:
          a: {values: [1]}
    """,
    )
    agent = sk_popen(tmp_path, "agent", sid, "--kill-delay", "120")
    run_dir = _wait_for_trial(tmp_path, sid)
    agent.send_signal(signal.SIGINT)
    log = run_dir / "agent.log"
    wait_until(lambda: "SIGTERM" in log.read_text(), timeout=30, what="the first Ctrl-C's SIGTERM in the run's log")
    assert agent.poll() is None  # first Ctrl-C: SIGTERM sent, waiting out the 120 s kill delay
    agent.send_signal(signal.SIGINT)
    agent.communicate(timeout=30)  # well inside the kill delay: the second Ctrl-C killed it
    assert agent.returncode == 130
    (run,) = status(tmp_path, sid)["runs"]
    assert run["state"] == "killed"
