"""The local (Optuna) engine: grid/random/bayes, hyperband, run_cap, target, nested params."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from agent.backends import get_backend
from agent.backends.base import CRASHED, FAILED, FINISHED, KILLED, PRUNED
from agent.backends.local import LocalBackend
from agent.backends.local.hyperband import MetricFeed, WandbHyperbandPruner
from agent.backends.local.results import learned_value
from agent.backends.outcome import outcome
from agent.sweep_config import out_of_range
from tests.helpers import FOREIGN, RECORDER, env_for, make_sweep, records, run_in_process, sk, sk_popen, status

ALL_DISTRIBUTIONS = {
    "c": {"value": 7},
    "cat": {"values": ["a", "b", 3]},
    "iu": {"distribution": "int_uniform", "min": -3, "max": 4},
    "u": {"min": 0.5, "max": 1.5},
    "qu": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
    "luv": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
    "qluv": {"distribution": "q_log_uniform_values", "min": 1, "max": 100, "q": 1},
    "iluv": {"distribution": "inv_log_uniform_values", "min": 0.1, "max": 10},
    "n": {"distribution": "normal", "mu": 1, "sigma": 2},
    "qn": {"distribution": "q_normal", "mu": 0, "sigma": 3, "q": 0.5},
    "ln": {"distribution": "log_normal", "mu": 0, "sigma": 1},
    "qln": {"distribution": "q_log_normal", "mu": 1, "sigma": 0.5, "q": 1},
    "b": {"distribution": "beta", "a": 2, "b": 5},
    "qb": {"distribution": "q_beta", "a": 1, "b": 1, "q": 0.1},
    "cwp": {"distribution": "categorical_w_probabilities", "values": [1, 2], "probabilities": [0.3, 0.7]},
    "nested": {"parameters": {"lr": {"min": 0.01, "max": 0.1}, "opt": {"values": ["adam", "sgd"]}}},
}


# --- pure pieces --------------------------------------------------------------------------------
def test_outcome_maps_exit_and_stop_to_wandb_states():
    ok = {"summary": {"loss": 0.5}}
    assert outcome(metric="loss", exit_code=0, stopped=None, run_info=ok, log_reason=None) == (FINISHED, 0.5, None)
    assert outcome(
        metric="loss", exit_code=1, stopped=None, run_info={"summary": {"failure_reason": "OOM"}}, log_reason="tail"
    )[::2] == (FAILED, "OOM")
    assert outcome(metric="loss", exit_code=-9, stopped=None, run_info={}, log_reason=None)[0] == CRASHED
    assert outcome(metric="loss", exit_code=-15, stopped="hb", run_info=ok, log_reason=None) == (PRUNED, 0.5, "hb")
    assert outcome(metric="loss", exit_code=-15, stopped="interrupted", run_info={}, log_reason=None)[::2] == (
        KILLED,
        "interrupted",
    )
    state, value, reason = outcome(
        metric="loss", exit_code=0, stopped=None, run_info={"summary": {"loss": float("nan")}}, log_reason=None
    )
    assert (state, value) == (FINISHED, None) and "loss" in reason


def test_a_finished_run_without_the_metric_says_why_and_what_it_logged():
    def reason(summary, run_log=None):
        info = {"summary": summary}
        return outcome(
            metric="eval_accuracy", exit_code=0, stopped=None, run_info=info, log_reason=None, run_log=run_log
        )

    state, value, why = reason({"eval/accuracy": 0.8, "eval/loss": 0.4, "_runtime": 3})
    assert (state, value) == (FINISHED, None) and "did you mean eval/accuracy?" in why and "check metric" not in why
    # no W&B run in its folder: the Trainer's report_to, not metric.name, is the cause
    assert (
        reason({}, run_log=False)[2].startswith("the program started no W&B run")
        and "--report_to wandb" in (reason({}, run_log=False)[2])
    )
    assert "it logged train/loss" in reason({"train/loss": 1.0}, run_log=True)[2]


def test_bayes_learns_a_runs_best_value_and_imputes_failed_ones_as_wandb_does():
    up, down = {"goal": "maximize"}, {"goal": "minimize"}
    assert learned_value(up, FINISHED, [0.2, 0.9, 0.5], [0.2, 0.9], []) == (0.9, False)  # its best, not its last
    assert learned_value(down, FAILED, [3.0], [3.0, 3.0], [[1.0, 2.0], [0.5, 4.0]]) == (4.0, True)  # worst of all
    assert learned_value(up, FAILED, [], None, [[1.0, 2.0], [0.5, 4.0]]) == (0.5, True)
    assert learned_value({**up, "impute": "best"}, CRASHED, [0.1, 0.3], [0.1, 0.3], []) == (0.3, True)
    assert learned_value({**up, "impute": "latest"}, KILLED, [0.1, 0.3, 0.2], [0.1, 0.3], []) == (0.2, True)
    assert learned_value(up, FINISHED, [], None, [[1.0, 2.0]]) == (1.0, True)  # finished without the metric
    for how in ("worst", "best", "latest"):  # nothing to learn from: W&B says 0.0, sweepkit nothing
        assert learned_value({**down, "impute": how}, FAILED, [], None, [None]) == (None, False)


def test_failed_bayes_runs_teach_the_sampler_the_imputed_value(home):
    b = LocalBackend()
    sid = b.create_sweep(
        {
            "method": "bayes",
            "metric": {"name": "acc", "goal": "maximize"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )

    def trial(spec):
        if spec.params["x"] > 0.2:
            raise RuntimeError("diverged")
        return {"acc": spec.params["x"]}

    assert run_in_process(b, sid, trial, count=8, max_consecutive_failures=99) == 0
    study = b.engine(sid).study
    runs = b.runs(sid)
    assert any(r.state == FAILED for r in runs)
    ok_so_far: list[float] = []
    for r, t in zip(runs, study.trials, strict=False):  # one agent: in order
        if r.state == FINISHED:
            ok_so_far.append(r.summary["acc"])
            continue
        imputed = t.user_attrs["sk_result"]["imputed"]
        assert imputed == (min(ok_so_far) if ok_so_far else None)  # the worst so far
        assert t.state == (optuna.trial.TrialState.COMPLETE if ok_so_far else optuna.trial.TrialState.FAIL)


def test_wandb_hyperband_rule_matches_wandb_docstring_example():
    # W&B's engine docstring: eta=2, max_iter=5, s=2 -> bands [1, 2]. At band 2 the cut is element
    # int(5/2) of the 2nd values [6, 7, 8, 9, 10], 8: b (10) stops, c (8, not worse) and d run on.
    for strict in (True, False):
        study = optuna.create_study(direction="minimize", pruner=WandbHyperbandPruner([1, 2], 2, strict))
        hist = {"a": [10, 9], "b": [10, 10], "c": [10, 8, 8], "d": [10, 7, 7], "e": [10, 6, 6]}
        trials = {}
        for name, h in hist.items():
            t = study.ask()
            for i, v in enumerate(h):
                t.report(v, i)
            trials[name] = t
        assert [n for n in "bcd" if trials[n].should_prune()] == ["b"]


def test_strict_false_judges_the_best_value_so_far_and_stops_fewer_runs():
    hist = {"a": [5, 5, 5], "b": [9, 1, 9]}  # b's 3rd value is worse than the cut, its best is not
    for strict, pruned in ((True, True), (False, False)):
        study = optuna.create_study(direction="minimize", pruner=WandbHyperbandPruner([3], 3, strict))
        trials = {}
        for name, h in hist.items():
            trials[name] = t = study.ask()
            for i, v in enumerate(h):
                t.report(v, i)
        assert trials["b"].should_prune() is pruned


def test_metric_feed_counts_iterations_from_one_source_only():
    got = []
    feed = MetricFeed("loss", lambda step, v: got.append((step, v)))
    feed.row("progress", {"loss": 3.0})
    feed.row("history", {"loss": 3.0})  # the same value arriving late via the .wandb log
    feed.row("progress", {"acc": 1.0})  # not the metric: not an iteration
    feed.row("progress", {"loss": float("nan")})
    feed.row("progress", {"loss": 2})
    assert got == [(0, 3.0), (1, 2.0)]


def test_local_trials_run_offline_grouped_and_tagged_unless_the_user_says_otherwise():
    env = LocalBackend().trial_env("swp12345", {"project": "proj", "entity": "ent"})
    assert env["WANDB_MODE"] == "offline" and env["WANDB_RUN_GROUP"] == "sweep-swp12345"
    assert env["WANDB_TAGS"] == "sweepkit,sweep-swp12345" and env["WANDB__TRANSACTION_LOG_FLUSH_INTERVAL"] == "2"
    assert (env["WANDB_PROJECT"], env["WANDB_ENTITY"]) == ("proj", "ent")


def test_get_backend_picks_by_name_or_id_shape():
    assert get_backend("abcd1234").name == "local"
    assert get_backend("ent/proj/abcd1234").name == "wandb"
    assert get_backend("wandb").name == "wandb"


# --- in-process (function=) trials: fast, exercise the engine itself ----------------------------
@pytest.mark.parametrize("method", ["random", pytest.param("bayes", marks=pytest.mark.slow)])  # a GP over 16 dims
def test_random_and_bayes_stay_in_range_for_every_distribution(home, method):
    config = {"method": method, "metric": {"name": "score", "goal": "maximize"}, "parameters": ALL_DISTRIBUTIONS}
    b = LocalBackend()
    sid = b.create_sweep(config)
    seen = []

    def trial(spec):
        seen.append(spec.params)
        return {"score": float(spec.params["u"]) + spec.params["nested"]["lr"]}

    assert run_in_process(b, sid, trial, count=12) == 0
    assert len(seen) == 12
    for p in seen:
        assert out_of_range(ALL_DISTRIBUTIONS, p) == {}
        assert isinstance(p["nested"], dict) and p["c"] == 7
    runs = b.runs(sid)
    assert [r.state for r in runs] == [FINISHED] * 12
    assert all(r.summary["score"] > 0 for r in runs)


def test_run_cap_counts_every_trial_of_the_sweep(home):
    b = LocalBackend()
    sid = b.create_sweep({"method": "random", "run_cap": 5, "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    assert run_in_process(b, sid, lambda s: {}, count=3) == 0
    assert run_in_process(b, sid, lambda s: {}, count=10) == 0
    assert len(b.runs(sid)) == 5
    assert b.sweep(sid).state == "finished"


def test_metric_target_ends_the_sweep(home):
    b = LocalBackend()
    sid = b.create_sweep(
        {
            "method": "grid",
            "metric": {"name": "acc", "goal": "maximize", "target": 0.8},
            "parameters": {"x": {"values": [0.1, 0.9, 0.5, 0.3]}},
        }
    )
    assert run_in_process(b, sid, lambda s: {"acc": s.params["x"]}) == 0
    assert [r.summary["acc"] for r in b.runs(sid)] == [0.1, 0.9]  # nothing handed out after 0.9


def test_failing_in_process_trial_does_not_stop_the_sweep(home):
    b = LocalBackend()
    sid = b.create_sweep({"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2, 3]}}})

    def trial(spec):
        if spec.params["x"] == 2:
            raise ValueError("boom")
        return {"m": spec.params["x"]}

    assert run_in_process(b, sid, trial) == 0
    runs = b.runs(sid)
    assert [r.state for r in runs] == [FINISHED, FAILED, FINISHED]
    assert runs[1].reason == "ValueError: boom"


def test_run_without_the_metric_is_finished_with_a_reason(home):
    b = LocalBackend()
    sid = b.create_sweep({"method": "grid", "metric": {"name": "m"}, "parameters": {"x": {"values": [1]}}})
    assert run_in_process(b, sid, lambda s: {"other": 1.0}) == 0
    (run,) = b.runs(sid)
    assert run.state == FINISHED and "'m'" in run.reason


# --- real child processes through the CLI -------------------------------------------------------
@pytest.mark.slow
def test_foreign_wandb_script_gets_its_nested_params(tmp_path):
    (tmp_path / "train.py").write_text(FOREIGN)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss}
        parameters:
          x: {values: [2]}
          opt: {parameters: {lr: {value: 0.01}, name: {value: adam}}}
    """,
    )
    res = sk(tmp_path, "agent", sid)
    assert res.returncode == 0, res.stderr
    st = status(tmp_path, sid)
    (run,) = st["runs"]
    assert run["state"] == "finished" and run["summary"]["loss"] == 2.0  # last of 6, 4, 2
    seen = json.loads((Path(run["run_dir"]) / "seen.json").read_text())
    assert seen["config"]["opt"] == {"lr": 0.01, "name": "adam"}  # nested in wandb.config
    assert seen["env"]["WANDB_SWEEP_ID"] == sid and seen["env"]["WANDB_RUN_ID"] == run["id"]
    assert seen["env"]["WANDB_MODE"] == "offline"
    assert "--x=2" in seen["argv"]
    assert run["config"]["opt"] == {"lr": 0.01, "name": "adam"}
    assert st["sweep"]["state"] == "finished"


