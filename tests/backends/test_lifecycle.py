"""A local sweep's life after it is made: `sweepkit rerun`, `sweep --extend`, `sweep --prior` (warm start).

Each test counts every point: a rerun runs the failed point exactly once more, with the same params;
an extension runs only its new points; a warm start's grid skips the points its prior runs ran.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from agent.backends.base import FAILED, FINISHED
from agent.backends.local import LocalBackend
from agent.backends.local.methods.bayes import STARTUP_TRIALS, once_per_point
from agent.backends.local.schema import MADE_FORMAT, QueuedPoint, TrialAttrs
from agent.backends.local.store import open_storage
from agent.cli import cli
from tests.helpers import FLAKY, RECORDER, env_for, make_sweep, records, run_in_process, sk, sk_popen, status

SHELL = 'program: prog.py\ncommand: ["${interpreter}", "${program}", "${args_json}"]\n'


def _agents(tmp: Path, sid: str, env: dict, n: int = 2) -> list[str]:
    """`n` agents of the sweep at once, until it is done; their stderr."""
    procs = [sk_popen(tmp, "agent", sid, env=env) for _ in range(n)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode in (0, 1) for p in procs), outs  # 1: the failure guard met the injected failure
    return [err for _, err in outs]


def _flaky(tmp: Path, fail_on: str) -> dict:
    (tmp / "prog.py").write_text(FLAKY)
    return env_for(tmp, RECORD_FILE=str(tmp / "record.jsonl"), FAIL_ON=fail_on, MARK_DIR=str(tmp))


def _by_state(st: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in st["runs"]:
        out[r["state"]] = out.get(r["state"], 0) + 1
    return out


# -- rerun ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_rerun_of_a_failed_grid_point_runs_it_once_more_and_the_grid_completes(tmp_path):
    env = _flaky(tmp_path, "a=2")
    sid = make_sweep(
        tmp_path, SHELL + "method: grid\nparameters:\n  a: {values: [1, 2, 3]}\n  seed: {values: [1, 2]}\n"
    )
    _agents(tmp_path, sid, env)
    st = status(tmp_path, sid)
    assert _by_state(st) == {"finished": 5, "failed": 1} and st["sweep"]["state"] == "finished"
    (failed,) = [r for r in st["runs"] if r["state"] == "failed"]

    res = sk(tmp_path, "rerun", sid, env=env)
    assert res.returncode == 0, res.stderr
    shown = ", ".join(f"{k}={v}" for k, v in failed["config"].items())
    assert f"queued again: the point of run {failed['id']} ({shown})" in res.stderr
    assert f"run them with: sweepkit agent {sid}" in res.stderr
    assert status(tmp_path, sid)["sweep"]["state"] == "running"  # a finished sweep runs again

    _agents(tmp_path, sid, env)
    st = status(tmp_path, sid)
    assert st["sweep"]["state"] == "finished" and _by_state(st) == {"finished": 6, "failed": 1}
    (again,) = [r for r in st["runs"] if r["rerun_of"]]
    old = next(r for r in st["runs"] if r["id"] == failed["id"])
    assert again["rerun_of"] == failed["id"] and old["rerun_by"] == again["id"]  # linked both ways
    assert again["config"] == failed["config"] and again["state"] == "finished"
    rec = records(tmp_path / "record.jsonl")
    points = sorted((r["args"]["a"], r["args"]["seed"]) for r in rec)
    failed_point = (failed["config"]["a"], failed["config"]["seed"])
    every = sorted((a, s) for a in (1, 2, 3) for s in (1, 2))
    assert points == sorted([*every, failed_point])  # each point once, the failed one once more
    finished = sorted((r["config"]["a"], r["config"]["seed"]) for r in st["runs"] if r["state"] == "finished")
    assert finished == every
    assert "nothing to re-run" in sk(tmp_path, "rerun", sid, env=env).stderr


@pytest.mark.slow
def test_rerun_in_a_capped_random_sweep_runs_the_failed_draw_again_with_its_exact_params(tmp_path):
    env = _flaky(tmp_path, "first")
    sid = make_sweep(
        tmp_path,
        SHELL + "method: random\nrun_cap: 4\nparameters:\n  x: {min: 0.0, max: 1.0}\n  seed: {values: [1, 2, 3]}\n",
    )
    _agents(tmp_path, sid, env)
    st = status(tmp_path, sid)
    assert _by_state(st) == {"finished": 3, "failed": 1} and st["sweep"]["state"] == "finished"
    (failed,) = [r for r in st["runs"] if r["state"] == "failed"]

    res = sk(tmp_path, "rerun", sid, "--state", "failed", env=env)
    assert res.returncode == 0, res.stderr
    assert status(tmp_path, sid)["sweep"]["state"] == "running"  # the re-run takes the failed run's slot
    _agents(tmp_path, sid, env)
    st = status(tmp_path, sid)
    assert _by_state(st) == {"finished": 4, "failed": 1} and st["sweep"]["state"] == "finished"
    rec = records(tmp_path / "record.jsonl")
    assert len(rec) == 5  # run_cap 4, and the one re-run: no other draw
    (again,) = [r for r in st["runs"] if r["rerun_of"] == failed["id"]]
    ran = next(r["args"] for r in rec if r["run"] == again["id"])
    assert ran == next(r["args"] for r in rec if r["run"] == failed["id"])  # the same params, exactly
    assert again["config"] == failed["config"]


def test_a_bayes_rerun_enters_the_gp_once_replacing_the_failed_trials_imputed_value(home):
    b = LocalBackend()
    sid = b.create_sweep(
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": "minimize"},
            "run_cap": 3,
            "parameters": {
                "x": {"min": 0.0, "max": 1.0},
                "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
            },
        }
    )
    calls = [0]

    def trial(spec):
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("CUDA out of memory")
        return {"loss": (spec.params["x"] - 0.3) ** 2}

    assert run_in_process(b, sid, trial, max_consecutive_failures=99) == 0
    (failed,) = [r for r in b.runs(sid) if r.state == FAILED]
    study = b.engine(sid).study
    f_trial = study.trials[2]
    assert f_trial.state == TrialState.COMPLETE  # bayes learned the failed point's imputed (worst) value
    imputed = f_trial.value
    assert b.sweep(sid).state == "finished"

    done = b.rerun(sid, states=[FAILED])
    assert done.queued == [(failed.id, failed.config)]
    assert b.sweep(sid).state == "running"
    assert run_in_process(b, sid, lambda spec: {"loss": (spec.params["x"] - 0.3) ** 2}) == 0

    runs = b.runs(sid)
    (again,) = [r for r in runs if r.rerun_of == failed.id]
    assert again.config == failed.config and again.state == FINISHED and len(runs) == 4
    assert b.sweep(sid).state == "finished"  # run_cap 3: the failed run's slot went to its re-run
    trials = study.get_trials(deepcopy=False)
    r_trial = next(t for t in trials if (p := QueuedPoint.from_attrs(t.user_attrs)) and p.rerun_of == 2)
    assert r_trial.params == f_trial.params  # enqueued at the failed trial's own point
    assert r_trial.value == pytest.approx(again.summary["loss"]) and r_trial.value != imputed
    seen = once_per_point(study.get_trials(states=(TrialState.COMPLETE, TrialState.RUNNING)), {"x", "lr"})
    at_point = [t for t in seen if t.params == f_trial.params]
    assert [t.number for t in at_point] == [r_trial.number]  # the GP sees the point once, with the re-run's value
    assert len(seen) == 3
    follow = study.ask()  # the GP fits the points it sees, the re-run's included
    assert study.sampler.sample_relative(study, study.trials[follow.number], study.sampler.space)


def test_a_rerun_names_the_runs_it_cannot_rerun_in_one_line(home):
    b = LocalBackend()
    sid = b.create_sweep({"method": "grid", "parameters": {"x": {"values": [1, 2]}}})
    assert run_in_process(b, sid, lambda spec: {}) == 0
    runner = CliRunner()
    for args, want in (
        (["--runs", "nope"], f"no run 'nope' in sweep {sid}"),
        (["--state", "running"], "--state running: runs still running cannot be re-run"),
        (["--state", "failed"], f"nothing to re-run in sweep {sid}: no failed run is left to run again"),
        (["--state", "failed", "--runs", "x"], "pass --runs or --state, not both"),
    ):
        res = runner.invoke(cli, ["rerun", sid, *args])
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and want in lines[0], res.output
    first = b.runs(sid)[0].id
    assert runner.invoke(cli, ["rerun", sid, "--runs", first]).exit_code == 0  # a finished run, on request
    res = runner.invoke(cli, ["rerun", sid, "--runs", first])
    assert res.exit_code == 2 and "was already run again (it is queued)" in res.output


def test_a_rerun_of_a_format_2_sweep_writes_format_3(home):
    b = LocalBackend()
    sid = b.create_sweep({"method": "grid", "parameters": {"x": {"values": [1]}}})
    study = b.engine(sid).study
    study.set_user_attr("sk_format", 2)  # as the previous sweepkit wrote it
    assert run_in_process(b, sid, lambda spec: 1 / 0) == 0
    b.rerun(sid, states=[FAILED])
    assert (
        MADE_FORMAT == 3 and optuna.load_study(study_name=sid, storage=open_storage(sid)).user_attrs["sk_format"] == 3
    )


# -- extend ---------------------------------------------------------------------------------------
GRID = SHELL.replace("{", "{{").replace("}", "}}") + (
    "method: grid\nrun_cap: {cap}\nparameters:\n  a: {{values: {a}}}\n  b: {{values: [x, y]}}\n"
)


@pytest.mark.slow
def test_extending_a_finished_grid_runs_only_its_new_points_each_once(tmp_path, home):
    (tmp_path / "prog.py").write_text(RECORDER)
    env = env_for(tmp_path, RECORD_FILE=str(tmp_path / "record.jsonl"))
    sid = make_sweep(tmp_path, GRID.format(cap=3, a="[1, 2]"))
    _agents(tmp_path, sid, env)
    assert status(tmp_path, sid)["sweep"]["state"] == "finished" and len(records(tmp_path / "record.jsonl")) == 3

    (tmp_path / "more.yaml").write_text(GRID.format(cap=10, a="[1, 2, 3]"))
    res = sk(tmp_path, "sweep", "--extend", sid, "more.yaml", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == sid
    assert (
        f"extended local sweep {sid}: run_cap 3 -> 10; parameters.a: 1 new value(s); queued 2 new grid point(s)"
        in res.stderr
    )
    assert status(tmp_path, sid)["sweep"]["state"] == "running"
    _agents(tmp_path, sid, env)
    st = status(tmp_path, sid)
    assert st["sweep"]["state"] == "finished" and _by_state(st) == {"finished": 6}
    points = sorted((r["args"]["a"], r["args"]["b"]) for r in records(tmp_path / "record.jsonl"))
    assert points == sorted((a, b) for a in (1, 2, 3) for b in "xy")  # every point once: no old one again
    meta = LocalBackend().engine(sid).meta
    assert meta.config["run_cap"] == 10 and meta.revision == 2
    (old,) = meta.history
    assert old.config["run_cap"] == 3 and old.config["parameters"]["a"] == {"values": [1, 2]}
    assert "run_cap 3 -> 10" in old.change and old.until


def test_an_agent_started_before_an_extension_runs_the_new_points(home, tmp_path):
    b = LocalBackend()
    base = {"program": "train.py", "method": "grid", "metric": {"name": "m"}, "parameters": {"a": {"values": [1, 2]}}}
    sid = b.create_sweep({**base, "run_cap": 2})
    assert run_in_process(b, sid, lambda spec: {"m": 1}) == 0
    (tmp_path / "more.yaml").write_text(yaml_of({**base, "parameters": {"a": {"values": [1, 2, 3]}}, "run_cap": 3}))
    res = CliRunner().invoke(cli, ["sweep", "--extend", sid, str(tmp_path / "more.yaml")])
    assert res.exit_code == 0, res.output
    assert run_in_process(b, sid, lambda spec: {"m": 1}) == 0  # b's engine was read before the extension
    assert sorted(r.config["a"] for r in b.runs(sid)) == [1, 2, 3]


def yaml_of(config: dict) -> str:
    import yaml

    return yaml.safe_dump(config)


BASE = {
    "program": "train.py",
    "method": "random",
    "metric": {"name": "eval/accuracy", "goal": "maximize"},
    "run_cap": 4,
    "parameters": {"lr": {"min": 0.001, "max": 0.1}, "model": {"values": ["bert", "distilbert"]}},
}


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"metric": {"name": "eval/f1", "goal": "maximize"}},
            "cannot extend: metric.name changed from eval/accuracy to eval/f1 (a new sweep is needed)",
        ),
        ({"run_cap": 2}, "cannot extend: run_cap lowered from 4 to 2 (a new sweep is needed)"),
        ({"method": "bayes"}, "cannot extend: method changed from random to bayes (a new sweep is needed)"),
        (
            {"parameters": {**BASE["parameters"], "lr": {"min": 0.01, "max": 0.1}}},
            "cannot extend: parameters.lr.min raised from 0.001 to 0.01 (a new sweep is needed)",
        ),
        (
            {"parameters": {**BASE["parameters"], "model": {"values": ["bert"]}}},
            "cannot extend: parameters.model drops value(s) distilbert (a new sweep is needed)",
        ),
        (
            {"parameters": {**BASE["parameters"], "seed": {"values": [1, 2]}}},
            "cannot extend: parameters.seed added (a new sweep is needed)",
        ),
        (
            {"method": "bayes", "parameters": {**BASE["parameters"], "model": {"values": ["bert", "distilbert", "x"]}}},
            "cannot extend: parameters.model (categorical) cannot grow in a bayes sweep",
        ),
        ({}, "cannot extend: the new config changes nothing"),
    ],
)
def test_an_incompatible_extension_is_refused_in_one_line_naming_the_change(home, tmp_path, change, line):
    b = LocalBackend()
    old = {**BASE, **({"method": "bayes"} if "grow in a bayes" in line else {})}
    sid = b.create_sweep(old)
    (tmp_path / "new.yaml").write_text(yaml_of({**old, **change}))
    res = CliRunner().invoke(cli, ["sweep", "--extend", sid, str(tmp_path / "new.yaml")])
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"sweepkit: error: {line}"), res.output
    assert LocalBackend().sweep(sid).config == old  # nothing changed


def test_a_random_sweep_extended_to_a_wider_range_draws_from_it(home, tmp_path):
    b = LocalBackend()
    narrow = {**BASE, "run_cap": 3, "parameters": {"lr": {"min": 0.001, "max": 0.002}}}
    sid = b.create_sweep(narrow)
    assert run_in_process(b, sid, lambda spec: {"eval/accuracy": 0.5}) == 0
    wide = {**narrow, "run_cap": 40, "parameters": {"lr": {"min": 0.001, "max": 10.0}}}
    assert b.extend_sweep(sid, wide).changes == ["run_cap 3 -> 40", "parameters.lr: [0.001, 0.002] -> [0.001, 10.0]"]
    assert run_in_process(b, sid, lambda spec: {"eval/accuracy": 0.5}) == 0
    lrs = [r.config["lr"] for r in b.runs(sid)]
    assert len(lrs) == 40 and all(x <= 0.002 for x in lrs[:3]) and max(lrs[3:]) > 0.002


def test_a_bayes_sweep_extended_to_a_wider_range_models_the_new_range_with_its_old_trials(home):
    b = LocalBackend()
    narrow = {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "run_cap": 3,
        "parameters": {"x": {"min": 0.0, "max": 0.1}, "seed": {"values": [1, 2]}},
    }
    sid = b.create_sweep(narrow)
    assert run_in_process(b, sid, _loss) == 0
    wide = {**narrow, "run_cap": 5, "parameters": {**narrow["parameters"], "x": {"min": 0.0, "max": 10.0}}}
    b.extend_sweep(sid, wide)
    assert run_in_process(b, sid, _loss) == 0
    study = b.engine(sid).study
    assert [t.distributions["x"].high for t in study.trials] == [0.1, 0.1, 0.1, 10.0, 10.0]
    # the GP fits every trial, the old ones included (an intersection of distributions would drop x)
    assert study.sampler.infer_relative_search_space(study, study.trials[-1])["x"].high == 10.0


# -- warm start -----------------------------------------------------------------------------------
def _loss(spec) -> dict:
    return {"loss": (spec.params["x"] - 0.3) ** 2 + 0.01 * spec.params["seed"]}


def test_a_bayes_warm_start_learns_the_prior_values_before_its_first_suggestion(home, tmp_path):
    b = LocalBackend()
    metric = {"name": "loss", "goal": "minimize"}
    prior = b.create_sweep(
        {
            "method": "grid",
            "metric": metric,
            "parameters": {"x": {"values": [0.1, 0.4, 0.7, 1.5, 1.9]}, "seed": {"values": [1, 2]}},
        }
    )
    assert run_in_process(b, prior, _loss) == 0
    other = b.create_sweep(
        {
            "method": "grid",
            "metric": metric,
            "parameters": {"x": {"values": [0.2]}, "seed": {"values": [1]}, "extra": {"value": 1}},
        }
    )
    assert run_in_process(b, other, _loss) == 0
    new = {
        "program": "train.py",
        "method": "bayes",
        "metric": metric,
        "parameters": {"x": {"min": 0.0, "max": 1.0}, "seed": {"values": [1, 2]}},
    }
    (tmp_path / "new.yaml").write_text(yaml_of(new))
    res = CliRunner().invoke(cli, ["sweep", str(tmp_path / "new.yaml"), "--prior", f"{prior},{other}"])
    assert res.exit_code == 0, res.output
    sid = res.output.strip().splitlines()[-1]
    assert (
        f"warm start: 6 of 11 finished run(s) of {prior}, {other} join the new sweep as prior runs; 5 skipped: "
        "4 with a value outside the new space (e.g. run " in res.output
    )
    assert "1 with a missing or extra key (e.g. run " in res.output and ": extra key extra)" in res.output

    engine = LocalBackend().engine(sid)
    study = engine.study
    fit = {(r.config["x"], r.config["seed"]): r.summary["loss"] for r in b.runs(prior) if r.config["x"] < 1}
    assert len(study.trials) == 6 and all(t.state == TrialState.COMPLETE for t in study.trials)
    told = {(t.params["x"], t.params["seed"]): t.value for t in study.trials}
    assert told == pytest.approx(fit)  # the GP's data: the prior runs at their params, with their values
    assert all(TrialAttrs.from_attrs(t.user_attrs).prior.sweep == prior for t in study.trials)
    runs = engine.records()
    assert {r.prior for r in runs} == {prior} and len(runs) == 6
    assert len(study.trials) >= STARTUP_TRIALS
    first = study.ask()  # the first new suggestion: the GP's (relative params), not a random startup draw
    assert study.sampler.sample_relative(study, study.trials[first.number], study.sampler.space)
    study.tell(first, state=TrialState.FAIL)
    assert run_in_process(LocalBackend(), sid, _loss, count=2) == 0
    assert [r.prior for r in LocalBackend().runs(sid)].count(None) == 2  # its own runs, apart from the prior ones


@pytest.mark.slow
def test_a_grid_warm_start_skips_the_points_already_run_unless_no_skip(tmp_path):
    (tmp_path / "prog.py").write_text(RECORDER)
    env = env_for(tmp_path, RECORD_FILE=str(tmp_path / "record.jsonl"))
    old = make_sweep(tmp_path, SHELL + "method: grid\nparameters:\n  a: {values: [1, 2]}\n  b: {values: [x, y]}\n")
    _agents(tmp_path, old, env)
    assert len(records(tmp_path / "record.jsonl")) == 4
    (tmp_path / "record.jsonl").unlink()
    (tmp_path / "new.yaml").write_text(
        SHELL + "method: grid\nparameters:\n  a: {values: [1, 2, 3]}\n  b: {values: [x, y]}\n"
    )
    res = sk(tmp_path, "sweep", "new.yaml", "--prior", old, env=env)
    assert res.returncode == 0, res.stderr
    assert "warm start: 4 of 4 finished run(s) of " + old in res.stderr
    assert "the grid skips the 4 point(s) they ran" in res.stderr
    sid = res.stdout.strip().splitlines()[-1]
    _agents(tmp_path, sid, env)
    assert sorted((r["args"]["a"], r["args"]["b"]) for r in records(tmp_path / "record.jsonl")) == [(3, "x"), (3, "y")]
    st = status(tmp_path, sid)
    assert st["sweep"]["state"] == "finished" and len(st["runs"]) == 6
    assert sorted(r["prior"] or "" for r in st["runs"]) == ["", "", old, old, old, old]

    (tmp_path / "record.jsonl").unlink()
    res = sk(tmp_path, "sweep", "new.yaml", "--prior", old, "--no-skip", env=env)
    assert res.returncode == 0 and "--no-skip: all 6 grid point(s) run" in res.stderr, res.stderr
    _agents(tmp_path, res.stdout.strip().splitlines()[-1], env)
    assert len(records(tmp_path / "record.jsonl")) == 6  # every point, those the prior runs ran too


# -- the W&B backend ------------------------------------------------------------------------------
def test_wandb_sweeps_refuse_rerun_and_extend_in_one_line_saying_what_to_do(tmp_path):
    (tmp_path / "s.yaml").write_text(textwrap.dedent("program: t.py\nmethod: grid\nparameters:\n  a: {values: [1]}\n"))
    for args, want in (
        (["rerun", "ent/proj/abcd1234"], "W&B has no re-run of a sweep's runs"),
        (
            ["sweep", "--extend", "ent/proj/abcd1234", str(tmp_path / "s.yaml")],
            "W&B cannot extend a sweep that has runs",
        ),
    ):
        res = CliRunner().invoke(cli, args)
        lines = [x for x in res.output.splitlines() if x.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and want in lines[0], res.output
        assert "--prior ent/proj/abcd1234" in lines[0]
