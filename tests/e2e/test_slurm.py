"""Sweeps as SLURM job arrays, on a real one-node cluster (`make test` starts it; see conftest).

Each task of the array runs `sweepkit agent`; the trials are a tiny program (no training) that
records its grid point and the array task that ran it. Every wait is on a condition with a
generous deadline: the box may be a loaded 2-core one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from agent.backends.local.engine import Engine
from agent.backends.local.schema import Beat
from tests.helpers import env_for, make_sweep, records, sk, status
from tests.pg import PrivatePostgres, private_postgres

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
DEADLINE_S = 300

# Marks its start, waits at a gate (a `go` file, or trials started by OPEN_AT different tasks),
# then records its point and the task that ran it.
PROGRAM = textwrap.dedent("""
    import json, os, sys, time
    args = json.loads(sys.argv[1])
    gate, task = os.environ["GATE_DIR"], os.environ.get("SLURM_ARRAY_TASK_ID", "-")
    open(os.path.join(gate, f"started-{args['a']}-{task}"), "w").close()
    need = int(os.environ.get("OPEN_AT", "0"))
    deadline = time.time() + 600
    while time.time() < deadline and not os.path.exists(os.path.join(gate, "go")):
        tasks = {f.rsplit("-", 1)[1] for f in os.listdir(gate) if f.startswith("started-")}
        if need and len(tasks) >= need:
            break
        time.sleep(0.05)
    with open(os.environ["RECORD_FILE"], "a") as fh:
        fh.write(json.dumps({"a": args["a"], "task": task, "restart": os.environ.get("SLURM_RESTART_COUNT", "0"),
                             "run": os.environ["WANDB_RUN_ID"]}) + "\\n")
""")

GRID8 = """
    program: gated.py
    command: ["${interpreter}", "${program}", "${args_json}"]
    method: grid
    metric: {name: loss}
    parameters:
      a: {values: [1, 2, 3, 4, 5, 6, 7, 8]}
"""


def wait_for(what: str, check, timeout: float = DEADLINE_S):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def jobs(slurm_cluster):
    """The job ids a test submits; whatever is left of them is cancelled when it ends (a failed test
    must not leave tasks waiting at their gate)."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=60)


def setup(tmp: Path, **extra: str) -> tuple[str, dict, Path, Path]:
    (tmp / "gated.py").write_text(PROGRAM)
    gate = tmp / "gate"
    gate.mkdir()
    rec = tmp / "rec.jsonl"
    env = env_for(tmp, RECORD_FILE=str(rec), GATE_DIR=str(gate), **extra)
    return make_sweep(tmp, GRID8, env=env), env, gate, rec


def submit(tmp: Path, sid: str, env: dict, jobs: list[str], *args: str) -> str:
    res = sk(tmp, "agent", sid, "--slurm", "4", *args, env=env)
    assert res.returncode == 0, res.stderr
    job = res.stdout.strip().splitlines()[-1]
    assert job.isdigit(), res.stdout
    jobs.append(job)
    return job


def job_view(tmp: Path, sid: str, env: dict, job: str) -> dict:
    return next((j for j in status(tmp, sid, env=env).get("slurm", []) if j["job_id"] == job), {})


def ended(tmp: Path, sid: str, env: dict, job: str, tasks: int = 4) -> dict:
    """The job's view once none of its tasks is pending or running (else {})."""
    view = job_view(tmp, sid, env, job)
    c = view.get("counts") or {}
    return view if c and not c["pending"] and not c["running"] and c["done"] + c["failed"] == tasks else {}


