"""The metric's one set of rules: better, best, target, W&B's default goal."""

import math

import yaml

from agent.sweep_config.metric import NO_WANDB_RUN, best, closest_logged, is_better, maximize, missing_reason, reached
from agent.sweep_config.traps import numeric_strings, yaml_float


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


def test_the_logged_keys_closest_to_a_missing_metric_come_first():
    logged = ["eval/accuracy", "eval/f1", "eval/loss", "train/loss", "_runtime", "_step"]
    assert closest_logged("eval_accuracy", logged)[0] == "eval/accuracy"  # HF's name for W&B's key
    assert closest_logged("eval/acuracy", logged)[0] == "eval/accuracy"  # a typo
    assert closest_logged("_step", logged) == [] and closest_logged("zzz", logged) == []
    assert "did you mean eval/accuracy?" in missing_reason("eval_accuracy", dict.fromkeys(logged, 1.0), sweep_id="ab")
    assert "sweepkit report ab --metric eval/accuracy" in missing_reason(
        "eval_accuracy", {"eval/accuracy": 1}, None, "ab"
    )
    assert missing_reason("eval/accuracy", {}, run_log=False) == NO_WANDB_RUN
    assert "it logged loss, x" in missing_reason("eval/accuracy", {"loss": 1, "x": 2}, run_log=True)


def test_numbers_yaml_reads_as_text_are_found_and_the_fix_reads_as_a_float():
    config = yaml.safe_load(
        """
        parameters:
          learning_rate: {values: [2e-4, 5.0e-4, 1E5]}
          warmup_steps: {value: 1e2}
          model: {value: bert-1e5}
          opt: {parameters: {eps: {values: [1e-8]}}}
          lr2: {min: 1.0e-5, max: 1.0e-3}
        """
    )
    found = numeric_strings(config)
    assert [(p, v) for p, _, v in found] == [
        ("parameters.learning_rate.values[0]", "2e-4"),
        ("parameters.learning_rate.values[2]", "1E5"),
        ("parameters.warmup_steps.value", "1e2"),
        ("parameters.opt.parameters.eps.values[0]", "1e-8"),
    ]
    for _, _, v in found:
        fixed = yaml_float(v)
        assert isinstance(yaml.safe_load(fixed), float) and yaml.safe_load(fixed) == float(v), fixed
    assert yaml_float("2e-4") == "2.0e-4" and yaml_float("1e5") == "1.0e+5"
