"""W&B's parameter distributions: which keys each takes, its defaults, and its exact sampling.

Sampling follows wandb/sweeps `params.py` (`HyperParameter.ppf`): a value is the distribution's
percent-point function at u ~ U(0, 1); `q_*` variants round to a multiple of q with numpy's
round-half-even, and return ints only when q itself is an int (the default q is 1.0, a float).
The legacy `log_uniform`, `inv_log_uniform` and `q_log_uniform` take base-e exponents as min/max.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np
import yaml

# distribution -> (required keys, optional keys with their W&B schema defaults)
SCHEMA: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "constant": (("value",), {}),
    "categorical": (("values",), {}),
    "categorical_w_probabilities": (("values", "probabilities"), {}),
    "int_uniform": (("min", "max"), {}),
    "uniform": (("min", "max"), {}),
    "q_uniform": (("min", "max"), {"q": 1.0}),
    "log_uniform": (("min", "max"), {}),
    "log_uniform_values": (("min", "max"), {}),
    "q_log_uniform": (("min", "max"), {"q": 1.0}),
    "q_log_uniform_values": (("min", "max"), {"q": 1.0}),
    "inv_log_uniform": (("min", "max"), {}),
    "inv_log_uniform_values": (("min", "max"), {}),
    "normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "log_normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_log_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "beta": ((), {"a": 1.0, "b": 1.0}),
    "q_beta": ((), {"a": 1.0, "b": 1.0, "q": 1.0}),
}
DISTRIBUTIONS = tuple(SCHEMA)
PARAM_KEYS = (
    "distribution",
    "value",
    "values",
    "probabilities",
    "min",
    "max",
    "q",
    "mu",
    "sigma",
    "a",
    "b",
    "parameters",
)
# Legacy forms whose min/max are exponents -> the *_values form W&B asks for instead.
LEGACY = {
    "log_uniform": "log_uniform_values",
    "inv_log_uniform": "inv_log_uniform_values",
    "q_log_uniform": "q_log_uniform_values",
}
GRID_OK = ("constant", "categorical", "int_uniform", "q_uniform")
QUANTIZED = tuple(d for d in DISTRIBUTIONS if d.startswith("q_"))
CATEGORICAL = ("categorical", "categorical_w_probabilities")


def infer_distribution(param: dict) -> str | None:
    """W&B's distribution for a parameter mapping: explicit, or inferred from its keys (None: can't tell)."""
    if "distribution" in param:
        return param["distribution"]
    if "values" in param:
        return "categorical_w_probabilities" if "probabilities" in param else "categorical"
    if "value" in param:
        return "constant"
    lo, hi = param.get("min"), param.get("max")
    if is_int(lo) and is_int(hi):
        return "int_uniform"
    # W&B's schema has uniform variants for (float, float), (number, float) and (float, number),
    # so one int bound with one float bound is a uniform, not an error.
    if is_number(lo) and is_number(hi):
        return "uniform"
    return None


_REL = 1e-9


def is_number(x: Any) -> TypeGuard[int | float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def _close_le(a: float, b: float) -> bool:
    return a <= b or math.isclose(a, b, rel_tol=_REL, abs_tol=1e-12)


def _native(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def value_key(value: Any) -> str:
    """W&B's grid identity of a value (`yaml_hash`): 3.0 and 3 are the same point, True and 1 not."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=True)


def grid_identity(value: Any) -> Hashable:
    """`value_key`'s equalities, cheaply: a scalar by its kind and value (an integral float is that
    int, every NaN one value, True not 1), anything else by `value_key`. YAML dumps each scalar
    differently, so two scalars share a dump exactly when they share this key; checking a values
    list of 100,000 entries then costs milliseconds instead of one YAML dump per value."""
    if isinstance(value, float):
        if value.is_integer():
            return (int, int(value))
        return (float, "nan") if math.isnan(value) else (float, value)
    if value is None or isinstance(value, (bool, int, str)):
        return (type(value), value)
    return ("yaml", value_key(value))


