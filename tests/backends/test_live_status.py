"""`status` on running trials reads the store and plain files only: no wandb-core process per run.

A running trial's live values come from its agent, which writes the last logged values with the
trial's heartbeat (`schema.LiveValues`).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agent.backends.local import LocalBackend
from agent.states import RunState
from tests.helpers import FOREIGN, FunctionRunner, make_sweep, run_in_process, sk_popen, status


def _running(backend: LocalBackend, sid: str) -> list:
    return [r for r in backend.runs(sid) if r.state == RunState.RUNNING]


def test_records_of_running_runs_start_no_process_and_show_the_live_value(home, monkeypatch):
    b = LocalBackend()
    sid = b.create_sweep({"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}})
    logged, release = threading.Event(), threading.Event()

    def trial(spec, control):
        # a real run's `.wandb` log is in its run dir while it runs
        log = Path(spec.run_dir) / "wandb" / f"offline-run-x-{spec.run_id}" / f"run-{spec.run_id}.wandb"
        log.parent.mkdir(parents=True)
        log.write_bytes(b"")
        if control.on_row is not None:
            control.on_row("trial", {"loss": 0.75, "_step": 0})
            control.on_row("trial", {"loss": 0.5, "_step": 1, "note": "text is not a live value"})
        logged.set()
        release.wait(120)
        log.unlink()  # a stand-in, not a log wandb could read at the end
        return {"loss": 0.5}

    runner = FunctionRunner(trial, report_rows=True)
    agent = threading.Thread(target=run_in_process, args=(b, sid, runner), kwargs={"count": 1, "heartbeat_timeout": 1})
    agent.start()
    spawned: list = []
    real_init = subprocess.Popen.__init__

    def watched(self, args, *a, **kw):
        if threading.current_thread() is threading.main_thread():  # the reader, not the agent
            spawned.append(args)
        return real_init(self, args, *a, **kw)

    try:
        assert logged.wait(60)
        reader = LocalBackend()
        deadline = time.monotonic() + 60
        with monkeypatch.context() as m:
            m.setattr(subprocess.Popen, "__init__", watched)
            while True:
                running = _running(reader, sid)
                assert not spawned, f"reading the runs started {spawned}"
                if running and running[0].summary.get("loss") == 0.5:
                    break
                assert time.monotonic() < deadline, f"no live value in {running}"
                time.sleep(0.05)
        (run,) = running
        assert run.summary == {"loss": 0.5, "_step": 1.0}  # the latest of each number logged
        assert run.data_key is not None  # the log's size and time: plain stats
    finally:
        release.set()
        agent.join(60)
    (done,) = LocalBackend().runs(sid)
    assert done.state == RunState.FINISHED and done.summary["loss"] == 0.5


@pytest.mark.slow
def test_status_shows_a_child_runs_live_metric_while_it_runs(tmp_path):
    """The real path: a wandb script in a child process, its rows followed by the agent, the live
    value in `sweepkit status --json` while the run is still going (no pruning configured)."""
    (tmp_path / "train.py").write_text(FOREIGN)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss}
        parameters:
          x: {values: [3]}
          steps: {value: 200}
          sleep: {value: 0.25}
    """,
    )
    agent = sk_popen(tmp_path, "agent", sid, "--heartbeat-timeout", "2")
    try:
        deadline = time.monotonic() + 120
        while True:
            runs = status(tmp_path, sid)["runs"]
            live = [r for r in runs if r["state"] == "running" and "loss" in r["summary"]]
            if live:
                break
            assert agent.poll() is None and time.monotonic() < deadline, runs
            time.sleep(0.5)
        assert live[0]["summary"]["loss"] in {3.0 * (200 - i) for i in range(200)}  # a value the run logged
    finally:
        agent.send_signal(signal.SIGINT)
        agent.communicate(timeout=120)
