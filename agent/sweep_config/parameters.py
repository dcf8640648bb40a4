"""The `parameters:` block of a sweep config: names, distributions, their keys and values.

Each finding is a `Problem` naming its YAML path, what is wrong and the fix; `leaves` collects the
(path, distribution) of every valid leaf for the checks that need the whole config (grid).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from .distributions import DISTRIBUTIONS, LEGACY, PARAM_KEYS, SCHEMA, infer_distribution, is_int, is_number
from .problems import Problem, enum_problem, join, number_problem, type_name, unknown_key

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _suggested_name(name: str) -> str:
    fixed = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return fixed if re.match(r"[A-Za-z_]", fixed) else "_" + fixed


def check_parameters(params: Any, path: str, leaves: list) -> list[Problem]:
    if not isinstance(params, dict):
        return [
            Problem(
                path,
                f"must be a mapping of parameter names, got {type_name(params)}",
                "write `parameters: {learning_rate: {min: 1.0e-5, max: 1.0e-3}}`",
            )
        ]
    if not params:
        return [Problem(path, "is empty: there is nothing to sweep", "add at least one parameter")]
    out = []
    for name, param in params.items():
        where = join(path, name)
        if not isinstance(name, str) or not NAME_RE.match(name):
            out.append(
                Problem(
                    where,
                    f"parameter name {name!r} must match {NAME_RE.pattern}",
                    f"rename it to {_suggested_name(str(name))}",
                )
            )
        out += _parameter(param, where, leaves)
    return out


def _parameter(p: Any, path: str, leaves: list) -> list[Problem]:
    if not isinstance(p, dict):
        return [
            Problem(
                path,
                f"must be a mapping, got {type_name(p)} {p!r}",
                f"write `{{value: {p!r}}}` for a constant, or `{{values: [...]}}` for choices",
            )
        ]
    unknown = [k for k in p if k not in PARAM_KEYS]
    if unknown:
        return [unknown_key(path, k, PARAM_KEYS, "a parameter") for k in unknown]
    if "parameters" in p:
        others = sorted(str(k) for k in p if k != "parameters")
        out = (
            [
                Problem(
                    path,
                    f"a nested parameter holds only `parameters`, but also has {', '.join(others)}",
                    "move those keys into a parameter inside `parameters`",
                )
            ]
            if others
            else []
        )
        return out + check_parameters(p["parameters"], join(path, "parameters"), leaves)
    if "distribution" in p and p["distribution"] not in DISTRIBUTIONS:
        return [enum_problem(join(path, "distribution"), p["distribution"], DISTRIBUTIONS, "distribution")]
    dist = infer_distribution(p)
    if dist is None:
        return _uninferable(p, path)
    required, optional = SCHEMA[dist]
    how = f"distribution {dist}" + ("" if "distribution" in p else " (inferred from its keys)")
    out = [
        Problem(join(path, k), f"`{k}` does not belong to {how}", _extra_fix(k, dist))
        for k in p
        if k not in required and k not in optional and k != "distribution"
    ]
    out += [Problem(join(path, k), f"missing: {how} needs `{k}`", f"add `{k}:`") for k in required if k not in p]
    out += _values(p, path, dist)
    if not out:
        leaves.append((path, dist))
    return out


def _uninferable(p: dict, path: str) -> list[Problem]:
    if ("min" in p) != ("max" in p):
        gone = "max" if "min" in p else "min"
        return [
            Problem(
                join(path, gone),
                f"missing: `{'min' if gone == 'max' else 'max'}` needs a `{gone}`",
                f"add `{gone}:`, or use `value:` for a constant",
            )
        ]
    if "min" in p:
        return [number_problem(join(path, k), p[k]) for k in ("min", "max") if not is_number(p[k])]
    return [
        Problem(
            path,
            "cannot tell its distribution: it has no values, value, min/max or distribution",
            "add `values: [...]`, `value: x`, `min:`/`max:`, or `distribution:`",
        )
    ]


def _extra_fix(key: str, dist: str) -> str:
    if key == "q" and f"q_{dist}" in DISTRIBUTIONS:
        return f"use distribution: q_{dist}, or remove q"
    if key == "probabilities" and dist == "categorical":
        return "use distribution: categorical_w_probabilities (or leave distribution out)"
    if key in ("value", "values") and dist in ("constant", "categorical", "categorical_w_probabilities"):
        return "give either `value` (a constant) or `values` (choices), not both"
    if key in ("min", "max", "value", "values"):
        return f"remove `{key}`: {dist} does not use it"
    return f"remove `{key}`, or pick a distribution that takes it"


def _values(p: dict, path: str, dist: str) -> list[Problem]:
    out: list[Problem] = []
    if "values" in p:
        v = p["values"]
        if not isinstance(v, list):
            out.append(
                Problem(join(path, "values"), f"must be a list, got {type_name(v)}", "write `values: [a, b, c]`")
            )
        elif not v:
            out.append(Problem(join(path, "values"), "is empty", "list at least one value"))
    if "probabilities" in p:
        out += _probabilities(p, path)
    lo, hi = p.get("min"), p.get("max")
    for key in ("min", "max"):
        if key not in p:
            continue
        if not is_number(p[key]):
            out.append(number_problem(join(path, key), p[key]))
        elif dist == "int_uniform" and not is_int(p[key]):
            out.append(
                Problem(
                    join(path, key),
                    f"int_uniform needs whole numbers, got {p[key]!r}",
                    "write an integer, or use distribution: uniform",
                )
            )
    for key, low, strict in (("q", 0, True), ("sigma", 0, True), ("a", 0, True), ("b", 0, True)):
        if key in p and not (is_number(p[key]) and (p[key] > low if strict else p[key] >= low)):
            reason = "" if key == "q" else " (0 is degenerate: sampling it gives NaN)"
            out.append(
                Problem(
                    join(path, key),
                    f"must be a number > 0, got {p[key]!r}{reason}",
                    f"set {key} > 0" + ("; use `value:` for a fixed number" if key == "sigma" else ""),
                )
            )
    if "mu" in p and not is_number(p["mu"]):
        out.append(number_problem(join(path, "mu"), p["mu"]))
    for key in ("min", "max", "q", "mu", "sigma", "a", "b"):
        if is_number(p.get(key)) and not math.isfinite(p[key]):
            # The schema takes .nan/.inf as numbers, but every draw would then be nan.
            out.append(
                Problem(join(path, key), f"must be a finite number, got {p[key]!r}", f"set {key} to a real value")
            )
    if is_number(lo) and is_number(hi) and not out:
        if lo >= hi:
            out.append(
                Problem(
                    join(path, "max"),
                    f"max {hi!r} is not greater than min {lo!r}",
                    "swap min and max" if lo > hi else "use `value:` for a single value",
                )
            )
        elif dist.endswith("_values") and lo <= 0:
            out.append(
                Problem(
                    join(path, "min"),
                    f"{dist} needs min > 0, got {lo!r}",
                    "set min to a small positive value, e.g. 1.0e-6",
                )
            )
        elif dist in LEGACY:
            out.append(_legacy(path, dist, lo, hi))
    return out


def _probabilities(p: dict, path: str) -> list[Problem]:
    where, probs = join(path, "probabilities"), p["probabilities"]
    if not isinstance(probs, list) or not probs:
        return [Problem(where, "must be a non-empty list of numbers", "write one probability per value")]
    bad = [x for x in probs if not (is_number(x) and x >= 0)]
    if bad:
        return [
            Problem(where, f"must all be numbers >= 0, got {bad[0]!r}", "write each probability as a number in [0, 1]")
        ]
    if isinstance(p.get("values"), list) and len(p["values"]) != len(probs):
        return [
            Problem(
                where,
                f"has {len(probs)} entries for {len(p['values'])} values",
                "give exactly one probability per value",
            )
        ]
    if not np.isclose(sum(probs), 1.0):
        return [Problem(where, f"sum to {sum(probs):g}, not 1", "scale them so they add up to 1")]
    return []


def _legacy(path: str, dist: str, lo: float, hi: float) -> Problem:
    new = LEGACY[dist]
    a, b = (math.exp(lo), math.exp(hi)) if dist != "inv_log_uniform" else (math.exp(-hi), math.exp(-lo))
    return Problem(
        join(path, "distribution"),
        f"{dist} takes base-e exponents as min/max, which W&B no longer accepts",
        f"use distribution: {new} with min: {a:.6g}, max: {b:.6g} (the same range as values)",
    )
