"""One strategy per search method behind `SearchMethod`; the engine never asks which one it runs."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.trial import TrialState

from agent.backends.base import BackendError
from agent.backends.local.journal import SafeJournalFileBackend
from agent.backends.local.methods import METHODS, EndedTrial, Lesson, method_for
from agent.backends.local.methods.grid import EXHAUSTED
from agent.backends.local.schema import QueuedPoint
from agent.states import RunState
from agent.sweep_config import out_of_range

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"a": {"values": [1, 2, 3, 4]}, "b": {"values": ["x", "y", "z"]}}


def _study(tmp_path: Path) -> optuna.Study:
    return optuna.create_study(storage=JournalStorage(SafeJournalFileBackend(str(tmp_path / "j.log"))))


def test_each_of_wandbs_methods_has_one_strategy():
    assert set(METHODS) == {"grid", "random", "bayes"}
    assert [METHODS[m].requeues for m in ("grid", "random", "bayes")] == [True, False, False]
    assert [METHODS[m].claims_under_lock for m in ("grid", "random", "bayes")] == [False, True, True]
    with pytest.raises(BackendError, match="unknown search method 'hill'"):
        method_for({"method": "hill"}, "abc12345")


def test_grid_enqueues_its_points_and_hands_each_out_exactly_once(tmp_path):
    grid = method_for({"method": "grid", "parameters": PARAMS}, "abc12345")
    study = _study(tmp_path)
    grid.setup(study)
    assert grid.exhausted(lambda: (12, 0)) is None
    seen = []
    while not isinstance(got := grid.next_trial(study), str):
        seen.append(grid.params(got))
        if len(seen) < 12:
            study.tell(got, 0.0)
    assert sorted((p["a"], p["b"]) for p in seen) == sorted((a, b) for a in [1, 2, 3, 4] for b in "xyz")  # 12, once
    assert got == "wait: 1 grid point(s) still running in other agents"
    study.tell(study.trials[-1].number, 0.0)
    assert grid.next_trial(study) == EXHAUSTED and grid.exhausted(lambda: (0, 0)) == EXHAUSTED
    study.enqueue_trial({}, user_attrs=QueuedPoint({"a": 9, "b": "q"}, requeue_of=3).to_attrs())
    assert grid.params(grid.next_trial(study)) == {"a": 9, "b": "q"}  # a lost point, queued again


def test_random_draws_are_reproducible_per_sweep_and_trial(tmp_path):
    params = {"lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1}, "b": {"values": [8, 16]}}
    config = {"method": "random", "parameters": params}
    study = _study(tmp_path)
    rnd = method_for(config, "abc12345")
    trials = [rnd.next_trial(study) for _ in range(5)]
    draws = [rnd.params(t) for t in trials]
    assert all(out_of_range(params, d) == {} for d in draws) and len({d["lr"] for d in draws}) == 5
    assert [method_for(config, "abc12345").params(t) for t in trials] == draws  # same sweep, same draws
    assert method_for(config, "zzz99999").params(trials[0]) != draws[0]


def _ended(state: RunState, value=None, history=(), ended=()) -> EndedTrial:
    return EndedTrial(state, value, {"m": value}, history=lambda: list(history), ended_extremes=lambda: list(ended))


def test_grid_and_random_teach_the_plain_rule():
    for name in ("grid", "random"):
        m = method_for({"method": name, "metric": {"name": "m"}}, "abc12345")
        assert m.lesson(_ended(RunState.FINISHED, 0.5)) == Lesson(value=0.5)
        assert m.lesson(_ended(RunState.FINISHED)) == Lesson(state=TrialState.FAIL)  # no metric to learn
        assert m.lesson(_ended(RunState.PRUNED, 0.5)) == Lesson(state=TrialState.PRUNED)
        assert m.lesson(_ended(RunState.KILLED)) == Lesson(state=TrialState.FAIL)
    no_metric = method_for({"method": "random"}, "abc12345")
    assert no_metric.lesson(_ended(RunState.FINISHED)) == Lesson(value=0.0)  # samplers ignore it


def test_bayes_teaches_wandbs_value_and_impute_rule():
    bayes = method_for({"method": "bayes", "metric": {"name": "m", "goal": "maximize"}}, "abc12345")
    best = bayes.lesson(_ended(RunState.FINISHED, 0.5, history=[0.2, 0.9, 0.5]))
    assert best == Lesson(value=0.9, extremes=[0.2, 0.9])  # its best logged value, not its last
    pruned = bayes.lesson(_ended(RunState.PRUNED, 0.4, history=[0.3, 0.4]))
    assert pruned.state == TrialState.COMPLETE and pruned.value == 0.4 and not pruned.has_imputed
    failed = bayes.lesson(_ended(RunState.FAILED, history=[0.1], ended=[[0.2, 0.9], [0.05, 0.7]]))
    assert failed == Lesson(value=0.05, extremes=[0.1, 0.1], imputed=0.05, has_imputed=True)  # the worst of all
    first = bayes.lesson(_ended(RunState.CRASHED))
    assert first == Lesson(state=TrialState.FAIL, has_imputed=True)  # nothing to impute from yet
