"""Grid points and random draws against W&B's own engine (`sweeps` 0.3.0)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats

from agent.sweep_config import grid_points, parameter_specs, sample_random, value_key
from tests import oracle

GRIDS = {
    "values": {"a": {"values": [1, 2, 3]}, "b": {"values": ["x", "y"]}},
    "value": {"a": {"value": 5}, "b": {"values": [True, False]}},
    "int_uniform": {"k": {"min": -2, "max": 3}, "c": {"values": [0.1]}},
    "q_uniform": {
        "q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
        "r": {"distribution": "q_uniform", "min": 2, "max": 11, "q": 3},
    },
    "duplicates": {"a": {"values": [1, 1.0, 2, 1]}, "b": {"values": ["x", "x"]}, "t": {"values": [True, 1]}},
    "nested": {
        "opt": {"parameters": {"lr": {"values": [0.1, 0.01]}, "name": {"value": "adam"}}},
        "bs": {"values": [16, 32]},
    },
    "deep": {"outer": {"parameters": {"inner": {"parameters": {"z": {"values": [1, 2]}}}, "w": {"value": [1, 2]}}}},
    "list and dict values": {"shape": {"values": [[1, 2], [3]]}, "kw": {"values": [{"a": 1}, {"a": 2}]}},
}


@oracle.needs_oracle
@pytest.mark.parametrize("name", list(GRIDS))
def test_grid_points_are_wandbs_points_in_wandbs_order(name):
    params = GRIDS[name]
    theirs = oracle.grid_points({"method": "grid", "parameters": params})
    ours = grid_points(params)
    assert [value_key(p) for p in ours] == [value_key(p) for p in theirs]
    assert len(ours) == len({value_key(p) for p in ours})


EVERY = {
    "uniform": {"min": -1.0, "max": 2.0},
    "int_uniform": {"min": -3, "max": 4},
    "q_uniform": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.1},
    "log_uniform_values": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "q_log_uniform_values": {"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 5},
    "inv_log_uniform_values": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 10.0},
    "log_uniform": {"distribution": "log_uniform", "min": -5, "max": 0},
    "q_log_uniform": {"distribution": "q_log_uniform", "min": 0, "max": 5, "q": 2},
    "inv_log_uniform": {"distribution": "inv_log_uniform", "min": 0, "max": 5},
    "normal": {"distribution": "normal", "mu": 3, "sigma": 2},
    "q_normal": {"distribution": "q_normal", "mu": 0, "sigma": 3, "q": 0.5},
    "log_normal": {"distribution": "log_normal", "mu": -1, "sigma": 0.5},
    "q_log_normal": {"distribution": "q_log_normal", "mu": 1, "sigma": 0.5, "q": 1},
    "beta": {"distribution": "beta", "a": 0.5, "b": 2},
    "q_beta": {"distribution": "q_beta", "a": 2, "b": 2, "q": 0.1},
}
N = 3000


@pytest.mark.slow
@oracle.needs_oracle
@pytest.mark.parametrize("dist", list(EVERY))
def test_random_draws_follow_wandbs_sampler(dist):
    params = {"p": EVERY[dist]}
    random.seed(7)  # W&B's sampler draws its percentiles from Python's `random`
    theirs = np.array([d["p"] for d in oracle.random_draws({"method": "random", "parameters": params}, N)], float)
    rng = np.random.default_rng(11)
    drawn = [sample_random(params, rng)["p"] for _ in range(N)]
    assert stats.ks_2samp(np.array(drawn, float), theirs).pvalue > 1e-3, dist
    spec = parameter_specs(params)["p"]
    assert all(spec.contains(v) for v in drawn)


@oracle.needs_oracle
def test_categorical_and_its_probabilities_match_wandb():
    params = {"c": {"values": ["a", "b", "c", 4]}, "w": {"values": ["x", "y", "z"], "probabilities": [0.6, 0.3, 0.1]}}
    random.seed(3)
    theirs = oracle.random_draws({"method": "random", "parameters": params}, N)
    rng = np.random.default_rng(5)
    ours = [sample_random(params, rng) for _ in range(N)]
    for key, values in (("c", ["a", "b", "c", 4]), ("w", ["x", "y", "z"])):
        table = [[sum(d[key] == v for d in draws) for v in values] for draws in (ours, theirs)]
        assert stats.chi2_contingency(table).pvalue > 1e-3, (key, table)
    w = [sum(d["w"] == v for d in ours) for v in ("x", "y", "z")]
    assert stats.chisquare(w, [0.6 * N, 0.3 * N, 0.1 * N]).pvalue > 1e-3