@dataclass(frozen=True)
class Draws:
    """What one parameter can hand a run: a finite list of values, or numbers between low and high."""

    values: tuple = ()
    low: float | None = None
    high: float | None = None
    integral: bool = True  # every numeric draw is an int
    nested: bool = False  # a group of parameters, not one value


@dataclass(frozen=True)
class ParamSpec:
    """One leaf parameter: `name` is the flat name, `path` the keys down to it in wandb.config."""

    name: str
    path: tuple[str, ...]
    distribution: str
    config: dict = field(default_factory=dict)  # the YAML's keys with W&B's defaults filled in

    def get(self, key: str) -> Any:
        return self.config[key] if key in self.config else SCHEMA[self.distribution][1].get(key)

    # --- the continuous distribution underneath (before q-rounding) -------------------------
    def _base_ppf(self, u: float) -> float:
        from scipy import stats  # here, not at import: half an agent's memory, and grid agents never draw

        d, g = self.distribution.removeprefix("q_"), self.get
        if d == "uniform":
            return stats.uniform.ppf(u, g("min"), g("max") - g("min"))
        if d == "log_uniform":
            return np.exp(stats.uniform.ppf(u, g("min"), g("max") - g("min")))
        if d == "log_uniform_values":
            lo, hi = np.log(g("min")), np.log(g("max"))
            return np.exp(stats.uniform.ppf(u, lo, hi - lo))
        if d == "inv_log_uniform":
            return np.exp(-stats.uniform.ppf(1 - u, g("min"), g("max") - g("min")))
        if d == "inv_log_uniform_values":
            lo, hi = -np.log(g("max")), -np.log(g("min"))
            return np.exp(-stats.uniform.ppf(1 - u, lo, hi - lo))
        if d == "normal":
            return stats.norm.ppf(u, loc=g("mu"), scale=g("sigma"))
        if d == "log_normal":
            return stats.lognorm.ppf(u, s=g("sigma"), scale=np.exp(g("mu")))
        if d == "beta":
            return stats.beta.ppf(u, a=g("a"), b=g("b"))
        raise ValueError(f"{self.name}: no continuous form for distribution {self.distribution}")

    def continuous_bounds(self) -> tuple[float, float]:
        """The support of the distribution before q-rounding."""
        d, g = self.distribution.removeprefix("q_"), self.get
        if d in ("uniform", "log_uniform_values", "inv_log_uniform_values", "int_uniform"):
            return g("min"), g("max")
        if d == "log_uniform":
            return math.exp(g("min")), math.exp(g("max"))
        if d == "inv_log_uniform":
            return math.exp(-g("max")), math.exp(-g("min"))
        if d == "normal":
            return -math.inf, math.inf
        if d == "log_normal":
            return 0.0, math.inf
        if d == "beta":
            return 0.0, 1.0
        raise ValueError(f"{self.name}: distribution {self.distribution} has no numeric bounds")

    def _base_cdf(self, x: Any) -> Any:
        from scipy import stats

        d, g = self.distribution.removeprefix("q_"), self.get
        if d == "uniform":
            return stats.uniform.cdf(x, g("min"), g("max") - g("min"))
        if d == "log_uniform":
            return stats.uniform.cdf(np.log(x), g("min"), g("max") - g("min"))
        if d == "inv_log_uniform":
            return 1 - stats.uniform.cdf(-np.log(x), g("min"), g("max") - g("min"))
        # inv_log_uniform_values maps u the other way round, to the same log-uniform law.
        if d in ("log_uniform_values", "inv_log_uniform_values"):
            lo, hi = np.log(g("min")), np.log(g("max"))
            return stats.uniform.cdf(np.log(x), lo, hi - lo)
        if d == "normal":
            return stats.norm.cdf(x, loc=g("mu"), scale=g("sigma"))
        if d == "log_normal":
            return stats.lognorm.cdf(x, s=g("sigma"), scale=np.exp(g("mu")))
        if d == "beta":
            return stats.beta.cdf(x, a=g("a"), b=g("b"))
        raise ValueError(f"{self.name}: no continuous form for distribution {self.distribution}")

    def cdf(self, value: Any) -> Any:
        """The percentile of `value` (scalar or array) under the continuous distribution, q ignored."""
        with np.errstate(divide="ignore"):  # q-rounding can reach 0, whose log is -inf: cdf 0
            out = self._base_cdf(np.asarray(value, dtype=float))
        return float(out) if np.ndim(out) == 0 else out

    def _quantize(self, x: float) -> Any:
        q = self.get("q")
        v = np.round(x / q) * q
        return int(v) if is_int(q) else float(v)

    def ppf(self, u: float) -> Any:
        """The value at percentile u in [0, 1], exactly as W&B's `HyperParameter.ppf`."""
        if not 0.0 <= u <= 1.0:
            raise ValueError(f"{self.name}: percentile {u} is outside [0, 1]")
        from scipy import stats

        d, g = self.distribution, self.get
        if d == "constant":
            return g("value")
        if d == "categorical":
            return g("values")[int(stats.randint.ppf(u, 0, len(g("values"))))]
        if d == "categorical_w_probabilities":
            return g("values")[int(np.argmin(u >= np.cumsum(g("probabilities"))))]
        if d == "int_uniform":
            return int(stats.randint.ppf(u, g("min"), g("max") + 1))
        if d in QUANTIZED:
            return self._quantize(self._base_ppf(u))
        return float(self._base_ppf(u))

    def sample(self, rng: np.random.Generator) -> Any:
        """One random draw (W&B's `sample()`): ppf at a uniform u, never 0 (where normal is -inf)."""
        u = 0.0
        while u == 0.0:
            u = float(rng.random())
        return _native(self.ppf(u))

    def grid_values(self) -> list:
        """The values a grid sweep enumerates (W&B's grid_search), before de-duplication."""
        d, g = self.distribution, self.get
        if d == "constant":
            return [g("value")]
        if d == "categorical":
            return list(g("values"))
        if d == "int_uniform":
            return list(range(g("min"), g("max") + 1))
        if d == "q_uniform":
            return np.arange(g("min"), g("max"), g("q")).tolist()
        raise ValueError(f"{self.name}: grid search cannot enumerate distribution {d}")

    def quantized_range(self) -> tuple[float, float]:
        lo, hi = self.continuous_bounds()
        q = self.get("q")
        return (
            float(np.round(lo / q) * q) if math.isfinite(lo) else lo,
            float(np.round(hi / q) * q) if math.isfinite(hi) else hi,
        )

    def contains(self, value: Any) -> bool:
        """Whether `value` is one this parameter can take (any method: grid, random or bayes)."""
        d, g = self.distribution, self.get
        if d == "constant":
            return grid_identity(value) == grid_identity(g("value"))
        if d in CATEGORICAL:
            return grid_identity(value) in {grid_identity(v) for v in g("values")}
        if d == "int_uniform":
            return is_int(value) and g("min") <= value <= g("max")
        if not is_number(value) or math.isnan(value):
            return False
        if d == "q_uniform" and any(math.isclose(value, v, rel_tol=_REL, abs_tol=1e-12) for v in self.grid_values()):
            return True
        if d in QUANTIZED:
            q = self.get("q")
            if is_int(q) and not is_int(value):
                return False
            k = value / q
            if not math.isclose(k, round(k), rel_tol=1e-9, abs_tol=1e-6):
                return False
            lo, hi = self.quantized_range()
            return _close_le(lo, value) and _close_le(value, hi)
        lo, hi = self.continuous_bounds()
        return _close_le(lo, value) and _close_le(value, hi) and math.isfinite(value)

    def draws(self) -> Draws:
        d, g = self.distribution, self.get
        if d == "constant":
            return Draws(values=(g("value"),))
        if d in CATEGORICAL:
            return Draws(values=tuple(g("values")))
        if d == "int_uniform":
            return Draws(low=g("min"), high=g("max"))
        if d in QUANTIZED:
            lo, hi = self.quantized_range()
            return Draws(low=lo, high=hi, integral=is_int(self.get("q")))
        lo, hi = self.continuous_bounds()
        return Draws(low=lo, high=hi, integral=False)
