"""The search space (pure): W&B's exact sampling formulas, grid points, hyperband bands."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from agent.sweep_config import (
    flatten,
    grid_points,
    grid_size,
    hyperband_rungs,
    out_of_range,
    parameter_specs,
    sample_random,
    unflatten,
)
from tests.helpers import EVERY, LEAVES


def test_specs_flatten_nested_names_with_slash_and_sorted_order():
    specs = parameter_specs(EVERY)
    assert set(specs) == LEAVES
    assert list(specs) == sorted(specs, key=lambda n: n.split("/"))
    assert specs["nest/deep/z"].path == ("nest", "deep", "z") and specs["nest/deep/z"].distribution == "uniform"
    assert specs["iu"].distribution == "int_uniform" and specs["catp"].distribution == "categorical_w_probabilities"


def test_unflatten_and_flatten_are_inverse_and_keep_dict_values_whole():
    params = {"a.b": {"value": 1}, "o": {"parameters": {"c": {"values": [{"k": 1}]}}}}
    nested = {"a.b": 1, "o": {"c": {"k": 1}}}
    flat = flatten(nested, params)
    assert flat == {"a.b": 1, "o/c": {"k": 1}}  # a dotted name is one key, a dict value stays whole
    assert unflatten(flat) == nested


# --- exact W&B formulas ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "param,u,expected",
    [
        ({"values": ["a", "b", "c"]}, 0.34, "b"),
        ({"values": ["a", "b", "c"]}, 1.0, "c"),
        ({"values": ["a", "b", "c"], "probabilities": [0.2, 0.3, 0.5]}, 0.1, "a"),
        ({"values": ["a", "b", "c"], "probabilities": [0.2, 0.3, 0.5]}, 0.2, "b"),  # the boundary goes up
        ({"values": ["a", "b", "c"], "probabilities": [0.2, 0.3, 0.5]}, 0.99, "c"),
        ({"min": 1, "max": 3}, 1.0, 3),  # int_uniform includes max
        ({"min": 1, "max": 3}, 0.01, 1),
        ({"min": 2.0, "max": 4.0}, 0.25, 2.5),
        ({"distribution": "q_uniform", "min": 0, "max": 10, "q": 3}, 0.5, 6),  # round(5/3)*3, int q -> int
        ({"distribution": "q_uniform", "min": 0, "max": 10}, 0.52, 5.0),  # default q is 1.0 -> float
        ({"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2}, 0.5, 1e-3),
        ({"distribution": "inv_log_uniform_values", "min": 1e-4, "max": 1e-2}, 0.25, 1e-4 * 100**0.25),
        ({"distribution": "q_log_uniform_values", "min": 1, "max": 10000, "q": 10}, 0.5, 100),
        ({"distribution": "log_uniform", "min": -1, "max": 1}, 0.5, 1.0),
        ({"distribution": "inv_log_uniform", "min": 0, "max": 2}, 0.5, math.exp(-1)),
        ({"distribution": "inv_log_uniform", "min": 0, "max": 2}, 0.0, math.exp(-2)),
        ({"distribution": "normal", "mu": 1, "sigma": 2}, 0.975, 1 + 2 * float(stats.norm.ppf(0.975))),
        ({"distribution": "q_normal", "q": 0.5}, 0.975, 2.0),  # round(1.96/0.5)*0.5
        ({"distribution": "log_normal", "mu": 0, "sigma": 1}, 0.5, 1.0),
        ({"distribution": "q_log_normal", "mu": 2, "sigma": 1, "q": 1}, 0.5, 7),  # round(e^2)
        ({"distribution": "beta"}, 0.3, 0.3),  # a = b = 1: uniform
        ({"distribution": "q_beta", "a": 2, "b": 2, "q": 0.25}, 0.5, 0.5),
    ],
)
def test_ppf_matches_w_and_b_formulas(param, u, expected):
    spec = parameter_specs({"p": param})["p"]
    got = spec.ppf(u)
    assert type(got) is type(expected)
    assert got == pytest.approx(expected, rel=1e-9) if isinstance(expected, float) else got == expected


@pytest.mark.parametrize("name", ["u", "luv", "iluv", "lu", "ilu", "n", "ln", "b", "nest/deep/z"])
def test_random_draws_follow_the_distribution(name):
    """Kolmogorov-Smirnov against the distribution's CDF (fixed seed, so deterministic)."""
    spec = parameter_specs(EVERY)[name]
    rng = np.random.default_rng(7)
    draws = [spec.sample(rng) for _ in range(1500)]
    assert stats.kstest(draws, spec.cdf).pvalue > 1e-3


def test_categorical_with_probabilities_draws_in_proportion():
    spec = parameter_specs(EVERY)["catp"]
    rng = np.random.default_rng(3)
    draws = [spec.sample(rng) for _ in range(3000)]
    counts = [
        sum(1 for d in draws if d == "z"),
        sum(1 for d in draws if d is True),
        sum(1 for d in draws if d == 1 and d is not True),
    ]
    assert stats.chisquare(counts, [0.5 * 3000, 0.3 * 3000, 0.2 * 3000]).pvalue > 1e-3


def test_int_uniform_reaches_both_ends_uniformly():
    spec = parameter_specs({"k": {"min": 1, "max": 4}})["k"]
    rng = np.random.default_rng(0)
    draws = [spec.sample(rng) for _ in range(2000)]
    assert set(draws) == {1, 2, 3, 4} and all(type(d) is int for d in draws)
    assert stats.chisquare([draws.count(k) for k in (1, 2, 3, 4)]).pvalue > 1e-3


