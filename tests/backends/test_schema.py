"""What the store holds, declared once (`schema/`): records round-trip, sweeps already on disk
(format 1, no `sk_format`) still read, a newer format is refused in one line, and nobody else
names an `sk_*` key."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from agent.backends.local import LocalBackend
from agent.backends.local.schema import (
    FORMAT,
    MADE_FORMAT,
    Beat,
    Ended,
    LiveValues,
    QueuedPoint,
    Result,
    RunClaim,
    StoreFormatError,
    SweepAttrs,
    TrialAttrs,
)
from agent.backends.local.store import open_storage, sweep_dir
from agent.cli import cli
from agent.states import RunState
from tests.helpers import run_in_process

ROOT = Path(__file__).resolve().parents[2]
GRID = {"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2, 3]}}}

# What sweepkit before store formats wrote (format 1), byte for byte in shape.
OLD_RUN = {
    "params": {"x": 1},
    "run_id": "run00001",
    "lease_s": 60.0,
    "linked": False,
    "run_dir": "/somewhere/runs/run00001",
    "host": "node7",
    "pid": 4242,
}
OLD_RESULT = {
    "state": "failed",
    "reason": "boom",
    "runtime": 1.5,
    "value": None,
    "exit_code": 1,
    "summary": {"m": None},
    "config": {"x": 1},
    "extremes": None,
    "imputed": None,
}


def test_each_record_round_trips_through_the_attrs_it_writes():
    records = [
        QueuedPoint({"x": {"y": 1}}, requeue_of=4),
        RunClaim("abc", "/r/abc", {"x": 1}, lease_s=2.5, host="h", pid=7, linked=False),
        Beat(123.5),
        LiveValues({"loss": 0.25, "_step": 3.0}, 99.0),
    ]
    for rec in records:
        assert type(rec).from_attrs(rec.to_attrs()) == rec
    ended = Ended(Result(RunState.PRUNED, "hb", 0.3, 2.0, -15, {"m": 0.3}, {"x": 1}, [0.3, 0.9], 0.3, True), True)
    assert Ended.from_attrs(ended.to_attrs()) == ended
    sweep = SweepAttrs({"method": "grid"}, "2026-01-01T00:00:00+00:00", "proj")
    assert SweepAttrs.from_attrs(sweep.to_attrs(), sweep_id="s") == sweep and sweep.format == MADE_FORMAT


def test_format_1_attrs_read_as_they_were_written():
    a = TrialAttrs.from_attrs({"sk_run": OLD_RUN, "sk_result": OLD_RESULT, "sk_requeued": True, "sk_heartbeat": 5})
    assert a.run == RunClaim("run00001", "/somewhere/runs/run00001", {"x": 1}, 60.0, "node7", 4242, linked=False)
    assert a.result is not None and a.result.state == RunState.FAILED and a.result.reason == "boom"
    assert a.result.has_imputed and a.result.imputed is None and a.requeued and a.beat == Beat(5.0)
    # writing it back gives the same JSON shape (null extremes are simply not written)
    assert a.result.to_attrs()["sk_result"] == {k: v for k, v in OLD_RESULT.items() if k != "extremes"}
    assert a.run.to_attrs() == {"sk_run": OLD_RUN}
    sweep = SweepAttrs.from_attrs({"sk_config": GRID, "sk_created": "t", "sk_project": None}, sweep_id="s")
    assert sweep.format == 1 and sweep.config == GRID


def test_malformed_attrs_read_as_absent_not_as_a_crash():
    a = TrialAttrs.from_attrs({"sk_run": "torn", "sk_result": {"state": "weird"}, "sk_live": {"at": "x"}})
    assert a.run is None and a.live is None
    assert a.result is not None and a.result.state == RunState.CRASHED  # unknown text is not a result


def _trial(spec):
    Path(spec.run_dir).mkdir(parents=True, exist_ok=True)  # as a real runner does
    return {"m": spec.params["x"]}


def _old_sweep(home: Path) -> str:
    """A grid sweep as sweepkit wrote it before store formats: no `sk_format`, one run ended."""
    sid = "old00001"
    sweep_dir(sid).mkdir(parents=True)
    (sweep_dir(sid) / "sweep.yaml").write_text("method: grid\n")
    study = optuna.create_study(storage=open_storage(sid, create=True), study_name=sid)
    study.set_user_attr("sk_config", GRID)
    study.set_user_attr("sk_created", "2025-01-01T00:00:00+00:00")
    study.set_user_attr("sk_project", None)
    for x in (1, 2, 3):
        study.enqueue_trial({}, user_attrs={"sk_params": {"x": x}})
    t = study.ask()
    run = {**OLD_RUN, "run_dir": str(sweep_dir(sid) / "runs" / "run00001")}
    Path(run["run_dir"]).mkdir(parents=True)
    t.set_user_attr("sk_run", run)
    t.set_user_attr("sk_result", {**OLD_RESULT, "state": "finished", "value": 0.5, "summary": {"m": 0.5}})
    study.tell(t, 0.5)
    return sid


def test_a_sweep_written_before_store_formats_reads_runs_on_and_doctor_names_its_format(home):
    sid = _old_sweep(home)
    b = LocalBackend()
    (run,) = b.runs(sid)
    assert (run.id, run.state, run.summary, run.config) == ("run00001", RunState.FINISHED, {"m": 0.5}, {"x": 1})
    assert b.sweep(sid).created_at == "2025-01-01T00:00:00+00:00"
    assert run_in_process(b, sid, _trial) == 0  # the two points left
    assert sorted(r.config["x"] for r in LocalBackend().runs(sid)) == [1, 2, 3]
    res = CliRunner().invoke(cli, ["doctor", sid])
    assert res.exit_code == 0, res.output
    assert (
        res.output.strip() == f"{sid}: the store is sound (store format 1, written before sweepkit recorded its format)"
    )


def test_a_new_sweep_records_the_format_it_was_written_in(home):
    sid = LocalBackend().create_sweep(GRID)
    study = optuna.load_study(study_name=sid, storage=open_storage(sid))
    assert study.user_attrs["sk_format"] == MADE_FORMAT


@pytest.mark.parametrize("command", [["status"], ["doctor"], ["agent"]])
def test_a_sweep_from_a_newer_sweepkit_is_refused_in_one_line(home, command):
    sid = LocalBackend().create_sweep(GRID)
    optuna.load_study(study_name=sid, storage=open_storage(sid)).set_user_attr("sk_format", FORMAT + 1)
    res = CliRunner().invoke(cli, [*command, sid])
    assert res.exit_code == 2, res.output
    want = (
        f"sweep {sid} was written by a newer sweepkit (store format {FORMAT + 1}; this one reads up to "
        f"{FORMAT}): upgrade sweepkit"
    )
    assert [line for line in res.output.splitlines() if line.strip()] == [f"sweepkit: error: {want}"]
    with pytest.raises(StoreFormatError, match="upgrade sweepkit"):
        LocalBackend().runs(sid)
