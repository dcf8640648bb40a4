"""A sweep of a user's own program, as a new user meets it: the warnings `validate` gives before any run,
what a run that logged no `metric.name` says (and `status` and `report`), `report --metric`, and what
`--workers N` says it does with a program that is not sweepkit's trial."""

from __future__ import annotations

import json
import textwrap

import pytest

from agent.sweep_config.metric import NO_WANDB_RUN
from tests.helpers import RECORDER, env_for, make_sweep, sk, status

# A wandb script that logs the HF Trainer's names (eval/accuracy, eval/loss), as WandbCallback does.
LOGS_EVAL = textwrap.dedent("""
    import wandb
    run = wandb.init()
    x = float(run.config["x"])
    for i in range(3):
        wandb.log({"eval/accuracy": x * (i + 1) / 3, "eval/loss": 1.0 - x * i / 3})
    run.finish()
""")

# What marks an HF Trainer script, and nothing that sets report_to.
TRAINER_SCRIPT = "from transformers import HfArgumentParser, TrainingArguments\nprint('training')\n"


def _write(tmp_path, name: str, text: str) -> None:
    (tmp_path / name).write_text(textwrap.dedent(text))


def test_validate_warns_of_text_numbers_and_a_trainer_script_that_reports_nowhere(tmp_path):
    (tmp_path / "train.py").write_text(TRAINER_SCRIPT)
    _write(
        tmp_path,
        "foreign.yaml",
        """
        program: train.py
        method: grid
        metric: {name: eval/accuracy, goal: maximize}
        parameters:
          learning_rate: {values: [2e-4, 5.0e-4]}
        """,
    )
    res = sk(tmp_path, "validate", "foreign.yaml")
    assert res.returncode == 0 and "foreign.yaml: ok (2 warnings)" in res.stdout, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("foreign.yaml: warning: parameters.learning_rate.values[0]: '2e-4' is text")
    assert "the program gets the string '2e-4'" in lines[0] and "(fix: write 2.0e-4)" in lines[0]
    assert "train.py builds HF TrainingArguments and sets no report_to" in lines[1]
    assert "report_to: {value: wandb}" in lines[1]
    assert sk(tmp_path, "validate", "--strict", "foreign.yaml").returncode == 2
    made = sk(tmp_path, "sweep", "foreign.yaml")  # creating it says the same, before any run
    assert made.returncode == 0 and "sets no report_to" in made.stderr

    _write(
        tmp_path,
        "ours.yaml",
        """
        command: ["${env}", "${interpreter}", "-m", "agent", "${args}"]
        method: grid
        parameters:
          learning_rate: {values: [2e-4]}
          report_to: {value: wandb}
        """,
    )
    res = sk(tmp_path, "validate", "ours.yaml")
    assert res.returncode == 0 and "ours.yaml: ok (1 warning)" in res.stdout
    assert "sweepkit's trial reads it as 0.0002, but W&B shows and groups it as text" in res.stderr
    assert "report_to" not in res.stderr


@pytest.mark.slow  # real wandb runs and two reports; test-fast keeps to its budget
def test_a_misnamed_metric_is_named_in_each_run_status_and_report_and_report_metric_reads_it(tmp_path):
    (tmp_path / "train.py").write_text(LOGS_EVAL)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: eval_accuracy, goal: maximize}
        parameters:
          x: {values: [0.3, 0.9]}
        """,
    )
    assert sk(tmp_path, "agent", sid).returncode == 0
    runs = status(tmp_path, sid)["runs"]
    assert [r["state"] for r in runs] == ["finished", "finished"]
    for r in runs:
        assert "did you mean eval/accuracy?" in r["reason"], r["reason"]
    table = sk(tmp_path, "status", sid).stdout
    assert (
        "2 finished run(s) have no eval_accuracy" in table and f"sweepkit report {sid} --metric eval/accuracy" in table
    )
    bad = sk(tmp_path, "report", sid, timeout=300)
    assert bad.returncode == 2
    assert "did you mean eval/accuracy? (pass --metric eval/accuracy" in bad.stderr.strip().splitlines()[-1]
    good = sk(tmp_path, "report", sid, "--metric", "eval/accuracy", "--out", "rep", timeout=300)
    assert good.returncode == 0, good.stderr
    assert "best eval/accuracy 90.0" in good.stdout
    messages = json.loads((tmp_path / "rep" / "report.json").read_text())["messages"]
    assert any("ranks runs by eval/accuracy (higher is better; given with --metric" in m for m in messages)


def test_a_program_that_starts_no_wandb_run_is_told_to_report_to_wandb(tmp_path):
    (tmp_path / "rec.py").write_text(RECORDER)
    sid = make_sweep(
        tmp_path,
        """
        command: ["${env}", "${interpreter}", "rec.py", "${args_json}"]
        method: grid
        metric: {name: eval/accuracy, goal: maximize}
        parameters:
          x: {values: [1]}
        """,
    )
    assert sk(tmp_path, "agent", sid, env=env_for(tmp_path, RECORD_FILE=str(tmp_path / "rec.jsonl"))).returncode == 0
    (run,) = status(tmp_path, sid)["runs"]
    assert run["state"] == "finished" and run["reason"] == NO_WANDB_RUN
    assert NO_WANDB_RUN in sk(tmp_path, "status", sid).stdout
    bad = sk(tmp_path, "report", sid, timeout=300)
    assert bad.returncode == 2 and NO_WANDB_RUN in bad.stderr and "check metric.name" not in bad.stderr


@pytest.mark.slow  # real wandb runs and two reports; test-fast keeps to its budget
def test_workers_say_once_and_first_that_a_foreign_program_runs_cold(tmp_path):
    (tmp_path / "train.py").write_text(LOGS_EVAL)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: eval/accuracy, goal: maximize}
        parameters:
          x: {values: [0.3, 0.9]}
        """,
    )
    res = sk(tmp_path, "agent", sid, "--workers", "2", timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    out = res.stdout
    said = [line for line in out.splitlines() if "running trials cold, in 2 parallel agent(s)" in line]
    assert len(said) == 1 and "does not run sweepkit's trial" in said[0], out
    assert out.index(said[0]) < out.index(" run ")  # before the first trial ends
    assert "warm" not in out and "running cold" not in out  # no claim of warm workers; no worker repeats it
    assert [r["state"] for r in status(tmp_path, sid)["runs"]] == ["finished", "finished"]