def test_sample_random_is_nested_native_in_range_and_seeded():
    rng = np.random.default_rng(11)
    configs = [sample_random(EVERY, rng) for _ in range(300)]
    for c in configs:
        assert out_of_range(EVERY, c) == {}
        assert set(c["nest"]) == {"x", "deep"} and set(c["nest"]["deep"]) == {"z"}
        assert c["const"] == {"k": [1, 2]}
        assert all(not isinstance(v, np.generic) for v in flatten(c, EVERY).values())
        assert type(c["qu_int"]) is int and type(c["qu"]) is float and type(c["qln"]) is int
    us = [c["u"] for c in configs]
    assert min(us) < 0.6 and max(us) > 1.9  # spans the range, not a constant
    assert sample_random(EVERY, np.random.default_rng(5)) == sample_random(EVERY, np.random.default_rng(5))


def test_out_of_range_catches_values_outside_each_distribution():
    bad = {
        "iu": 5,
        "u": 2.5,
        "qu_int": 7,
        "luv": 0.5,
        "b": 1.5,
        "ln": -1.0,
        "cat": "c",
        "qn": 0.3,
        "n": math.inf,
        "qluv": 1001.0,
    }
    config = sample_random(EVERY, np.random.default_rng(1))
    for name, value in bad.items():
        flat = flatten(config, EVERY)
        flat[name] = value
        assert name in out_of_range(EVERY, unflatten(flat)), name
    specs = parameter_specs(EVERY)
    assert specs["iu"].contains(4) and not specs["iu"].contains(4.0)
    assert specs["catp"].contains(True) and not specs["catp"].contains(2)


# --- grid ------------------------------------------------------------------------------------
def test_grid_counts_order_and_w_and_b_ranges():
    params = {"b": {"values": ["x", "y"]}, "a": {"min": 1, "max": 3}, "c": {"value": 0}}
    points = grid_points(params)
    assert points == [{"a": a, "b": b, "c": 0} for a in (1, 2, 3) for b in ("x", "y")]  # sorted names, first slowest


def test_grid_q_uniform_excludes_max_like_np_arange():
    points = grid_points({"q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}})
    assert [p["q"] for p in points] == [0.0, 0.25, 0.5, 0.75]
    points = grid_points({"q": {"distribution": "q_uniform", "min": 2, "max": 10, "q": 4}})
    assert [p["q"] for p in points] == [2, 6]


def test_grid_duplicates_collapse_but_true_and_1_differ():
    assert len(grid_points({"a": {"values": [1, 1.0, 2, 2]}})) == 2
    assert [p["a"] for p in grid_points({"a": {"values": [1, True, "1"]}})] == [1, True, "1"]


def test_grid_nested_points():
    params = {"opt": {"parameters": {"lr": {"values": [0.1, 0.01]}, "m": {"value": 0.9}}}, "bs": {"values": [8, 16]}}
    points = grid_points(params)
    assert len(points) == 4
    assert {"bs": 16, "opt": {"lr": 0.01, "m": 0.9}} in points
    assert len({repr(p) for p in points}) == 4


def test_grid_rejects_continuous_parameters():
    with pytest.raises(ValueError, match="grid"):
        grid_points({"lr": {"min": 0.0, "max": 1.0}})


# --- hyperband -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "et,kw,expected",
    [
        ({"type": "hyperband", "max_iter": 27, "s": 2}, {}, [3, 9]),
        ({"type": "hyperband", "max_iter": 27, "s": 3, "eta": 3}, {}, [1, 3, 9]),
        ({"type": "hyperband", "max_iter": 27, "s": 10}, {}, [1, 3, 9]),  # stops below 1
        ({"type": "hyperband", "max_iter": 5, "s": 2, "eta": 2}, {}, [1, 2]),  # W&B's doctest: int(2.5), int(1.25)
        ({"type": "hyperband", "min_iter": 3}, {"up_to": 100}, [3, 9, 27, 81]),
        ({"type": "hyperband", "min_iter": 1, "eta": 1.5}, {"up_to": 5}, [1, 2, 3, 5]),
        ({"type": "hyperband", "min_iter": 2, "eta": 2}, {"up_to": 2}, [2]),
    ],
)
def test_hyperband_rungs(et, kw, expected):
    assert hyperband_rungs(et, **kw) == expected


def test_hyperband_rungs_without_cap_follow_w_and_b_100_bands():
    bands = hyperband_rungs({"type": "hyperband", "min_iter": 1, "eta": 3})
    assert bands[:5] == [1, 3, 9, 27, 81] and bands == sorted(set(bands)) and bands[-1] > 10**15


@pytest.mark.parametrize(
    "et",
    [
        {"type": "hyperband", "max_iter": 2, "s": 1},
        {"type": "hyperband"},
        {"type": "hyperband", "min_iter": 1, "eta": 1},
    ],
)
def test_hyperband_rungs_reject_configs_without_bands(et):
    with pytest.raises(ValueError):
        hyperband_rungs(et)


def test_grid_size_counts_without_building():
    params = {
        "a": {"values": [1, 1.0, 2]},
        "b": {"min": 0, "max": 9},
        "c": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.3},
        "n": {"parameters": {"d": {"value": 1}}},
    }
    assert grid_size(params) == len(grid_points(params)) == 2 * 10 * 4
    assert grid_size({"big": {"min": 0, "max": 10**12}}) == 10**12 + 1
