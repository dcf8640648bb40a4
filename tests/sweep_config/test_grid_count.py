"""Counting a grid without building it: `grid_size` is the number of distinct points W&B's grid
makes (checked against the expansion, and against W&B's own engine), and `validate` refuses a
grid past the bound from that count alone."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from agent.sweep_config import grid_points, grid_size, validate, value_key
from agent.sweep_config.distributions import grid_identity
from agent.sweep_config.limits import MAX_GRID
from agent.sweep_config.space import arange_length
from tests import oracle

TRICKY = [0, 0.0, -0.0, 1, 1.0, True, False, "1", "true", None, "null", 2.5, float("nan"), float("nan"), float("inf"),
          -float("inf"), 10**20, 1e20, "", [1], [1.0], {"a": 1}, {"a": 1.0}, [True], "2e-4", 2e-4, 3]  # fmt: skip


def test_grid_identity_has_exactly_value_keys_equalities():
    for a, b in itertools.product(TRICKY, repeat=2):
        assert (grid_identity(a) == grid_identity(b)) == (value_key(a) == value_key(b)), (a, b)


@pytest.mark.parametrize(
    "start,stop,step",
    [(0, 1, 0.1), (0, 10, 3), (1, 1, 1), (2, 1, 1), (0.0, 1.0, 0.25), (-3, 4.5, 0.7), (0, 1e-300, 1e300),
     (1e16, 1e16 + 8, 1.0), (0.1, 0.3, 0.1), (-1e-3, 1e-3, 1e-4), (5, 0, -1), (0, -1e-300, 1e300)],
)  # fmt: skip
def test_arange_length_is_numpys(start, stop, step):
    assert arange_length(start, stop, step) == len(np.arange(start, stop, step))


def test_arange_length_is_numpys_on_random_triples():
    rnd = random.Random(5)
    for _ in range(3000):
        start = rnd.choice([rnd.uniform(-100, 100), rnd.randint(-100, 100), round(rnd.uniform(-5, 5), 3)])
        step = rnd.choice([rnd.uniform(0.001, 10), rnd.randint(1, 9), rnd.choice([0.1, 0.2, 0.3, 1e-3])])
        stop = start + rnd.choice([rnd.uniform(-1, 200), rnd.randint(-3, 300), step * rnd.randint(0, 50)])
        assert arange_length(start, stop, step) == len(np.arange(start, stop, step)), (start, stop, step)


def random_grid(rnd: random.Random) -> dict:
    params: dict = {}
    for i in range(rnd.randint(1, 3)):
        kind = rnd.choice(["values", "value", "int_uniform", "q_uniform", "nested"])
        if kind == "values":
            params[f"p{i}"] = {"values": rnd.choices(TRICKY, k=rnd.randint(1, 5))}
        elif kind == "value":
            params[f"p{i}"] = {"value": rnd.choice(TRICKY)}
        elif kind == "int_uniform":
            lo = rnd.randint(-5, 5)
            params[f"p{i}"] = {"min": lo, "max": lo + rnd.randint(1, 6)}
        elif kind == "q_uniform":
            lo = rnd.choice([0, 0.5, -1.25, 1e16])
            q = rnd.choice([0.1, 0.25, 1, 1.0, 3])
            params[f"p{i}"] = {"distribution": "q_uniform", "min": lo, "max": lo + rnd.randint(1, 8), "q": q}
        else:
            params[f"p{i}"] = {"parameters": {"a": {"values": rnd.choices(TRICKY, k=3)}, "b": {"value": 1}}}
    return params


def test_grid_size_is_the_number_of_points_grid_points_builds():
    rnd = random.Random(3)
    for _ in range(200):
        params = random_grid(rnd)
        points = grid_points(params)
        assert grid_size(params) == len(points) == len({value_key(p) for p in points}), params


FLOAT_COLLISIONS = {"big": {"distribution": "q_uniform", "min": 1e16, "max": 1e16 + 8, "q": 1.0}}


ORACLE_GRIDS = [
    {"a": {"values": [1, 1.0, 2, True, "1", None, float("nan"), float("nan")]}, "b": {"values": ["x", "x"]}},
    {"k": {"min": -2, "max": 3}, "q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.1}},
    {"r": {"distribution": "q_uniform", "min": 2, "max": 11, "q": 3}, "c": {"value": [1, 2]}},
    {"o": {"parameters": {"lr": {"values": [0.1, 0.01, 0.1]}, "n": {"value": "adam"}}}, "bs": {"values": [8]}},
    FLOAT_COLLISIONS,
]


@oracle.needs_oracle
def test_grid_size_is_the_number_of_points_wandbs_grid_hands_out():
    for params in ORACLE_GRIDS:
        assert grid_size(params) == len(oracle.grid_points({"method": "grid", "parameters": params})), params


def test_equal_floats_of_a_q_uniform_range_collapse_as_in_wandb():
    values = np.arange(1e16, 1e16 + 8, 1.0)
    assert grid_size(FLOAT_COLLISIONS) == len(set(values.tolist())) < len(values)


def test_a_grid_of_billions_is_counted_without_being_built():
    params = {
        "i": {"min": 0, "max": 10**6 - 1},
        "q": {"distribution": "q_uniform", "min": 0.0, "max": 1e12, "q": 1.0},  # 8 TB as an array
        "v": {"values": list(range(1000))},
    }
    assert grid_size(params) == 10**6 * 10**12 * 1000


def grid(params: dict) -> dict:
    return {"method": "grid", "program": "train.py", "parameters": params}


def test_validate_refuses_a_grid_past_the_bound_naming_the_option():
    params = {"a": {"min": 1, "max": 1000}, "b": {"values": list(range(11))}}
    [problem] = validate(grid(params))
    assert problem.path == "parameters" and "11,000 points, more than the 10,000 allowed" in problem.message
    assert "--max-grid N" in problem.fix and "SWEEPKIT_MAX_GRID" in problem.fix
    assert validate(grid(params), max_grid=11_000) == []
    assert validate(grid({"a": {"min": 1, "max": MAX_GRID}})) == []
    assert validate({**grid(params), "method": "random"}) == []  # only a grid is one run per point


def test_validate_counts_a_range_too_long_to_count_as_past_the_bound():
    params = {"q": {"distribution": "q_uniform", "min": -1e308, "max": 1e308, "q": 1e-300}}
    [problem] = validate(grid(params))
    assert "more points than can be counted" in problem.message


def test_validate_of_a_100k_point_grid_never_builds_a_point(monkeypatch):
    import agent.sweep_config.space as space

    monkeypatch.setattr(space, "unflatten", lambda *a: pytest.fail("validate built a grid point"))
    params = {f"p{i}": {"values": list(range(10))} for i in range(5)}
    assert validate(grid(params), max_grid=100_000) == []
    assert math.prod(len(p["values"]) for p in params.values()) == 100_000
