"""The search space of a (validated) sweep: flat parameter specs, grid points, random draws,
and the mapping onto Optuna distributions for model-based (bayes) search.

Names. A leaf parameter's flat name joins its path with "/" (`optimizer/lr`). "/" cannot occur
in a W&B parameter name (`^[A-Za-z_][A-Za-z0-9_.-]*$`), so `unflatten` is unambiguous, whereas
"." is legal inside names (`model.lr` is one top-level key).

Order. Parameters are visited sorted by name at every level, as W&B's HyperParameterSet does;
grid points come out in W&B's order (itertools.product, first parameter varying slowest).

Optuna mapping (`optuna_distributions`, `suggest`). Optuna holds an internal value per
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
- method "grid": every leaf becomes a CategoricalDistribution over its grid values, so an
  enqueued grid point (`to_optuna_params`) is returned unchanged by `suggest`.
"""
from __future__ import annotations

import itertools
from typing import Any, Mapping, Optional

import numpy as np
import optuna
import yaml
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from .distributions import CATEGORICAL, ParamSpec, infer_distribution, is_int

SEP = "/"
U_EPS = 1e-9


def value_key(value: Any) -> str:
    """W&B's grid identity of a value (`yaml_hash`): 3.0 and 3 are the same point, True and 1 not."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=True)


def parameter_specs(parameters: Mapping[str, Any]) -> dict[str, ParamSpec]:
    """Every leaf parameter of a validated `parameters` mapping, keyed by flat name, W&B order."""
    specs: dict[str, ParamSpec] = {}

    def walk(params: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for key in sorted(params):
            param = params[key]
            path = prefix + (key,)
            if "parameters" in param and "distribution" not in param:
                walk(param["parameters"], path)
                continue
            dist = infer_distribution(param)
            if dist is None:
                raise ValueError(f"parameters.{'.parameters.'.join(path)}: cannot tell its distribution; validate first")
            cfg = {k: v for k, v in param.items() if k != "distribution"}
            specs[SEP.join(path)] = ParamSpec(SEP.join(path), path, dist, cfg)

    walk(parameters, ())
    return specs


def unflatten(flat: Mapping[str, Any]) -> dict:
    """{"opt/lr": 1} -> {"opt": {"lr": 1}}."""
    nested: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split(SEP)
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"{name}: `{p}` is both a value and a group of parameters")
        node[leaf] = value
    return nested


def flatten(nested: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict:
    """The inverse of `unflatten` for this sweep's leaves (values that are dicts stay whole)."""
    flat = {}
    for name, spec in parameter_specs(parameters).items():
        node: Any = nested
        for p in spec.path:
            if not isinstance(node, Mapping) or p not in node:
                raise KeyError(f"{name}: missing from {dict(nested)}")
            node = node[p]
        flat[name] = node
    return flat


def grid_points(parameters: Mapping[str, Any]) -> list[dict]:
    """Every grid point as a nested config, duplicates collapsed, in W&B's order."""
    specs = list(parameter_specs(parameters).values())
    axes = []
    for spec in specs:
        lookup: dict[str, Any] = {}
        for v in spec.grid_values():
            lookup[value_key(v)] = v      # a later duplicate wins, as in W&B's dict(zip(...))
        keys = list(dict.fromkeys(value_key(v) for v in spec.grid_values()))
        axes.append((spec, keys, lookup))
    points, seen = [], set()
    for combo in itertools.product(*[keys for _, keys, _ in axes]):
        if combo in seen:
            continue
        seen.add(combo)
        points.append(unflatten({spec.name: lookup[k] for (spec, _, lookup), k in zip(axes, combo)}))
    return points


def grid_size(parameters: Mapping[str, Any]) -> int:
    """How many points `grid_points` gives, without building them (int_uniform ranges can be huge)."""
    size = 1
    for spec in parameter_specs(parameters).values():
        d, g = spec.distribution, spec.get
        if d == "int_uniform":
            size *= g("max") - g("min") + 1
        elif d == "q_uniform":
            size *= len(np.arange(g("min"), g("max"), g("q")))
        else:
            size *= len({value_key(v) for v in spec.grid_values()})
    return size


def sample_random(parameters: Mapping[str, Any], rng: np.random.Generator) -> dict:
    """One random-search config: each leaf drawn from its W&B distribution."""
    return unflatten({name: spec.sample(rng) for name, spec in parameter_specs(parameters).items()})


