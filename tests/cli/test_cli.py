"""`sweepkit` as users run it: exit codes, one-line errors, status --json, sweeps, sync, report."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agent.backends.base import RunRecord
from agent.backends.local.sync import CHUNK, offline_run_dirs, sync_commands
from tests.helpers import FOREIGN, make_sweep, sk, status

GOOD = """
    program: train.py
    method: random
    metric: {name: loss, goal: minimize}
    parameters:
      x: {min: 0.1, max: 1.0}
"""


def _one_line_error(res) -> str:
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("sweepkit: error:"), res.stderr
    return lines[-1]


def test_validate_ok_and_bad_exit_codes(tmp_path):
    (tmp_path / "good.yaml").write_text(textwrap.dedent(GOOD))
    (tmp_path / "bad.yaml").write_text(
        textwrap.dedent("""
        method: grid
        parameters:
          learning_rate: {min: 0.1, max: 0.01}
    """)
    )
    ok = sk(tmp_path, "validate", "good.yaml")
    assert ok.returncode == 0 and "good.yaml: ok" in ok.stdout
    bad = sk(tmp_path, "validate", "good.yaml", "bad.yaml")
    assert bad.returncode == 2
    assert "parameters.learning_rate" in bad.stderr and "bad.yaml" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = sk(tmp_path, "validate", "nope.yaml")
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr


def test_sweep_prints_id_last_and_refuses_invalid(tmp_path):
    sid = make_sweep(tmp_path, GOOD)
    assert len(sid) == 8 and sid.isalnum() and sid == sid.lower()
    assert (tmp_path / ".sweepkit" / "sweeps" / sid / "sweep.yaml").is_file()
    (tmp_path / "bad.yaml").write_text("method: sideways\n")
    res = sk(tmp_path, "sweep", "bad.yaml")
    assert res.returncode == 2 and "method" in res.stderr
    assert not list((tmp_path / ".sweepkit" / "sweeps").glob("*/journal.log"))[1:]  # only the good one


def test_bad_sweep_id_and_unreachable_store_are_one_line_errors(tmp_path):
    res = sk(tmp_path, "agent", "zzzz9999")
    assert res.returncode == 2
    assert "zzzz9999" in _one_line_error(res)
    res = sk(tmp_path, "status", "zzzz9999", "--storage", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert res.returncode == 2
    line = _one_line_error(res)
    assert "cannot reach the sweep store" in line and "127.0.0.1:1" in line


@pytest.mark.slow
def test_status_json_sweeps_and_sync_dry_run(tmp_path):
    (tmp_path / "train.py").write_text(FOREIGN)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        project: offline-proj
        method: grid
        metric: {name: loss}
        parameters:
          x: {values: [1, 3]}
    """,
    )
    assert sk(tmp_path, "agent", sid).returncode == 0
    st = status(tmp_path, sid)
    assert st["sweep"]["id"] == sid and st["sweep"]["backend"] == "local"
    assert st["sweep"]["config"]["method"] == "grid" and st["sweep"]["state"] == "finished"
    assert [r["state"] for r in st["runs"]] == ["finished", "finished"]
    for r in st["runs"]:
        assert set(r) >= {"id", "state", "config", "summary", "runtime_s", "run_dir"}
        assert r["summary"]["loss"] == r["config"]["x"]
    table = sk(tmp_path, "status", sid)
    assert table.returncode == 0 and "best: run" in table.stdout and st["runs"][0]["id"] in table.stdout

    listed = sk(tmp_path, "sweeps", "--json")
    assert [s["id"] for s in json.loads(listed.stdout)] == [sid]

    dry = sk(tmp_path, "sync", sid, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    cmd, note = dry.stdout.strip().splitlines()
    assert " sync --project offline-proj --no-include-synced " in cmd
    assert "no W&B sweep will be created" in note  # these runs name the local sweep id (no --no-sweep-id)
    for r in st["runs"]:
        assert "offline-run-" in cmd and r["id"] in cmd


def test_sync_commands_pure(tmp_path):
    dirs = [f"/r/offline-run-{i}" for i in range(CHUNK + 1)]
    cmds = sync_commands(dirs, project="p", entity="e", wandb="wandb")
    assert cmds[0][:7] == ["wandb", "sync", "--project", "p", "--entity", "e", "--no-include-synced"]
    assert cmds[0][7:] == dirs[:CHUNK] and cmds[1][7:] == dirs[CHUNK:]
    assert sync_commands(dirs[:1], project="p", include_synced=True, wandb="w")[0] == [
        "w",
        "sync",
        "--project",
        "p",
        "--include-synced",
        dirs[0],
    ]
    run_dir = tmp_path / "run" / "wandb" / "offline-run-20260101_000000-abc"
    run_dir.mkdir(parents=True)
    (run_dir / "run-abc.wandb").write_bytes(b"")
    recs = [RunRecord("abc", "finished", run_dir=str(tmp_path / "run")), RunRecord("gone", "failed")]
    assert offline_run_dirs(recs) == [str(run_dir)]


@pytest.mark.slow
def test_report_command_writes_the_analysis_report(tmp_path):
    (tmp_path / "train.py").write_text(FOREIGN)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss}
        parameters:
          x: {values: [1, 2]}
    """,
    )
    assert sk(tmp_path, "agent", sid).returncode == 0
    res = sk(tmp_path, "report", sid, "--out", "rep", timeout=300)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "rep" / "report.html").is_file()
    assert "report.html" in res.stdout.strip().splitlines()[-1]
    bad = sk(tmp_path, "report", "zzzz9999")
    assert bad.returncode == 2 and "zzzz9999" in _one_line_error(bad)


def test_progress_without_a_terminal_prints_one_line_per_finished_trial():
    import io

    from rich.console import Console

    from agent.backends.base import TrialSpec
    from agent.runners.progress import AgentProgress

    buf = io.StringIO()
    p = AgentProgress("swp1", "acc", "maximize", console=Console(file=buf, width=200))
    a, b = TrialSpec("swp1", "ra", {"lr": 0.1, "opt": {"m": 0.9}}, "/x"), TrialSpec("swp1", "rb", {"lr": 1}, "/y")
    with p:
        p.started(a)
        p.started(b)
        p.finished(a, "finished", 0.8, None)
        p.finished(b, "failed", None, "OOM")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("[swp1] run ra #0 finished") and "acc=0.8" in lines[0] and "opt.m=0.9" in lines[0]
    assert "failed" in lines[1] and "(OOM)" in lines[1]
    assert p.best == (0.8, "ra") and lines[2].startswith("[swp1] 1 finished, 1 failed | best acc=0.8 (run ra) | ")


def test_the_agents_summary_names_every_state_as_itself():
    import io

    from rich.console import Console

    from agent.backends.base import TrialSpec
    from agent.runners.progress import AgentProgress

    buf = io.StringIO()
    p = AgentProgress("swp1", "loss", console=Console(file=buf, width=200), live=False)
    with p:
        for i, state in enumerate(["pruned", "finished", "killed", "pruned", "crashed", "preempted"]):
            spec = TrialSpec("swp1", f"r{i}", {"x": i}, "/x", i)
            p.started(spec)
            if i == 5:
                p.started(TrialSpec("swp1", "r6", {"x": 6}, "/x", 6))
            p.finished(spec, state, 1.0 if state == "finished" else None, None)
    assert p.summary().startswith("1 finished, 2 pruned, 1 crashed, 1 killed, 1 preempted, 1 running | best loss=1")
    assert buf.getvalue().splitlines()[-1].startswith("[swp1] 1 finished, 2 pruned, 1 crashed, 1 killed, 1 preempted")


TRIAL_SWEEP = """
    method: grid
    metric: {name: eval/accuracy, goal: maximize}
    command: ["${env}", "${interpreter}", "-m", "agent", "${args}"]
    parameters:
      model_name_or_path: {value: tiny-bert}
      task_name: {value: mrpc-mini}
      learning_rat: {values: [3.0e-4]}
      seed: {values: [1, 2]}