def test_an_array_of_4_agents_runs_each_grid_point_once_and_status_shows_its_tasks(tmp_path, jobs):
    sid, env, _gate, rec = setup(tmp_path, OPEN_AT="2")
    job = submit(tmp_path, sid, env, jobs)
    view = wait_for(f"job {job}'s 4 tasks to end", lambda: ended(tmp_path, sid, env, job))
    assert view["counts"] == {"pending": 0, "running": 0, "done": 4, "failed": 0}, view

    points = [r["a"] for r in records(rec)]
    assert sorted(points) == [1, 2, 3, 4, 5, 6, 7, 8], points  # every point once in the program's record
    assert len({r["task"] for r in records(rec)}) >= 2  # trials ran in several tasks, at once
    st = status(tmp_path, sid, env=env)
    assert st["sweep"]["state"] == "finished"
    assert sorted(r["config"]["a"] for r in st["runs"]) == [1, 2, 3, 4, 5, 6, 7, 8]  # ... and in the store
    assert {r["state"] for r in st["runs"]} == {"finished"}
    text = sk(tmp_path, "status", sid, env=env).stdout
    assert f"slurm job {job} (4 tasks): 0 pending, 0 running, 4 done, 0 failed" in text

    # The script is readable and resubmittable by hand; status finds that job by its name.
    (script,) = (tmp_path / ".sweepkit" / "agents" / sid / "slurm").glob("*.sbatch")
    again = subprocess.run(["sbatch", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    job2 = re.search(r"Submitted batch job (\d+)", again.stdout)[1]
    jobs.append(job2)
    view2 = wait_for(f"hand-submitted job {job2} to end", lambda: ended(tmp_path, sid, env, job2))
    assert view2["counts"]["done"] == 4 and view2["submitted"] is None  # found by name, not recorded
    assert sorted(r["a"] for r in records(rec)) == [1, 2, 3, 4, 5, 6, 7, 8]  # nothing ran twice
    out = (script.parent / f"{job2}_0.out").read_text()
    assert "grid exhausted" in out and f"task 0 of job {job2}" in out


@pytest.mark.parametrize("agents", ["agent", "launcher"])
def test_a_cancelled_task_trial_is_preempted_and_its_point_comes_back_at_once(tmp_path, jobs, agents):
    sid, env, gate, rec = setup(tmp_path)
    # A point lost the old way would come back only after 600 s, past every deadline here.
    extra = ["--workers", "2", "--cold"] if agents == "launcher" else []
    job = submit(tmp_path, sid, env, jobs, "--heartbeat-timeout", "600", *extra)
    # Every trial waits at the gate, so the victim is certainly mid-trial when it is cancelled; with
    # the launcher, the victim is a task both of whose workers hold a trial.
    trials = 2 if agents == "launcher" else 1

    def victim() -> tuple[str, str] | None:
        by_task: dict[str, list[str]] = {}
        for p in sorted(gate.glob("started-*")):
            _, point, task = p.name.split("-")
            by_task.setdefault(task, []).append(point)
        return next(((points[0], task) for task, points in by_task.items() if len(points) >= trials), None)

    point, task = wait_for(f"a task with {trials} trial(s) running", victim)
    subprocess.run(["scancel", f"{job}_{task}"], env=env, check=True, timeout=60)
    why = f"preempted: SIGTERM from the scheduler (job {job}_{task})"

    def preempted() -> list:
        return [r for r in status(tmp_path, sid, env=env)["runs"] if r["state"] == "preempted"]

    stopped = wait_for("the cancelled task's trials to be recorded preempted", lambda: len(preempted()) == trials
                       and preempted())  # fmt: skip
    assert {r["reason"] for r in stopped} == {why}, stopped
    assert int(point) in {r["config"]["a"] for r in stopped}
    (gate / "go").touch()
    view = wait_for(f"job {job} to end", lambda: ended(tmp_path, sid, env, job))
    assert view["counts"] == {"pending": 0, "running": 0, "done": 3, "failed": 1}, view
    wait_for("the sweep to finish", lambda: status(tmp_path, sid, env=env)["sweep"]["state"] == "finished", 60)

    got = records(rec)
    assert sorted(r["a"] for r in got) == [1, 2, 3, 4, 5, 6, 7, 8], got  # each point once, the stopped ones too
    assert all(r["task"] != task for r in got if r["a"] in {s["config"]["a"] for s in stopped})
    runs = status(tmp_path, sid, env=env)["runs"]
    finished = sorted(r["config"]["a"] for r in runs if r["state"] == "finished")
    assert finished == [1, 2, 3, 4, 5, 6, 7, 8], runs
    assert sorted(r["state"] for r in runs if r["state"] != "finished") == ["preempted"] * len(stopped)
    text = sk(tmp_path, "status", sid, env=env).stdout
    assert f"slurm job {job} (4 tasks): 0 pending, 0 running, 3 done, 1 failed" in text
    assert f"task {task}: CANCELLED" in text
    assert json.loads((tmp_path / ".sweepkit" / "agents" / sid / "slurm" / "jobs.jsonl").read_text())["job_id"] == job


def test_the_time_limit_warning_preempts_the_trial_and_its_point_comes_back_at_once(tmp_path, jobs):
    sid, env, gate, rec = setup(tmp_path)
    job = submit(tmp_path, sid, env, jobs, "--heartbeat-timeout", "600")
    started = wait_for("a trial to start", lambda: sorted(p.name for p in gate.glob("started-*")))
    _, point, task = started[0].split("-")
    # What `#SBATCH --signal=B:USR1@N` sends N seconds before the time limit: USR1 to the batch shell.
    subprocess.run(["scancel", "--batch", "--signal=USR1", f"{job}_{task}"], env=env, check=True, timeout=60)

    def stopped() -> dict:
        tasks = job_view(tmp_path, sid, env, job).get("tasks") or []
        return next((t for t in tasks if t["task"] == task and t["bucket"] == "failed"), {})

    victim = wait_for(f"task {task} to stop", stopped)
    assert victim["state"] == "FAILED" and victim["exit_code"] == "143:0", victim  # the agent's "preempted"
    (gate / "go").touch()
    view = wait_for(f"job {job} to end", lambda: ended(tmp_path, sid, env, job))
    assert view["counts"] == {"pending": 0, "running": 0, "done": 3, "failed": 1}, view

    got = records(rec)
    assert sorted(r["a"] for r in got) == [1, 2, 3, 4, 5, 6, 7, 8], got
    runs = status(tmp_path, sid, env=env)["runs"]
    assert sorted(r["config"]["a"] for r in runs if r["state"] == "finished") == [1, 2, 3, 4, 5, 6, 7, 8]
    (stopped_run,) = [r for r in runs if r["state"] != "finished"]
    assert stopped_run["state"] == "preempted" and stopped_run["reason"] == "preempted: time limit in 120 s"
    assert stopped_run["config"]["a"] == int(point)


def test_a_requeued_task_goes_on_with_the_sweep_and_nothing_runs_twice(tmp_path, jobs):
    """`scontrol requeue` of a running task (as preemption with PreemptMode=REQUEUE does): its trial is
    preempted and its point back at once; the task, started again by SLURM, takes new work."""
    sid, env, gate, rec = setup(tmp_path)
    job = submit(tmp_path, sid, env, jobs, "--requeue", "--heartbeat-timeout", "600")
    started = wait_for("4 trials to start", lambda: (lambda s: s if len(s) == 4 else [])(
        sorted(p.name for p in gate.glob("started-*"))))  # fmt: skip
    _, point, task = started[0].split("-")
    subprocess.run(["scontrol", "requeue", f"{job}_{task}"], env=env, check=True, timeout=60)

    def preempted() -> list:
        return [r for r in status(tmp_path, sid, env=env)["runs"] if r["state"] == "preempted"]

    (stopped,) = wait_for("the requeued task's trial to be recorded preempted", preempted)
    assert stopped["reason"] == f"preempted: SIGTERM from the scheduler (job {job}_{task})"

    def started_again() -> bool:
        # SLURM holds a requeued task back (reason BeginTime) for a couple of minutes; let it go now.
        subprocess.run(["scontrol", "update", f"JobId={job}_{task}", "StartTime=now"], env=env, timeout=60,
                       capture_output=True)  # fmt: skip
        return len(list(gate.glob(f"started-*-{task}"))) == 2

    wait_for(f"task {task} to start again and take a point", started_again)
    (gate / "go").touch()
    view = wait_for(f"job {job} to end", lambda: ended(tmp_path, sid, env, job))
    assert view["counts"] == {"pending": 0, "running": 0, "done": 4, "failed": 0}, view
    got = records(rec)
    assert sorted(r["a"] for r in got) == [1, 2, 3, 4, 5, 6, 7, 8], got
    restarts = [r["restart"] for r in got if r["task"] == task]
    assert restarts and set(restarts) == {"1"}  # the restarted task ran trials, the first one's never ended
    runs = status(tmp_path, sid, env=env)["runs"]
    assert sorted(r["config"]["a"] for r in runs if r["state"] == "finished") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [r["state"] for r in runs if r["state"] != "finished"] == ["preempted"]
    out = (tmp_path / ".sweepkit" / "agents" / sid / "slurm" / f"{job}_{task}.out").read_text()
    assert f"task {task} of job {job}" in out and "restart 1" in out


@pytest.mark.postgres
def test_an_array_on_postgresql_may_go_anywhere_and_its_tasks_find_the_store_in_the_script(tmp_path, jobs):
    url = os.environ.get("SWEEPKIT_TEST_PG_URL")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("SWEEPKIT_TEST_PG_URL is not set under CI: scripts/test_env.sh must start PostgreSQL")
        pytest.skip("SWEEPKIT_TEST_PG_URL not set; run `make test` (it starts a private PostgreSQL)")
    (tmp_path / "gated.py").write_text(PROGRAM)
    (tmp_path / "gate").mkdir()
    rec = tmp_path / "rec.jsonl"
    env = env_for(tmp_path, RECORD_FILE=str(rec), GATE_DIR=str(tmp_path / "gate"), OPEN_AT="2")
    sid = make_sweep(tmp_path, GRID8.replace("method: grid", f"method: grid\n    name: slurm-{tmp_path.name}"),
                     "--storage", url, env=env)  # fmt: skip
    # The URL only on the command line: the tasks can only know the store from the script.
    job = submit(tmp_path, sid, env, jobs, "--storage", url)
    (script,) = (tmp_path / ".sweepkit" / "agents" / sid / "slurm").glob("*.sbatch")
    text = script.read_text()
    assert f"export SWEEPKIT_STORAGE={url}" in text and "--nodelist" not in text and url not in text.split("exec")[-1]
    reader = {**env, "SWEEPKIT_STORAGE": url}
    view = wait_for(f"job {job}'s 4 tasks to end", lambda: ended(tmp_path, sid, reader, job))
    assert view["counts"] == {"pending": 0, "running": 0, "done": 4, "failed": 0}, view
    assert sorted(r["a"] for r in records(rec)) == [1, 2, 3, 4, 5, 6, 7, 8]
    st = status(tmp_path, sid, env=reader)
    assert sorted(r["config"]["a"] for r in st["runs"] if r["state"] == "finished") == [1, 2, 3, 4, 5, 6, 7, 8]


@pytest.mark.postgres
def test_8_agents_ride_through_a_postgresql_restart_and_no_live_trial_is_reaped(tmp_path, jobs):
    """The store's server stops under 8 agents mid-sweep, twice: while every trial runs (their
    heartbeats fail, then resume), and while the trials end (their results wait for the server).
    Nothing is lost, nothing runs twice, no live trial is declared lost."""
    server = private_postgres()
    try:
        _ride_through(tmp_path, jobs, server)
    finally:
        server.destroy()


def _ride_through(tmp_path: Path, jobs: list[str], server: PrivatePostgres) -> None:
    url = server.url
    (tmp_path / "gated.py").write_text(PROGRAM)
    gate, rec = tmp_path / "gate", tmp_path / "rec.jsonl"
    gate.mkdir()
    env = env_for(tmp_path, RECORD_FILE=str(rec), GATE_DIR=str(gate))
    grid = GRID8.replace("[1, 2, 3, 4, 5, 6, 7, 8]", str(list(range(1, 17))))
    sid = make_sweep(tmp_path, grid, "--storage", url, env=env)
    res = sk(tmp_path, "agent", sid, "--slurm", "8", "--storage", url, "--heartbeat-timeout", "40", env=env)
    assert res.returncode == 0, res.stderr
    job = res.stdout.strip().splitlines()[-1]
    jobs.append(job)
    reader = {**env, "SWEEPKIT_STORAGE": url}
    out_dir = tmp_path / ".sweepkit" / "agents" / sid / "slurm"
    wait_for("8 trials to start", lambda: len(list(gate.glob("started-*"))) == 8)

    def said(text: str) -> bool:
        return any(text in f.read_text(errors="replace") for f in out_dir.glob(f"{job}_*.out"))

    server.stop()  # 1: every trial is running
    wait_for("an agent to say the store is unreachable", lambda: said("is unreachable (heartbeat"))
    server.start()
    back = time.time()
    study = Engine(sid, url).study

    def beating_again() -> bool:
        running = [t for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"]
        beats = [Beat.from_attrs(t.user_attrs) for t in running]
        return len(running) == 8 and all(b is not None and b.at > back for b in beats)

    wait_for("every trial's heartbeat to be written again after the restart", beating_again)
    server.stop()  # 2: the trials end while the server is down; their results wait for it
    (gate / "go").touch()
    wait_for("the 8 running trials to end", lambda: len(records(rec)) >= 8)
    server.start()
    view = wait_for(f"job {job} to end", lambda: ended(tmp_path, sid, reader, job, tasks=8))
    assert view["counts"] == {"pending": 0, "running": 0, "done": 8, "failed": 0}, view
    assert sorted(r["a"] for r in records(rec)) == list(range(1, 17))
    runs = status(tmp_path, sid, env=reader)["runs"]
    assert sorted(r["config"]["a"] for r in runs) == list(range(1, 17)), runs  # no run crashed, none twice
    assert {r["state"] for r in runs} == {"finished"}
    assert said("answers again")


def test_array_tasks_wait_while_paused_and_leave_on_a_cancel_that_kills_their_trials(tmp_path, jobs):
    from agent.states import PAUSED_NOTE

    sid, env, gate, rec = setup(tmp_path)
    job = submit(tmp_path, sid, env, jobs, "--kill-delay", "2")
    started = lambda: sorted(p.name for p in gate.glob("started-*"))
    wait_for("a trial in each of the 4 tasks", lambda: len(started()) == 4)

    assert sk(tmp_path, "sweep", "--pause", sid, env=env).returncode == 0
    (gate / "go").touch()  # the running trials go on to their end; each task then waits
    outs = lambda: list((tmp_path / ".sweepkit" / "agents" / sid / "slurm").glob(f"{job}_*.out"))
    wait_for(
        "every task to say it waits",
        lambda: len(outs()) == 4 and all(PAUSED_NOTE in f.read_text() for f in outs()),
    )
    assert len(started()) == 4 and len(records(rec)) == 4  # nothing new was claimed while paused
    assert job_view(tmp_path, sid, env, job)["counts"]["running"] == 4  # the tasks wait, alive

    (gate / "go").unlink()  # the next trials hold at the gate
    assert sk(tmp_path, "sweep", "--resume", sid, env=env).returncode == 0
    wait_for("the 4 tasks to take the other 4 points", lambda: len(started()) == 8)
    assert sk(tmp_path, "sweep", "--cancel", sid, env=env).returncode == 0
    view = wait_for(f"job {job} to end", lambda: ended(tmp_path, sid, env, job))
    assert view["counts"] == {"pending": 0, "running": 0, "done": 4, "failed": 0}, view  # each task exited 0
    st = status(tmp_path, sid, env=env)
    killed = [r for r in st["runs"] if r["state"] == "killed"]
    assert st["sweep"]["state"] == "cancelled" and len(killed) == 4, st["runs"]
    assert all(r["reason"].startswith("cancelled: `sweepkit sweep --cancel` by") for r in killed)
    assert len(records(rec)) == 4  # the killed trials never reached their end

    (gate / "go").touch()
    assert sk(tmp_path, "sweep", "--resume", sid, env=env).returncode == 0
    assert sk(tmp_path, "agent", sid, env=env, timeout=DEADLINE_S).returncode == 0
    st = status(tmp_path, sid, env=env)
    assert sorted(r["config"]["a"] for r in st["runs"] if r["state"] == "finished") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert sorted(r["a"] for r in records(rec)) == [1, 2, 3, 4, 5, 6, 7, 8]  # each point finished once
