"""The sweep's search space in Optuna's terms, for model-based (bayes) search.

Optuna mapping (`suggest`). Optuna holds an internal value per
non-constant leaf; `from_optuna_params` turns those into the real, nested config:
- categorical / categorical_w_probabilities: CategoricalDistribution over the values themselves
  when they are distinct scalars, else over their indices (lists, dicts, or values equal to one
  another such as 1 and True, which Optuna's `choices.index` cannot tell apart). The bayes model
  ignores `probabilities`; random sampling honours them.
- int_uniform -> IntDistribution(min, max); uniform -> FloatDistribution(min, max);
  log_uniform_values -> FloatDistribution(min, max, log=True).
- q_uniform -> IntDistribution over k with value k*q, k from round(min/q) to round(max/q):
  exactly the support W&B's `round(U(min, max)/q)*q` reaches.
- every other distribution (normal, log_normal, beta, the inv_log and legacy log forms and their
  q variants) -> a percentile u in FloatDistribution(1e-9, 1 - 1e-9), mapped through the
  distribution's ppf (scipy). This is W&B's own bayes representation: it maps every parameter
  into [0, 1] through its CDF and models there. The clip keeps normal's tails finite (±6 sigma).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from agent.sweep_config.distributions import CATEGORICAL, ParamSpec, is_int, value_key
from agent.sweep_config.space import flatten, parameter_specs, unflatten

U_EPS = 1e-9


def _scalar_choices(values: list) -> bool:
    if not all(v is None or isinstance(v, (str, int, float, bool)) for v in values):
        return False
    if any(isinstance(v, float) and v != v for v in values):
        return False
    return not any(a == b for a, b in itertools.combinations(values, 2))


class _Codec:
    """How one leaf lives in Optuna: its distribution and the value <-> internal mapping."""

    def __init__(self, spec: ParamSpec):
        self.spec, d = spec, spec.distribution
        self.choices: list[Any] = []  # categorical only
        self.kind = "u"
        if d in CATEGORICAL:
            self.choices = list(spec.get("values"))
            self.kind = "value" if _scalar_choices(self.choices) else "index"
            self.dist: Optional[BaseDistribution] = CategoricalDistribution(
                self.choices if self.kind == "value" else list(range(len(self.choices)))
            )
        elif d == "constant":
            self.kind, self.dist = "constant", None
        elif d == "int_uniform":
            self.kind, self.dist = "plain", IntDistribution(spec.get("min"), spec.get("max"))
        elif d in ("uniform", "log_uniform_values"):
            self.kind = "plain"
            self.dist = FloatDistribution(float(spec.get("min")), float(spec.get("max")), log=d == "log_uniform_values")
        elif d == "q_uniform":
            q = spec.get("q")
            self.kind = "k"
            self.dist = IntDistribution(int(np.round(spec.get("min") / q)), int(np.round(spec.get("max") / q)))
        else:
            self.dist = FloatDistribution(U_EPS, 1 - U_EPS)

    def encode(self, value: Any) -> Any:
        """The internal value that decodes to `value` (a value this leaf can take)."""
        if self.kind == "value":
            return value
        if self.kind == "index":
            return [value_key(c) for c in self.choices].index(value_key(value))
        if self.kind == "plain":
            return int(value) if self.spec.distribution == "int_uniform" else float(value)
        if self.kind == "k":
            return int(np.round(value / self.spec.get("q")))
        return min(max(float(self.spec.cdf(value)), U_EPS), 1 - U_EPS)

    def decode(self, internal: Any) -> Any:
        if self.kind == "value":
            return internal
        if self.kind == "index":
            return self.choices[int(internal)]
        if self.kind == "constant":
            return self.spec.get("value")
        if self.kind == "plain":
            return int(internal) if self.spec.distribution == "int_uniform" else float(internal)
        if self.kind == "k":
            q = self.spec.get("q")
            return int(internal) * q if is_int(q) else float(int(internal) * q)
        return self.spec.ppf(float(internal))


def percentile_coded(parameters: Mapping[str, Any]) -> list[str]:
    """The leaves Optuna holds as a percentile of their distribution (see the module notes)."""
    return [name for name, c in _codecs(parameters).items() if c.kind == "u"]


def _codecs(parameters: Mapping[str, Any]) -> dict[str, _Codec]:
    return {name: _Codec(spec) for name, spec in parameter_specs(parameters).items()}


def from_optuna_params(internal: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict:
    """Optuna's `trial.params` (internal values) -> the nested config the run receives."""
    flat = {}
    for name, codec in _codecs(parameters).items():
        if codec.dist is None:
            flat[name] = codec.decode(None)
        elif name not in internal:
            raise KeyError(f"{name}: the trial holds no value for this parameter")
        else:
            flat[name] = codec.decode(internal[name])
    return unflatten(flat)


def search_space(parameters: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Every non-constant leaf's Optuna distribution."""
    return {name: c.dist for name, c in _codecs(parameters).items() if c.dist is not None}


def to_optuna_params(config: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A point of the space (nested, as a run receives it) -> Optuna's internal values: the inverse
    of `from_optuna_params`, for a trial added with known params (a warm start's prior run)."""
    flat = flatten(config, parameters)
    return {name: c.encode(flat[name]) for name, c in _codecs(parameters).items() if c.dist is not None}


def suggest(trial: optuna.trial.Trial, parameters: Mapping[str, Any]) -> dict:
    """Ask `trial` for every leaf (see the module notes for the mapping); return the nested config."""
    internal = {}
    for name, codec in _codecs(parameters).items():
        dist = codec.dist
        if isinstance(dist, CategoricalDistribution):
            internal[name] = trial.suggest_categorical(name, list(dist.choices))
        elif isinstance(dist, IntDistribution):
            internal[name] = trial.suggest_int(name, dist.low, dist.high)
        elif isinstance(dist, FloatDistribution):
            internal[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return from_optuna_params(internal, parameters)
