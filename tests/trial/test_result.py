"""trial_result.json is one typed record (agent/trial/result.py): every reader goes through
`TrialResult.read`, which gives a `RunState`, keeps the fields it knows and names a bad file."""

from __future__ import annotations

import json

import pytest

from agent.states import RunState
from agent.trial.result import RESULT_FILE, RESULT_FORMAT, TrialResult, TrialResultError


def test_a_result_reads_back_as_it_was_written(tmp_path):
    written = TrialResult(RunState.PRUNED, reason="hyperband", metrics={"eval/loss": 0.5}, global_step=4)
    path = written.write(tmp_path)
    on_disk = json.loads(path.read_text())
    assert on_disk["status"] == "pruned" and on_disk["format"] == RESULT_FORMAT
    back = TrialResult.read(tmp_path)
    assert back == written and back.status is RunState.PRUNED and back.exit_code == 0
    assert TrialResult.read(path) == written  # the file itself, or the folder holding it


def test_a_newer_result_is_read_for_the_fields_this_version_knows(tmp_path):
    (tmp_path / RESULT_FILE).write_text(
        json.dumps({"format": 2, "status": "finished", "global_step": 9, "energy_kwh": 0.2, "peak_gpu_memory_mb": 512})
    )
    got = TrialResult.read(tmp_path)
    assert got.status is RunState.FINISHED and got.global_step == 9 and got.format == 2
    assert got.peak_gpu_memory_mb == 512 and not hasattr(got, "energy_kwh")


def test_an_older_result_without_a_format_is_the_first_format(tmp_path):
    (tmp_path / RESULT_FILE).write_text('{"status": "failed", "reason": "boom", "disk_full": true}')
    got = TrialResult.read(tmp_path)
    assert got.format == 1 and got.status is RunState.FAILED and got.exit_code == 28


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"status": "finis', "not JSON"),
        ("[1, 2]", "not a trial result"),
        ('{"reason": "x"}', "not a trial result"),
        ('{"status": "done"}', "unknown run state 'done'"),
    ],
)
def test_a_file_that_is_no_result_is_one_line_naming_it(tmp_path, text, says):
    (tmp_path / RESULT_FILE).write_text(text)
    with pytest.raises(TrialResultError) as err:
        TrialResult.read(tmp_path)
    assert str(tmp_path / RESULT_FILE) in str(err.value) and says in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_result_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        TrialResult.read(tmp_path)
