"""The search space of a (validated) sweep: flat parameter specs, grid points, and random draws.

Names. A leaf parameter's flat name joins its path with "/" (`optimizer/lr`). "/" cannot occur
in a W&B parameter name (`^[A-Za-z_][A-Za-z0-9_.-]*$`), so `unflatten` is unambiguous, whereas
"." is legal inside names (`model.lr` is one top-level key).

Order. Parameters are visited sorted by name at every level, as W&B's HyperParameterSet does;
grid points come out in W&B's order (itertools.product, first parameter varying slowest).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from .distributions import ParamSpec, grid_identity, infer_distribution, value_key

SEP = "/"


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
                raise ValueError(
                    f"parameters.{'.parameters.'.join(path)}: cannot tell its distribution; validate first"
                )
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


def dotted(params: Mapping[str, Any]) -> dict[str, Any]:
    """A run's nested parameters as one level of `outer.inner` names, for tables and progress lines."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, Mapping):
            out.update({f"{k}.{ik}": iv for ik, iv in dotted(v).items()})
        else:
            out[str(k)] = v
    return out


def _axes(parameters: Mapping[str, Any]) -> list[tuple[ParamSpec, dict[Hashable, Any]]]:
    """Each leaf with its distinct grid values by identity (a later duplicate wins, as in W&B's
    dict(zip(...))), in the order each first appears."""
    axes = []
    for spec in parameter_specs(parameters).values():
        values = spec.grid_values()
        lookup = {grid_identity(v): v for v in values}
        order = dict.fromkeys(grid_identity(v) for v in values)
        axes.append((spec, {k: lookup[k] for k in order}))
    return axes


def grid_points(parameters: Mapping[str, Any]) -> list[dict]:
    """Every grid point as a nested config, duplicates collapsed, in W&B's order (check `grid_size`
    against a bound first: this builds every point)."""
    axes = _axes(parameters)
    return [
        unflatten({spec.name: value for (spec, _), value in zip(axes, combo, strict=True)})
        for combo in itertools.product(*[list(values.values()) for _, values in axes])
    ]


# Above this many values on one q_uniform axis its distinct values are not counted one by one; only
# steps below a float's resolution could make any two equal, and W&B would list them all anyway.
_COUNT_ONE_BY_ONE = 1_000_000


def axis_size(spec: ParamSpec) -> int:
    """How many distinct values a grid takes along one leaf, without listing them when it is a range:
    int_uniform is inclusive, q_uniform is numpy's arange (max excluded) with equal floats collapsed."""
    d, g = spec.distribution, spec.get
    if d == "int_uniform":
        return max(0, g("max") - g("min") + 1)
    if d == "q_uniform":
        n = arange_length(g("min"), g("max"), g("q"))
        if n > _COUNT_ONE_BY_ONE or all(isinstance(g(k), int) for k in ("min", "max", "q")):
            return n
        return len(np.unique(np.arange(g("min"), g("max"), g("q"))))
    return len({grid_identity(v) for v in spec.grid_values()})


def arange_length(start: float, stop: float, step: float) -> int:
    """len(np.arange(start, stop, step)) without the array, by numpy's own rule: ceil((stop - start)
    / step) in the same arithmetic, 1 when that quotient underflows to +0, 0 when it is not positive."""
    delta = stop - start
    if delta == 0:
        return 0
    quotient = delta / step
    if quotient == 0:
        return 1 if math.copysign(1.0, quotient) > 0 else 0
    if not math.isfinite(quotient):
        raise ValueError(f"arange({start!r}, {stop!r}, {step!r}) has no finite length")
    return max(0, math.ceil(quotient))


def grid_size(parameters: Mapping[str, Any]) -> int:
    """How many distinct points `grid_points` gives, from the product of each leaf's distinct values:
    nothing is built, so a grid of billions is counted as fast as one of ten."""
    return math.prod(axis_size(spec) for spec in parameter_specs(parameters).values())


def sample_random(parameters: Mapping[str, Any], rng: np.random.Generator) -> dict:
    """One random-search config: each leaf drawn from its W&B distribution."""
    return unflatten({name: spec.sample(rng) for name, spec in parameter_specs(parameters).items()})


def swept_values(config: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict:
    """A run's config restricted to the sweep's parameter keys, nested as the sweep nests them (keys
    the run lacks are left out)."""
    out: dict = {}
    for k, spec in (parameters or {}).items():
        if k not in config:
            continue
        if isinstance(spec, Mapping) and "parameters" in spec and isinstance(config[k], Mapping):
            out[k] = swept_values(config[k], spec["parameters"])
        else:
            out[k] = config[k]
    return out


def point_key(params: Mapping[str, Any], parameters: Mapping[str, Any]) -> tuple[str, ...]:
    """A point's identity in this space: each leaf's W&B grid identity (`value_key`), in W&B's order.
    Two runs of the same point have the same key; KeyError when `params` lacks a leaf."""
    flat = flatten(params, parameters)
    return tuple(value_key(flat[name]) for name in parameter_specs(parameters))


def misfit(
    parameters: Mapping[str, Any], params: Mapping[str, Any], params_space: Mapping[str, Any]
) -> tuple[str, str] | None:
    """Why a run of another sweep is no point of this space, or None when it is one: ("key", "missing
    key x" | "extra key y") or ("value", "x=5"), a value this space could not draw.

    `params` are the run's swept values under the space it ran in (`params_space`): a leaf this space
    has and that one did not is missing, the other way round extra."""
    mine, theirs = parameter_specs(parameters), parameter_specs(params_space)
    missing = [n for n in mine if n not in theirs]
    extra = [n for n in theirs if n not in mine]
    if missing or extra:
        return ("key", f"missing key {missing[0]}") if missing else ("key", f"extra key {extra[0]}")
    try:
        flat = flatten(params, parameters)
    except KeyError as exc:
        return "key", f"missing key {str(exc.args[0]).split(':')[0]}"
    for name, spec in mine.items():
        if not spec.contains(flat[name]):
            return "value", f"{name}={flat[name]!r}"
    return None


def out_of_range(parameters: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The leaves of `config` that this sweep could not have produced ({} when all are fine)."""
    flat = flatten(config, parameters)
    return {n: flat[n] for n, spec in parameter_specs(parameters).items() if not spec.contains(flat[n])}
