"""What bayes learns from each ended run, against W&B's own GP data (`bayes_search._construct_gp_data`).

Finished runs give their best logged value; failed, crashed and killed ones (and finished ones that
never logged the metric) an imputed one, by `metric.impute`. The one deliberate difference: where W&B
has nothing to impute from it uses 0.0, and sweepkit tells the sampler nothing.
"""

from __future__ import annotations

import math
import random
import warnings

from agent.backends.local.results import extremes, learned_value
from agent.sweep_config.metric import finite
from tests import oracle

ENDED = ("finished", "failed", "crashed", "killed")


@oracle.needs_oracle
def test_learned_values_are_wandbs_gp_targets():
    from sweeps.bayes_search import _construct_gp_data

    rng = random.Random(7)
    compared = zero_fallbacks = 0
    for _ in range(300):
        goal, how = rng.choice(["minimize", "maximize"]), rng.choice(["worst", "best", "latest"])
        config = {
            "method": "bayes",
            "metric": {"name": "m", "goal": goal, "impute": how},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
        runs = []
        for _ in range(rng.randint(1, 6)):
            hist = [{"m": rng.gauss(0, 1)} for _ in range(rng.randint(0, 4))]
            if rng.random() < 0.2:
                hist.append({"m": math.nan})
            summary = {"m": rng.gauss(0, 1)} if hist and rng.random() < 0.7 else {}
            runs.append((rng.choice(ENDED), hist, summary, rng.random()))
        swept = [
            oracle.SweepRun(
                name=str(i), state=oracle.RunState(s), history=h, summary_metrics=sm, config={"x": {"value": x}}
            )
            for i, (s, h, sm, x) in enumerate(runs)
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, _, _, y, _ = _construct_gp_data(swept, oracle.fill(config))
        want = [-v if goal == "maximize" else v for v in y]  # W&B's GP minimizes
        histories = [[r["m"] for r in h if finite(r.get("m"))] for _, h, _, _ in runs]
        own = [extremes(hh + [sm.get("m")]) for hh, (_, _, sm, _) in zip(histories, runs, strict=True)]
        for (state, _, _, _), hh, ext, w in zip(runs, histories, own, want, strict=True):
            got, _ = learned_value(config["metric"], state, hh, ext, own)
            if got is None:
                assert w == 0.0  # W&B's fallback, the documented difference
                zero_fallbacks += 1
            else:
                assert math.isclose(got, w), (config, runs)
                compared += 1
    assert compared >= 500 and zero_fallbacks > 0
