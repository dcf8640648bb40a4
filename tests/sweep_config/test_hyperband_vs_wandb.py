"""Hyperband, decision by decision, against W&B's own engine (`sweeps.stop_runs`) on random sweeps.

Mixed goals, both `early_terminate` forms, eta 2 and 3, strict true / false / left out, runs of every
state and length, ties, and rows that do not count (NaN, inf, a missing or non-numeric metric).
"""

from __future__ import annotations

import math
import random

import optuna

from agent.backends.local.hyperband import MetricFeed, WandbHyperbandPruner
from agent.backends.local.optuna_internals import frozen
from agent.sweep_config import fill_defaults, hyperband_rungs, judge, validate
from agent.sweep_config.metric import finite
from tests import oracle

optuna.logging.set_verbosity(optuna.logging.WARNING)
CASES = 400


def random_case(rng: random.Random) -> tuple[dict, list[tuple[str, list[dict]]]]:
    et: dict = {"type": "hyperband", "eta": rng.choice([2, 3])}
    if rng.random() < 0.5:
        et["min_iter"] = rng.choice([1, 2, 3])
    else:
        et.update(max_iter=rng.choice([4, 9, 12, 27]), s=rng.choice([1, 2, 3]))
    if rng.random() < 0.66:
        et["strict"] = rng.random() < 0.5
    goal = rng.choice(["minimize", "maximize"])
    config = {
        "method": "random",
        "metric": {"name": "m", "goal": goal},
        "early_terminate": et,
        "program": "train.py",
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    runs = []
    for _ in range(rng.randint(1, 12)):
        state = rng.choice(oracle.STATES[:1] * 3 + oracle.STATES)  # mostly running: those get judged
        level, rows = rng.gauss(0, 1), []
        for _ in range(rng.randint(0, 14)):
            u = rng.random()
            if u < 0.05:
                rows.append({"m": rng.choice([math.nan, math.inf, -math.inf, None, "n/a", True])})
            elif u < 0.1:
                rows.append({"other": 1.0})
            else:
                v = level + rng.gauss(0, 0.5)
                rows.append({"m": round(v, 1) if rng.random() < 0.3 else v})  # some ties
        runs.append((state, rows))
    return config, runs


def ours_pure(config: dict, runs, late: int = 0) -> list[bool]:
    """`late=1` replays the old off-by-one reading (a band compared one logged value late)."""
    et = fill_defaults(config)["early_terminate"]
    bands = hyperband_rungs(et)
    hist = [[r["m"] for r in rows if finite(r.get("m"))][late:] for _, rows in runs]
    out = []
    for (state, _), h in zip(runs, hist, strict=True):
        v = judge(h, hist, bands, et["eta"], maximize=config["metric"]["goal"] == "maximize", strict=et["strict"])
        out.append(state == "running" and v is not None and v.stop)
    return out


def ours_through_optuna(config: dict, runs) -> list[bool]:
    """The engine's path: each row through the metric feed into Optuna, then the pruner."""
    et = fill_defaults(config)["early_terminate"]
    pruner = WandbHyperbandPruner(hyperband_rungs(et), et["eta"], et["strict"])
    study = optuna.create_study(direction=config["metric"]["goal"], pruner=pruner)
    trials = []
    for _, rows in runs:
        t = study.ask()
        feed = MetricFeed("m", lambda step, value, t=t: t.report(value, step))
        for row in rows:
            feed.row("trial", row)
        trials.append(t)
    return [state == "running" and pruner.prune(study, frozen(t)) for (state, _), t in zip(runs, trials, strict=True)]


@oracle.needs_oracle
def test_every_decision_agrees_with_wandbs_engine():
    rng = random.Random(20261201)
    decisions = agree_pure = agree_engine = agree_late = stops = 0
    forms: set = set()
    for _ in range(CASES):
        config, runs = random_case(rng)
        assert validate(config) == []
        want = oracle.stop_runs(config, runs)
        pure, engine = ours_pure(config, runs), ours_through_optuna(config, runs)
        running = [i for i, (s, _) in enumerate(runs) if s == "running"]
        decisions += len(running)
        stops += sum(want[i] for i in running)
        agree_pure += sum(want[i] == pure[i] for i in running)
        agree_engine += sum(want[i] == engine[i] for i in running)
        late = ours_pure(config, runs, late=1)
        agree_late += sum(want[i] == late[i] for i in running)
        et = config["early_terminate"]
        forms.add(("min_iter" in et, et["eta"], et.get("strict"), config["metric"]["goal"]))
        assert pure == want, (config, runs)
        assert engine == want, (config, runs)
    assert decisions >= 1000 and 0.1 * decisions < stops < 0.9 * decisions  # a real mix of stop and go
    assert agree_pure == agree_engine == decisions
    assert agree_late < 0.9 * decisions  # the test can tell: one value late disagrees often
    assert len(forms) == 24  # every combination of form, eta, strict and goal was drawn
    print(
        f"hyperband: {agree_engine}/{decisions} decisions agree with sweeps.stop_runs ({stops} stops); "
        f"one value late would agree on {agree_late}"
    )
