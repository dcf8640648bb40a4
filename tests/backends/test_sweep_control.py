"""`sweepkit sweep --pause|--resume|--stop|--cancel SWEEP` on a local sweep, with real agent processes.

Each trial records when it starts and ends and holds while a HOLD file exists, so a test decides when
trials may end and waits on what the agents did, never on a clock. Every point is counted: a pause
starts nothing new, a stop lets running trials finish, a cancel kills them (a grid point then runs
again after `--resume`), and each point finishes exactly once.
"""

from __future__ import annotations

import json
import os
import textwrap
import threading
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from agent.backends.base import AgentSettings, BackendError, SweepState
from agent.backends.local import LocalBackend
from agent.backends.local.schema import CONTROL_FORMAT, MADE_FORMAT, StoreFormatError
from agent.backends.local.store import open_storage
from agent.cli import cli
from tests.helpers import (
    FunctionRunner,
    QuietProgress,
    env_for,
    make_sweep,
    records,
    run_in_process,
    sk,
    sk_popen,
    status,
    wait_until,
)

# Records its start, holds while $HOLD exists, records its end; ignores SIGTERM when $IGNORE_TERM is set.
GATED = textwrap.dedent("""
    import json, os, signal, sys, time
    args = json.loads(sys.argv[1])
    if os.environ.get("IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    def note(event):
        with open(os.environ["RECORD_FILE"], "a") as fh:
            fh.write(json.dumps({"event": event, "a": args["a"], "run": os.environ["WANDB_RUN_ID"]}) + "\\n")
    note("start")
    while os.path.exists(os.environ["HOLD"]):
        time.sleep(0.02)
    note("end")
""")
GRID = """
program: prog.py
command: ["${interpreter}", "${program}", "${args_json}"]
method: grid
parameters:
  a: {values: [1, 2, 3, 4, 5, 6]}
"""
PAUSED_NOTE = "the sweep is paused: waiting"


def _gated(tmp: Path, **extra: str) -> tuple[dict, Path]:
    (tmp / "prog.py").write_text(GATED)
    hold = tmp / "hold"
    hold.touch()
    return env_for(tmp, RECORD_FILE=str(tmp / "record.jsonl"), HOLD=str(hold), **extra), hold


def _events(tmp: Path, kind: str) -> list[int]:
    return sorted(r["a"] for r in records(tmp / "record.jsonl") if r["event"] == kind)


def _worker_notes(tmp: Path, sid: str) -> list[str]:
    """The last note of each worker a launcher started (its status file)."""
    out = []
    for f in sorted((tmp / ".sweepkit" / "agents" / sid).glob("worker-*.json")):
        try:
            out.append(json.loads(f.read_text()).get("note") or "")
        except ValueError:  # being replaced
            out.append("")
    return out


