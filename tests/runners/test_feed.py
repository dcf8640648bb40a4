"""The live metric feed of a child trial (agent/runners/feed.py): it survives a reader that fails for a
moment, never delivers a row twice, and when it cannot go on it says so once, on the agent's console
and in the run's agent.log, instead of ending quietly (hyperband would then stop pruning unseen)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from agent import runlog
from agent.backends.base import TrialControl, TrialSpec
from agent.runners.child import LOG_FILE, ChildRunner
from agent.runners.feed import MetricFeed
from tests.helpers import FOREIGN

# Stands in front of wandb's own reader. flaky: the first reader relays two history records, then
# dies; later ones are the real reader. broken: every reader fails at once.
READER = textwrap.dedent("""
    import json, os, subprocess, sys
    mode, state, real = sys.argv[1], sys.argv[2], sys.argv[3:]
    calls = int(open(state).read()) if os.path.exists(state) else 0
    open(state, "w").write(str(calls + 1))
    if mode == "broken":
        sys.exit("injected: cannot read the run file")
    if calls > 0:
        os.execv(real[0], real)
    proc = subprocess.Popen(real, stdout=subprocess.PIPE, text=True)
    seen = 0
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        seen += line.startswith("{") and json.loads(line).get("type") == "history"
        if seen == 2:
            break
    proc.kill()
    sys.exit("injected: the reader lost the file")
""")


def _fault(tmp: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> Path:
    (tmp / "reader.py").write_text(READER)
    state = tmp / "reader-calls"
    real = runlog._reader_argv()
    wrapped = (sys.executable, str(tmp / "reader.py"), mode, str(state), *real)
    monkeypatch.setattr(runlog, "_reader_argv", lambda: wrapped)
    return state


def _run(tmp: Path, program: str, params: dict) -> tuple[list[tuple[str, dict]], list[str]]:
    (tmp / "train.py").write_text(program)
    rows: list[tuple[str, dict]] = []
    said: list[str] = []
    # wandb flushes an offline run's log every half second here, so rows arrive while it runs
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL": "0.5"}
    spec = TrialSpec("swp1", "run1", params, str(tmp / "run"), 0, env=env)
    control = TrialControl(on_row=lambda source, row: rows.append((source, row)))
    ended = ChildRunner(kill_delay=1, say=said.append)(spec, {"program": str(tmp / "train.py")}, control)
    assert ended.exit_code == 0, ended.reason
    return rows, said


@pytest.mark.slow
def test_a_reader_that_fails_once_is_restarted_and_no_row_arrives_twice(tmp_path, monkeypatch):
    state = _fault(tmp_path, monkeypatch, "flaky")
    rows, said = _run(tmp_path, FOREIGN, {"x": 1, "steps": 5, "sleep": 1.0})
    assert int(state.read_text()) >= 2  # the first reader died, another took over
    assert [row["loss"] for source, row in rows if source == "history"] == [5, 4, 3, 2, 1]
    assert said == []


# A run log that wandb's reader is pointed at; the program logs nothing, so only the failure shows.
SILENT = textwrap.dedent("""
    import os, time
    run_dir = os.environ["SWEEPKIT_RUN_DIR"]
    os.makedirs(os.path.join(run_dir, "wandb"), exist_ok=True)
    open(os.path.join(run_dir, "wandb", "run-x.wandb"), "wb").close()
    time.sleep(1)
""")


def test_a_feed_that_cannot_go_on_says_so_once_on_the_console_and_in_the_run_log(tmp_path, monkeypatch):
    _fault(tmp_path, monkeypatch, "broken")
    _rows, said = _run(tmp_path, SILENT, {})
    assert len(said) == 1, said
    assert said[0].startswith("run run1: live metric feed stopped (the run's .wandb log: ")
    assert "injected: cannot read the run file" in said[0] and "cannot prune this run" in said[0]
    log = (tmp_path / "run" / LOG_FILE).read_text()
    assert log.count("live metric feed stopped") == 1 and "injected: cannot read the run file" in log


class Records:
    """Records as a reader yields them; the first pass fails after `fail_after` of them."""

    def __init__(self, values: list[float], fail_after: int):
        self.values, self.fail_after, self.passes = values, fail_after, 0

    def records(self):
        self.passes += 1
        for i, v in enumerate(self.values):
            if self.passes == 1 and i == self.fail_after:
                raise runlog.RunReadError("the reader died")
            yield {"type": "stats"}
            yield {"type": "history", "history": {"item": {"loss": v, "_step": i}}}

    def close(self):
        pass


def _feed(tmp: Path, source: Records, on_row) -> tuple[MetricFeed, list[str]]:
    said: list[str] = []
    feed = MetricFeed(source, tmp / "progress.jsonl", on_row, say=said.append, retries=2, first_pause_s=0.01)
    feed.start()
    feed.stop()
    return feed, said


def test_rows_read_again_after_a_failure_are_not_delivered_twice(tmp_path):
    got: list[float] = []
    source = Records([3.0, 2.0, 1.0], fail_after=2)
    feed, said = _feed(tmp_path, source, lambda s, row: got.append(row["loss"]))
    assert source.passes == 2 and got == [3.0, 2.0, 1.0] and said == [] and feed.lost is None


def test_an_engine_that_keeps_refusing_rows_ends_the_feed_with_one_note(tmp_path):
    def refuse(source, row):
        raise OSError(28, "No space left on device")

    (tmp_path / "progress.jsonl").write_text('{"loss": 1}\n{"loss": 2}\n{"loss": 3}\n{"loss": 4}\n')
    feed, said = _feed(tmp_path, Records([1.0], fail_after=-1), refuse)
    assert len(said) == 1 and "No space left on device" in said[0] and feed.lost is not None