@pytest.mark.slow
def test_grid_by_three_concurrent_agents_runs_each_point_once(tmp_path):
    (tmp_path / "rec.py").write_text(RECORDER)
    sid = make_sweep(
        tmp_path,
        """
        program: rec.py
        command: ["${interpreter}", "${program}", "${args_json}"]
        method: grid
        parameters:
          a: {values: [1, 2, 3, 4]}
          b: {values: [x, y, z]}
          sleep: {value: 0.3}
    """,
    )
    env = env_for(tmp_path, RECORD_FILE=str(tmp_path / "record.jsonl"))
    procs = [sk_popen(tmp_path, "agent", sid, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    rec = records(tmp_path / "record.jsonl")
    points = sorted((r["args"]["a"], r["args"]["b"]) for r in rec)
    assert points == sorted((a, b) for a in [1, 2, 3, 4] for b in "xyz")  # 12 points, each once
    assert len({r["run"] for r in rec}) == 12
    st = status(tmp_path, sid)
    assert sorted(r["state"] for r in st["runs"]) == ["finished"] * 12
    # the work was really shared: more than one agent ran trials
    assert sum(1 for out, _ in outs if "finished" in out) >= 2


@pytest.mark.slow
def test_hyperband_prunes_a_clearly_bad_trial(tmp_path):
    (tmp_path / "train.py").write_text(FOREIGN)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss, goal: minimize}
        early_terminate: {type: hyperband, min_iter: 2, eta: 3}
        parameters:
          x: {values: [1, 100]}
          steps: {value: 40}
          sleep: {value: 0.25}
    """,
    )
    res = sk(tmp_path, "agent", sid, timeout=240)
    assert res.returncode == 0, res.stderr
    good, bad = status(tmp_path, sid)["runs"]
    assert good["state"] == "finished"
    assert bad["state"] == "pruned", bad
    assert "hyperband" in bad["reason"]
    # stopped early: the full run logs 40 iterations over >= 10 s
    assert bad["runtime_s"] < good["runtime_s"] * 0.8


def test_a_pruned_bayes_run_teaches_its_best_value_so_far_and_stays_pruned(home):
    b = LocalBackend()
    sid = b.create_sweep(
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": "minimize"},
            "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3},
            "parameters": {"x": {"values": [1.0, 50.0]}},
        }
    )
    curves = iter([[3.0, 2.0, 1.0], [90.0, 80.0, 70.0], [95.0]])

    def trial(spec, control):
        for i, v in enumerate(next(curves)):
            control.on_row("trial", {"loss": v, "_step": i})
            if control.stop_reason():
                break
        return {"loss": v}

    from tests.helpers import FunctionRunner

    assert run_in_process(b, sid, FunctionRunner(trial, report_rows=True), count=2) == 0
    first, second = b.runs(sid)
    assert (first.state, second.state) == (FINISHED, PRUNED)
    told = b.engine(sid).study.trials[1]
    assert told.state == optuna.trial.TrialState.COMPLETE and told.value == 90.0  # its best (and only) value
