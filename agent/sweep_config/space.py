"""The search space of a (validated) sweep: flat parameter specs, grid points, and random draws.

Names. A leaf parameter's flat name joins its path with "/" (`optimizer/lr`). "/" cannot occur
in a W&B parameter name (`^[A-Za-z_][A-Za-z0-9_.-]*$`), so `unflatten` is unambiguous, whereas
"." is legal inside names (`model.lr` is one top-level key).

Order. Parameters are visited sorted by name at every level, as W&B's HyperParameterSet does;
grid points come out in W&B's order (itertools.product, first parameter varying slowest).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from .distributions import ParamSpec, infer_distribution, value_key

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


def grid_points(parameters: Mapping[str, Any]) -> list[dict]:
    """Every grid point as a nested config, duplicates collapsed, in W&B's order."""
    specs = list(parameter_specs(parameters).values())
    axes = []
    for spec in specs:
        lookup: dict[str, Any] = {}
        for v in spec.grid_values():
            lookup[value_key(v)] = v  # a later duplicate wins, as in W&B's dict(zip(...))
        keys = list(dict.fromkeys(value_key(v) for v in spec.grid_values()))
        axes.append((spec, keys, lookup))
    points, seen = [], set()
    for combo in itertools.product(*[keys for _, keys, _ in axes]):
        if combo in seen:
            continue
        seen.add(combo)
        points.append(unflatten({spec.name: lookup[k] for (spec, _, lookup), k in zip(axes, combo, strict=False)}))
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
