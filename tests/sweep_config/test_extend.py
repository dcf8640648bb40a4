"""Which edits extend a sweep (`extension`), and whether an earlier run is a point of a space (`misfit`)."""

from __future__ import annotations

import pytest

from agent.sweep_config import SweepConfigError, extension, misfit, point_key

GRID = {
    "program": "t.py",
    "method": "grid",
    "metric": {"name": "eval/loss"},
    "parameters": {"lr": {"values": [0.1, 0.2]}, "depth": {"min": 1, "max": 3}, "opt": {"value": "adam"}},
}


def test_a_grid_gains_values_and_a_cap_in_words():
    new = {
        **GRID,
        "run_cap": None,
        "parameters": {"lr": {"values": [0.2, 0.1, 0.3]}, "depth": {"min": 0, "max": 3}, "opt": {"value": "adam"}},
    }
    ext = extension({**GRID, "run_cap": 6}, new)
    assert ext.changes == [
        "run_cap removed (was 6): no cap",
        "parameters.depth: 1 new value(s)",
        "parameters.lr: 1 new value(s)",
    ]
    assert ext.widened == ["depth", "lr"]
    # a constant may become a list that keeps it: the grid gains points, its runs stay points of it
    opts = {**GRID, "parameters": {**GRID["parameters"], "opt": {"values": ["adam", "sgd"]}}}
    assert extension(GRID, opts).changes == ["parameters.opt: 1 new value(s)"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"metric": {"name": "eval/loss", "goal": "maximize"}}, "metric.goal changed from minimize to maximize"),
        ({"program": "u.py"}, "program changed from t.py to u.py"),
        ({"early_terminate": {"type": "hyperband", "min_iter": 1}}, "early_terminate added"),
        ({"run_cap": 3}, "run_cap added (3)"),
        (
            {"parameters": {**GRID["parameters"], "depth": {"min": 2, "max": 3}}},
            "parameters.depth drops grid value(s) 1",
        ),
        ({"parameters": {"lr": {"values": [0.1, 0.2]}, "depth": {"min": 1, "max": 3}}}, "parameters.opt removed"),
    ],
)
def test_every_other_edit_is_refused_naming_it(change, said):
    with pytest.raises(SweepConfigError) as exc:
        extension(GRID, {**GRID, **change})
    assert str(exc.value).startswith(f"cannot extend: {said}") and str(exc.value).endswith("(a new sweep is needed)")


def test_random_ranges_only_widen_with_their_other_keys_kept():
    old = {
        "program": "t.py",
        "method": "random",
        "parameters": {"q": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2}},
    }

    def q(**spec):
        return {**old, "parameters": {"q": {"distribution": "q_uniform", **spec}}}

    assert extension(old, q(min=-4, max=20, q=2)).changes == ["parameters.q: [0, 10] -> [-4, 20]"]
    for bad, said in (
        (q(min=0, max=10, q=1), "parameters.q.q changed from 2 to 1"),
        (q(min=0, max=8, q=2), "parameters.q.max lowered from 10 to 8"),
        ({**old, "parameters": {"q": {"min": 0, "max": 10}}}, "distribution changed from q_uniform to int_uniform"),
    ):
        with pytest.raises(SweepConfigError, match=said):
            extension(old, bad)


def test_a_run_of_another_sweep_fits_only_with_the_same_keys_and_values_the_space_can_draw():
    space = {"lr": {"min": 0.0, "max": 1.0}, "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}}}
    assert misfit(space, {"lr": 0.5, "opt": {"name": "sgd"}}, space) is None
    assert misfit(space, {"lr": 1.5, "opt": {"name": "sgd"}}, space) == ("value", "lr=1.5")
    assert misfit(space, {"lr": 0.5, "opt": {"name": "rmsprop"}}, space) == ("value", "opt/name='rmsprop'")
    narrower = {"lr": {"min": 0.0, "max": 1.0}}
    assert misfit(space, {"lr": 0.5}, narrower) == ("key", "missing key opt/name")
    wider = {**space, "seed": {"values": [1]}}
    assert misfit(space, {"lr": 0.5, "opt": {"name": "sgd"}, "seed": 1}, wider) == ("key", "extra key seed")
    # a point's identity is W&B's: 3.0 is the point 3
    assert point_key({"lr": 3.0, "opt": {"name": "adam"}}, space) == point_key(
        {"lr": 3, "opt": {"name": "adam"}}, space
    )
