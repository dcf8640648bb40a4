"""`WandbRandomSampler`: Optuna random search that draws exactly from W&B's distributions.

Optuna's own RandomSampler draws uniformly over each internal distribution, which differs from
W&B in two places: categorical_w_probabilities (its probabilities) and q_uniform (W&B's
round(U(min, max)/q) gives the two end multiples half the mass of the others). This sampler
draws each leaf with `ParamSpec.sample` (W&B's ppf at a uniform u) and hands Optuna the internal
value, so `suggest(trial, parameters)` returns W&B's random-search draw and the study still
records every parameter. Each agent process seeds its own generator (None: fresh entropy).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import optuna
from optuna.distributions import BaseDistribution

from .space import U_EPS, _codecs


class WandbRandomSampler(optuna.samplers.BaseSampler):
    def __init__(self, parameters: Mapping[str, Any], seed: Optional[int] = None):
        self._codecs = _codecs(parameters, "random")
        self._rng = np.random.default_rng(seed)
        self._fallback = optuna.samplers.RandomSampler(seed=seed)

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._fallback.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        return {}

    def sample_independent(self, study, trial, param_name: str, param_distribution: BaseDistribution) -> Any:
        codec = self._codecs.get(param_name)
        if codec is None or codec.dist != param_distribution:
            # Not one of the sweep's leaves (a caller's own suggest_*): plain uniform draw.
            return self._fallback.sample_independent(study, trial, param_name, param_distribution)
        if codec.kind == "u":
            u = 0.0
            while u == 0.0:
                u = float(self._rng.random())
            return min(max(u, U_EPS), 1 - U_EPS)
        return codec.encode(codec.spec.sample(self._rng))
