"""The search space in Optuna's terms (bayes): suggestions stay in W&B's ranges and decode to the config."""

from __future__ import annotations

import optuna
import pytest

from agent.backends.local.space import from_optuna_params, suggest
from agent.sweep_config import out_of_range
from tests.helpers import EVERY, LEAVES

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize(
    "sampler",
    [optuna.samplers.RandomSampler(seed=2), optuna.samplers.TPESampler(seed=2, n_startup_trials=5)],
    ids=["random", "tpe"],
)
def test_suggest_gives_in_range_values_for_every_distribution(sampler):
    study = optuna.create_study(sampler=sampler)
    seen = []
    for _ in range(40):
        trial = study.ask()
        config = suggest(trial, EVERY)
        assert out_of_range(EVERY, config) == {}, config
        assert from_optuna_params(trial.params, EVERY) == config
        seen.append(config)
        study.tell(trial, (config["u"] - 1.2) ** 2 + config["b"])
    assert len({c["u"] for c in seen}) > 20 and len({c["iu"] for c in seen}) >= 4  # explores, not a constant
    assert set(study.trials[0].distributions) == LEAVES - {"const"}


def test_optuna_distribution_choices():
    trial = optuna.create_study().ask()
    suggest(trial, EVERY)
    d = trial.distributions
    assert d["iu"] == optuna.distributions.IntDistribution(-3, 4)
    assert d["luv"] == optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)
    assert d["qu_int"] == optuna.distributions.IntDistribution(0, 20)  # k in value = k * q
    assert d["cat"].choices == (0, 1, 2, 3)  # dict/list values: by index
    assert d["catp"].choices == (0, 1, 2)  # 1 == True: by index
    other = optuna.create_study().ask()
    suggest(other, {"o": {"values": ["adam", "sgd"]}})
    assert other.distributions["o"].choices == ("adam", "sgd")
    assert d["n"].low > 0 and d["n"].high < 1  # a percentile
