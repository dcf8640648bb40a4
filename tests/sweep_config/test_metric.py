"""The metric's one set of rules: better, best, target, W&B's default goal."""

import math

from agent.sweep_config.metric import best, is_better, maximize, reached


def test_goal_defaults_to_minimize_as_in_wandb():
    assert maximize({"name": "x", "goal": "maximize"}) and not maximize({"name": "x"}) and not maximize(None)


def test_is_better_follows_the_goal_and_anything_beats_nothing():
    assert is_better(2.0, 1.0, {"goal": "maximize"}) and not is_better(2.0, 1.0, {})
    assert is_better(5.0, None, {}) and not is_better(1.0, 1.0, {"goal": "maximize"})


def test_best_skips_non_finite_values_and_keeps_the_first_of_a_tie():
    items = [("a", 0.5), ("b", math.nan), ("c", 0.9), ("d", 0.9), ("e", math.inf), ("f", None), ("g", True)]
    assert best(items, lambda x: x[1], {"goal": "maximize"})[0] == "c"
    assert best(items, lambda x: x[1], {"goal": "minimize"})[0] == "a"
    assert best([], lambda x: x, {}) is None


def test_reached_respects_goal():
    assert reached({"target": 0.9, "goal": "maximize"}, 0.95)
    assert not reached({"target": 0.9, "goal": "maximize"}, 0.5)
    assert reached({"target": 0.1}, 0.05) and not reached({"target": 0.1}, 0.2)
    assert not reached({}, 1.0)


def test_metric_bounds_read_the_metrics_nature_from_its_name():
    from agent.sweep_config.metric import metric_bounds

    for name in ("eval/accuracy", "eval_accuracy", "eval/f1", "test.macro_f1", "top5_accuracy", "eval/recall"):
        assert metric_bounds(name) == (0.0, 1.0), name
    for name in ("eval/matthews_correlation", "eval_pearson", "eval/spearmanr"):
        assert metric_bounds(name) == (-1.0, 1.0), name
    assert metric_bounds("eval/loss") == (0.0, None)
    # a learning rate, a word error rate (can pass 1) and an unknown name are not bounded by a guess
    for name in ("train/learning_rate", "eval/wer", "eval/combined_score", "throughput", "", None):
        assert metric_bounds(name) == (None, None), name
