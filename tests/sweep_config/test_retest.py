"""agent.sweep_config.retest: the top configs, fresh seeds, and a grid W&B's engine accepts and runs."""

import copy

import pytest
import yaml

from agent.sweep_config import grid_points, validate
from agent.sweep_config.problems import SweepConfigError
from agent.sweep_config.retest import (
    CANDIDATE,
    candidate_configs,
    fresh_seeds,
    retest_config,
    top_candidates,
    used_seeds,
)
from agent.trial.draws import check_draws
from tests import oracle

SWEEP = {
    "name": "smoke",
    "program": "train.py",
    "method": "grid",
    "metric": {"name": "eval/accuracy", "goal": "maximize"},
    "early_terminate": {"type": "hyperband", "min_iter": 1},
    "run_cap": 50,
    "parameters": {
        "model_name_or_path": {"values": ["tiny-bert", "tiny-distilbert"]},
        "learning_rate": {"values": [3e-4, 5e-4]},
        "task_name": {"value": "mrpc-mini"},
        "seed": {"values": [1, 2]},
    },
}


def results():
    acc = {
        ("tiny-bert", 3e-4): 0.80,
        ("tiny-bert", 5e-4): 0.82,
        ("tiny-distilbert", 3e-4): 0.84,
        ("tiny-distilbert", 5e-4): 0.79,
    }
    out = []
    for (m, lr), a in acc.items():
        for seed, bump in ((1, 0.0), (2, 0.01)):
            out.append(
                (
                    {
                        "model_name_or_path": m,
                        "learning_rate": lr,
                        "task_name": "mrpc-mini",
                        "seed": seed,
                        "_wandb": {},
                    },
                    a + bump,
                )
            )
    out.append(({"model_name_or_path": "tiny-bert", "learning_rate": 9e-4, "seed": 3}, float("nan")))
    return out


def test_top_candidates_rank_configs_by_their_best_run_seed_excluded():
    top = top_candidates(SWEEP, results(), top=3, seed_key="seed")
    assert [(c.config["model_name_or_path"], c.config["learning_rate"]) for c in top] == [
        ("tiny-distilbert", 3e-4),
        ("tiny-bert", 5e-4),
        ("tiny-bert", 3e-4),
    ]
    assert [c.rank for c in top] == [1, 2, 3] and top[0].best == pytest.approx(0.85) and top[0].runs == 2
    assert "seed" not in top[0].config and "_wandb" not in top[0].config
    loss = {**SWEEP, "metric": {"name": "loss"}}  # W&B's default goal: minimize
    assert top_candidates(loss, results(), top=1, seed_key="seed")[0].config["learning_rate"] == 5e-4


def test_fresh_seeds_are_above_every_seed_the_sweep_could_use():
    used = used_seeds(SWEEP, [c for c, _ in results()], "seed")
    assert used == {1, 2, 3} and fresh_seeds(used, 3) == [4, 5, 6]
    ranged = {"parameters": {"seed": {"distribution": "int_uniform", "min": 0, "max": 9}}}
    assert fresh_seeds(used_seeds(ranged, [], "seed"), 2) == [10, 11]
    with pytest.raises(SweepConfigError, match="no seed outside it"):
        used_seeds({"parameters": {"seed": {"min": 0, "max": 2**31}}}, [], "seed")


def test_retest_config_bundles_varying_keys_and_keeps_what_the_runs_need():
    top = top_candidates(SWEEP, results(), top=3, seed_key="seed")
    cfg = retest_config(SWEEP, "abc", top, seeds=[4, 5, 6], seed_key="seed")
    p = cfg["parameters"]
    assert cfg["method"] == "grid" and cfg["metric"] == SWEEP["metric"] and cfg["program"] == "train.py"
    assert "early_terminate" not in cfg and "run_cap" not in cfg and "abc" in cfg["description"]
    assert p["task_name"] == {"value": "mrpc-mini"} and p["seed"] == {"values": [4, 5, 6]}
    assert p[CANDIDATE]["values"][0] == {"model_name_or_path": "tiny-distilbert", "learning_rate": 3e-4}
    assert candidate_configs(cfg, "seed") == p[CANDIDATE]["values"]
    assert len(grid_points(cfg["parameters"])) == 9
    assert validate(copy.deepcopy(cfg)) == []  # our validator, W&B's rules
    checked = validate(
        copy.deepcopy(cfg), lambda name, d: check_draws(name, d.values, d.low, d.high, d.integral, d.nested)
    )
    assert checked == []  # and the trial's keys, the candidate's included
    typo = copy.deepcopy(cfg)
    typo["parameters"][CANDIDATE]["values"][1] = {"learning_rat": 3e-4}
    found = validate(typo, lambda name, d: check_draws(name, d.values, d.low, d.high, d.integral, d.nested))
    assert len(found) == 1 and "learning_rat" in str(found[0]) and "learning_rate" in str(found[0])
    one_key = retest_config(
        SWEEP, "abc", [c for c in top if c.config["model_name_or_path"] == "tiny-bert"], seeds=[4, 5], seed_key="seed"
    )
    assert one_key["parameters"]["learning_rate"] == {"values": [5e-4, 3e-4]} and CANDIDATE not in one_key["parameters"]
    assert candidate_configs(one_key, "seed") == [{"learning_rate": 5e-4}, {"learning_rate": 3e-4}]
    with pytest.raises(SweepConfigError, match="at least 2 seeds"):
        retest_config(SWEEP, "abc", top, seeds=[4], seed_key="seed")
    with pytest.raises(SweepConfigError, match="no finished run"):
        retest_config(SWEEP, "abc", [], seeds=[4, 5], seed_key="seed")


@oracle.needs_oracle
def test_wandbs_engine_accepts_the_retest_and_runs_every_config_on_every_seed():
    top = top_candidates(SWEEP, results(), top=3, seed_key="seed")
    cfg = yaml.safe_load(yaml.safe_dump(retest_config(SWEEP, "abc", top, seeds=[4, 5, 6], seed_key="seed")))
    assert oracle.schema_violations(copy.deepcopy(cfg)) == []
    points = oracle.grid_points(cfg)
    pairs = {(p[CANDIDATE]["model_name_or_path"], p[CANDIDATE]["learning_rate"], p["seed"]) for p in points}
    assert len(points) == 9 and len(pairs) == 9
    assert {(c.config["model_name_or_path"], c.config["learning_rate"]) for c in top} == {(m, lr) for m, lr, _ in pairs}