"""


def test_validate_and_sweep_check_a_trial_sweep_against_the_trials_own_keys(tmp_path):
    (tmp_path / "typo.yaml").write_text(textwrap.dedent(TRIAL_SWEEP))
    res = sk(tmp_path, "validate", "typo.yaml")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert line.startswith("typo.yaml: parameters.learning_rat:") and "rename it to learning_rate" in line
    made = sk(tmp_path, "sweep", "typo.yaml")
    assert made.returncode == 2 and "learning_rat" in made.stderr
    assert not (tmp_path / ".sweepkit" / "sweeps").exists() or not list((tmp_path / ".sweepkit" / "sweeps").iterdir())
    (tmp_path / "range.yaml").write_text(
        textwrap.dedent(TRIAL_SWEEP).replace(
            "learning_rat: {values: [3.0e-4]}", "learning_rate: {min: 0.0001, max: 2.0}"
        )
    )
    res = sk(tmp_path, "validate", "range.yaml")
    assert res.returncode == 2 and "parameters.learning_rate.max" in res.stderr and "<= 1.0" in res.stderr
    # a sweep of the user's own script is W&B's schema only: its keys are the script's business
    (tmp_path / "own.yaml").write_text(textwrap.dedent(GOOD).replace(" x: {", " learning_rat: {"))
    assert sk(tmp_path, "validate", "own.yaml").returncode == 0


def test_status_counts_runs_by_state_in_one_order():
    import io

    from rich.console import Console

    from agent.backends.base import RunRecord, SweepInfo
    from agent.cli.status import status_view

    info = SweepInfo("swp1", "local", {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1]}}})
    states = ["killed", "pruned", "finished", "pruned", "preempted", "running"]
    runs = [RunRecord(f"r{i}", s, config={"x": i}, summary={"m": 0.5}) for i, s in enumerate(states)]
    buf = io.StringIO()
    Console(file=buf, width=200).print(status_view(info, runs, Path("no-report")))
    assert "1 running, 1 finished, 2 pruned, 1 killed, 1 preempted" in buf.getvalue()