# --- Optuna ---------------------------------------------------------------------------------
def _scalar_choices(values: list) -> bool:
    if not all(v is None or isinstance(v, (str, int, float, bool)) for v in values):
        return False
    if any(isinstance(v, float) and v != v for v in values):
        return False
    return not any(a == b for a, b in itertools.combinations(values, 2))


def _unique_grid_values(spec: ParamSpec) -> list:
    lookup: dict[str, Any] = {}
    for v in spec.grid_values():
        lookup[value_key(v)] = v
    return list(lookup.values())


class _Codec:
    """How one leaf lives in Optuna: its distribution and the value <-> internal mapping."""

    def __init__(self, spec: ParamSpec, method: str):
        self.spec, d = spec, spec.distribution
        self.choices: Optional[list] = None
        self.kind = "u"
        if method == "grid" or d in CATEGORICAL:
            self.choices = _unique_grid_values(spec) if method == "grid" else list(spec.get("values"))
            self.kind = "value" if _scalar_choices(self.choices) else "index"
            self.dist: Optional[BaseDistribution] = CategoricalDistribution(
                self.choices if self.kind == "value" else list(range(len(self.choices))))
        elif d == "constant":
            self.kind, self.dist = "constant", None
        elif d == "int_uniform":
            self.kind, self.dist = "plain", IntDistribution(spec.get("min"), spec.get("max"))
        elif d in ("uniform", "log_uniform_values"):
            self.kind = "plain"
            self.dist = FloatDistribution(float(spec.get("min")), float(spec.get("max")),
                                          log=d == "log_uniform_values")
        elif d == "q_uniform":
            q = spec.get("q")
            self.kind = "k"
            self.dist = IntDistribution(int(np.round(spec.get("min") / q)), int(np.round(spec.get("max") / q)))
        else:
            self.dist = FloatDistribution(U_EPS, 1 - U_EPS)

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

    def encode(self, value: Any) -> Any:
        if self.kind in ("value", "index"):
            keys = [value_key(c) for c in self.choices]
            if value_key(value) not in keys:
                raise ValueError(f"{self.spec.name}: {value!r} is not one of {self.choices}")
            i = keys.index(value_key(value))
            return self.choices[i] if self.kind == "value" else i
        if self.kind == "plain":
            return value
        if self.kind == "k":
            return int(np.round(value / self.spec.get("q")))
        return min(max(self.spec.cdf(value), U_EPS), 1 - U_EPS)


def _codecs(parameters: Mapping[str, Any], method: str) -> dict[str, _Codec]:
    return {name: _Codec(spec, method) for name, spec in parameter_specs(parameters).items()}


def optuna_distributions(parameters: Mapping[str, Any], method: str = "bayes") -> dict[str, BaseDistribution]:
    """The Optuna distribution of every non-constant leaf, by flat name."""
    return {n: c.dist for n, c in _codecs(parameters, method).items() if c.dist is not None}


def from_optuna_params(internal: Mapping[str, Any], parameters: Mapping[str, Any], method: str = "bayes") -> dict:
    """Optuna's `trial.params` (internal values) -> the nested config the run receives."""
    flat = {}
    for name, codec in _codecs(parameters, method).items():
        if codec.dist is None:
            flat[name] = codec.decode(None)
        elif name not in internal:
            raise KeyError(f"{name}: the trial holds no value for this parameter")
        else:
            flat[name] = codec.decode(internal[name])
    return unflatten(flat)


def to_optuna_params(config: Mapping[str, Any], parameters: Mapping[str, Any], method: str = "bayes") -> dict:
    """A nested config (e.g. a grid point) -> the internal values to `study.enqueue_trial`."""
    flat = flatten(config, parameters)
    return {n: c.encode(flat[n]) for n, c in _codecs(parameters, method).items() if c.dist is not None}


def suggest(trial: optuna.trial.Trial, parameters: Mapping[str, Any], method: str = "bayes") -> dict:
    """Ask `trial` for every leaf (see the module notes for the mapping); return the nested config."""
    internal = {}
    for name, codec in _codecs(parameters, method).items():
        dist = codec.dist
        if isinstance(dist, CategoricalDistribution):
            internal[name] = trial.suggest_categorical(name, list(dist.choices))
        elif isinstance(dist, IntDistribution):
            internal[name] = trial.suggest_int(name, dist.low, dist.high)
        elif isinstance(dist, FloatDistribution):
            internal[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return from_optuna_params(internal, parameters, method)


def out_of_range(parameters: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The leaves of `config` that this sweep could not have produced ({} when all are fine)."""
    flat = flatten(config, parameters)
    return {n: flat[n] for n, spec in parameter_specs(parameters).items() if not spec.contains(flat[n])}