def _states(st: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in st["runs"]:
        out[r["state"]] = out.get(r["state"], 0) + 1
    return out


def _set(tmp: Path, flag: str, sid: str, env: dict, *extra: str) -> str:
    res = sk(tmp, "sweep", f"--{flag}", sid, *extra, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _finished_once(st: dict) -> list[int]:
    return sorted(r["config"]["a"] for r in st["runs"] if r["state"] == "finished")


# -- pause, resume --------------------------------------------------------------------------------
@pytest.mark.slow
def test_paused_workers_take_no_new_trial_and_finish_the_grid_after_resume(tmp_path):
    env, hold = _gated(tmp_path)
    sid = make_sweep(tmp_path, GRID)
    launcher = sk_popen(tmp_path, "agent", sid, "--workers", "2", env=env)
    wait_until(lambda: len(_events(tmp_path, "start")) == 2, timeout=120, what="two trials running")

    said = _set(tmp_path, "pause", sid, env)
    assert f"local sweep {sid} is paused: agents take no new run and wait; 2 running run(s) go on" in said
    assert status(tmp_path, sid, env=env)["sweep"]["state"] == "paused"
    hold.unlink()  # the running trials go on to their end
    wait_until(
        lambda: _worker_notes(tmp_path, sid) == [PAUSED_NOTE] * 2, timeout=60, what="both workers waiting, paused"
    )
    assert _events(tmp_path, "start") == _events(tmp_path, "end") and len(_events(tmp_path, "end")) == 2
    st = status(tmp_path, sid, env=env)
    assert _states(st) == {"finished": 2} and st["sweep"]["state"] == "paused"  # nothing new was claimed
    assert launcher.poll() is None  # the workers wait; the launcher restarts none and stays

    assert "waiting agents take runs again" in _set(tmp_path, "resume", sid, env)
    out, err = launcher.communicate(timeout=240)
    assert launcher.returncode == 0, out + err
    assert out.count(PAUSED_NOTE) == 1, out  # the launcher says it once, for both workers
    assert _events(tmp_path, "start") == [1, 2, 3, 4, 5, 6] == _events(tmp_path, "end")  # each point once
    st = status(tmp_path, sid, env=env)
    assert _finished_once(st) == [1, 2, 3, 4, 5, 6] and st["sweep"]["state"] == "finished"


# -- stop -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_stop_lets_running_trials_finish_then_every_agent_exits_0(tmp_path):
    env, hold = _gated(tmp_path)
    sid = make_sweep(tmp_path, GRID)
    agents = [sk_popen(tmp_path, "agent", sid, env=env) for _ in range(2)]
    wait_until(lambda: len(_events(tmp_path, "start")) == 2, timeout=120, what="two trials running")

    assert "2 running run(s) finish; agents take no new run and exit (0)" in _set(tmp_path, "stop", sid, env)
    hold.unlink()
    outs = [a.communicate(timeout=120) for a in agents]
    assert [a.returncode for a in agents] == [0, 0], outs
    assert all("the sweep is stopped: `sweepkit sweep --stop` by" in out for out, _ in outs), outs
    assert len(_events(tmp_path, "end")) == 2 and _events(tmp_path, "start") == _events(tmp_path, "end")
    st = status(tmp_path, sid, env=env)
    assert _states(st) == {"finished": 2} and st["sweep"]["state"] == "stopped"
    listed = sk(tmp_path, "sweeps", env=env)
    assert sid in listed.stdout and "stopped" in listed.stdout

    assert "start them again with `sweepkit agent" in _set(tmp_path, "resume", sid, env)
    res = sk(tmp_path, "agent", sid, env=env, timeout=240)
    assert res.returncode == 0, res.stderr
    st = status(tmp_path, sid, env=env)
    assert _finished_once(st) == [1, 2, 3, 4, 5, 6] and _events(tmp_path, "start") == [1, 2, 3, 4, 5, 6]


# -- cancel ---------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("stubborn", [False, True], ids=["sigterm", "sigkill-after-kill-delay"])
def test_cancel_kills_running_trials_and_resume_completes_the_grid(tmp_path, stubborn):
    env, hold = _gated(tmp_path, **({"IGNORE_TERM": "1"} if stubborn else {}))
    sid = make_sweep(tmp_path, GRID)
    launcher = sk_popen(tmp_path, "agent", sid, "--workers", "2", "--kill-delay", "2", env=env)
    wait_until(lambda: len(_events(tmp_path, "start")) == 2, timeout=120, what="two trials running")

    said = _set(tmp_path, "cancel", sid, env)
    assert "2 running run(s) are stopped within seconds" in said and "recorded as killed" in said
    out, err = launcher.communicate(timeout=120)  # the hold stays: only the cancel ends these trials
    assert launcher.returncode == 0, out + err
    assert _events(tmp_path, "end") == []
    st = status(tmp_path, sid, env=env)
    assert _states(st) == {"killed": 2} and st["sweep"]["state"] == "cancelled"
    assert all(r["reason"].startswith("cancelled: `sweepkit sweep --cancel` by") for r in st["runs"]), st["runs"]
    res = sk(tmp_path, "sweep", "--pause", sid, env=env)
    assert res.returncode == 2 and res.stderr.strip() == (
        f"sweepkit: error: cannot pause sweep {sid}: it is cancelled; `sweepkit sweep --resume {sid}` opens it again"
    )

    hold.unlink()
    _set(tmp_path, "resume", sid, env)
    res = sk(tmp_path, "agent", sid, env=env, timeout=240)
    assert res.returncode == 0, res.stderr
    st = status(tmp_path, sid, env=env)
    assert st["sweep"]["state"] == "finished" and _states(st) == {"finished": 6, "killed": 2}
    assert _finished_once(st) == [1, 2, 3, 4, 5, 6]  # the killed points ran again, each point finished once
    assert _events(tmp_path, "end") == [1, 2, 3, 4, 5, 6]


# -- the store's format, and what makes no sense -----------------------------------------------------
def _grid(b: LocalBackend, n: int = 2) -> str:
    return b.create_sweep({"method": "grid", "parameters": {"x": {"values": list(range(n))}}})


def test_an_older_sweepkit_refuses_a_paused_sweep_and_still_runs_an_unpaused_one(home, monkeypatch):
    b = LocalBackend()
    sid = _grid(b)
    fmt = lambda: optuna.load_study(study_name=sid, storage=open_storage(sid)).user_attrs["sk_format"]
    assert fmt() == MADE_FORMAT == 3  # a new sweep holds nothing a format-3 reader would misread
    b.set_sweep_state(sid, SweepState.PAUSED)
    assert fmt() == CONTROL_FORMAT == 4
    b.set_sweep_state(sid, SweepState.RUNNING)
    assert fmt() == CONTROL_FORMAT  # a format is never lowered

    monkeypatch.setattr("agent.backends.local.schema.sweep.FORMAT", 3)  # the sweepkit before this one
    with pytest.raises(StoreFormatError, match=r"written by a newer sweepkit \(store format 4; this one reads up to 3"):
        LocalBackend().sweep(sid)
    assert LocalBackend().sweep(_grid(b)).state == SweepState.RUNNING


def test_a_change_the_sweep_state_does_not_allow_is_one_line_exit_2(home):
    b = LocalBackend()
    sid = _grid(b, 1)
    runner = CliRunner()

    def sweep(*args: str) -> tuple[int, str]:
        res = runner.invoke(cli, ["sweep", *args])
        return res.exit_code, res.output.strip()

    assert sweep("--resume", sid) == (2, f"sweepkit: error: sweep {sid} is running already")
    assert sweep("--pause", sid, "--stop", sid) == (
        2,
        "sweepkit: error: --pause and --stop cannot be given together: pick one state for the sweep",
    )
    assert sweep("sweep.yaml", "--cancel", sid) == (
        2,
        "sweepkit: error: --cancel SWEEP sets an existing sweep's state: drop FILE",
    )
    assert sweep()[0] == 2
    code, out = sweep("--stop", sid)
    assert code == 0 and out.startswith(f"local sweep {sid} is stopped: 0 running run(s) finish")
    assert sweep("--stop", sid) == (2, f"sweepkit: error: sweep {sid} is stopped already")
    shown = runner.invoke(cli, ["status", sid]).output
    assert "(local, grid, stopped)" in shown and "the sweep is stopped: no new run starts, its agents exit" in shown
    assert sweep("--cancel", sid)[0] == 0  # a stopping sweep may still be cancelled
    assert sweep("--resume", sid)[0] == 0
    assert run_in_process(b, sid, lambda spec: {}) == 0  # the grid is done
    assert b.sweep(sid).state == SweepState.FINISHED
    code, out = sweep("--resume", sid)
    assert code == 2 and out.startswith(f"sweepkit: error: sweep {sid} is running already")
    assert sweep("--pause", sid) == (
        2,
        f"sweepkit: error: cannot pause sweep {sid}: it is finished (grid exhausted: every point has run)",
    )
    with pytest.raises(BackendError, match="cannot cancel"):
        b.set_sweep_state(sid, SweepState.CANCELLED)


def test_a_paused_agent_says_so_once_and_goes_on_when_resumed(home):
    b = LocalBackend()
    sid = _grid(b, 3)
    b.set_sweep_state(sid, SweepState.PAUSED)
    ran: list[int] = []
    notes: list[str] = []

    class Notes(QuietProgress):
        def note(self, text: str) -> None:
            notes.append(text)

    done: list[int] = []
    runner = FunctionRunner(lambda spec: ran.append(spec.params["x"]))
    agent = LocalBackend()  # an agent of its own, as in another process
    thread = threading.Thread(
        target=lambda: done.append(agent.run_agent(sid, runner=runner, progress=Notes(), settings=AgentSettings())),
        daemon=True,
    )
    thread.start()
    wait_until(lambda: notes, timeout=30, what="the agent saying it waits")
    assert notes == [PAUSED_NOTE] and not ran and thread.is_alive()
    b.set_sweep_state(sid, SweepState.RUNNING)
    thread.join(timeout=60)
    assert done == [0] and sorted(ran) == [0, 1, 2] and notes.count(PAUSED_NOTE) == 1


# -- PostgreSQL -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.postgres
def test_cancel_and_resume_through_postgresql(tmp_path):
    url = os.environ.get("SWEEPKIT_TEST_PG_URL")
    if not url:
        pytest.skip("SWEEPKIT_TEST_PG_URL not set; run `make test` (it starts a private PostgreSQL)")
    env, hold = _gated(tmp_path)
    sid = make_sweep(tmp_path, GRID, "--storage", url, env=env)
    agents = [sk_popen(tmp_path, "agent", sid, "--storage", url, "--kill-delay", "2", env=env) for _ in range(2)]
    wait_until(lambda: len(_events(tmp_path, "start")) == 2, timeout=120, what="two trials running")
    _set(tmp_path, "cancel", sid, env, "--storage", url)
    outs = [a.communicate(timeout=120) for a in agents]
    assert [a.returncode for a in agents] == [0, 0], outs
    st = status(tmp_path, sid, "--storage", url, env=env)
    assert _states(st) == {"killed": 2} and st["sweep"]["state"] == "cancelled"
    hold.unlink()
    _set(tmp_path, "resume", sid, env, "--storage", url)
    res = sk(tmp_path, "agent", sid, "--storage", url, env=env, timeout=240)
    assert res.returncode == 0, res.stderr
    st = status(tmp_path, sid, "--storage", url, env=env)
    assert _finished_once(st) == [1, 2, 3, 4, 5, 6] and st["sweep"]["state"] == "finished"


def test_a_paused_sweep_whose_last_run_ended_meanwhile_is_resumed_and_its_agents_leave(home):
    from agent.backends.base import TrialOutcome, TrialSpec

    b = LocalBackend()
    sid = _grid(b, 1)
    engine = LocalBackend().engine(sid)
    got = engine.claim(lease_s=60)
    assert not isinstance(got, str)
    b.set_sweep_state(sid, SweepState.PAUSED)  # its one run goes on
    spec = TrialSpec(sid, got.run.run_id, got.run.params, got.run.run_dir, got.trial.number)
    engine.finish(got, spec, TrialOutcome(0, 0.1))
    said = b.set_sweep_state(sid, SweepState.RUNNING)  # waiting agents must not wait forever
    assert said == "grid exhausted: every point has run, so waiting agents leave (exit 0)"
    assert b.sweep(sid).state == SweepState.FINISHED
    with pytest.raises(BackendError, match=f"cannot stop sweep {sid}: it is finished"):
        b.set_sweep_state(sid, SweepState.STOPPED)
