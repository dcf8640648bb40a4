"""What a sweep parameter can hand the trial, checked against the table (for `sweepkit validate`).

The sweep side says what a parameter can produce (its listed values, or the bounds of its draws); this
side knows the keys, and run_glue's own flags (`flags.FLAGS`), so neither imports the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from agent.sweep_config.retest import CANDIDATE
from agent.trial.config import (
    FIELDS,
    IGNORED_PREFIXES,
    ConfigError,
    base_type,
    candidate_mapping,
    check_value,
    closest_keys,
    flag_keys,
    range_text,
)
from agent.trial.flags import FLAGS


def check_draws(
    name: str, values: Sequence[Any], low: float | None, high: float | None, integral: bool, nested: bool = False
) -> list[tuple[str, str, str]]:
    """What is wrong with a sweep parameter that hands this key `values`, or draws in [low, high].

    For `sweepkit validate`: (where, problem, fix) triples, `where` being "" (the parameter),
    "value" (one of its listed values), "min" or "max". The sweep side says what a parameter can
    produce; this side knows the keys, so neither imports the other.
    """
    if name.startswith(IGNORED_PREFIXES):
        return []
    if name == CANDIDATE:
        return _check_candidates(values, nested)
    if name in FLAGS and FLAGS[name].rename:
        return check_draws(str(FLAGS[name].rename), values, low, high, integral, nested)
    if name in FLAGS:
        return _check_flag(name, values, low is not None or high is not None or nested)
    if name not in FIELDS:
        near = closest_keys(name)
        fix = f"rename it to {near[0]}" if near else "see `python -m agent --help` for the trial's keys"
        return [("", f"the trial has no key {name!r}" + (f" (did you mean {' or '.join(near)}?)" if near else ""), fix)]
    if nested:
        return [
            (
                "",
                f"{name} is a trial key and takes one value, not nested parameters",
                f"give {name} `value:`, `values:` or `min`/`max`",
            )
        ]
    out = []
    for v in values:
        try:
            check_value(name, v)
        except ConfigError as exc:
            out.append(("value", str(exc), _fix_for(name)))
    typ, _ = base_type(name)
    meta = FIELDS[name].metadata
    unbounded = [v for v in (low, high) if v is not None and not math.isfinite(v)]
    if unbounded and typ in (int, float) and range_text(name):
        out.append(
            (
                "",
                f"{name}: this distribution can draw any value down to {low} / up to {high}, but {name} "
                f"must stay in {range_text(name)}",
                f"use a bounded distribution (uniform, "
                f"log_uniform_values, int_uniform) with min/max in {range_text(name)}",
            )
        )
    for bound, v in (("min", low), ("max", high)):
        if (
            v is None
            or not math.isfinite(v)
            or (bound == "min" and not integral and meta["min_exclusive"] and v == meta["min"])
        ):
            continue  # unbounded: said above; a continuous draw never lands exactly on an open bound
        if typ not in (int, float):
            out.append((bound, f"{name} takes a {typ.__name__}, not a numeric range", "give it `values: [...]`"))
            break
        try:
            check_value(name, int(v) if typ is int and float(v).is_integer() else v)
        except ConfigError as exc:
            out.append((bound, str(exc), _fix_for(name)))
    if typ is int and low is not None and not integral:
        out.append(
            (
                "",
                f"{name} takes integers, but this distribution draws fractions",
                "use int_uniform (integer min/max), a q_* distribution with an integer q, or `values:`",
            )
        )
    return out


def _check_flag(name: str, values: Sequence[Any], ranged: bool) -> list[tuple[str, str, str]]:
    """A run_glue flag swept by value: each value must mean something the trial takes."""
    flag = FLAGS[name]
    if ranged:
        return [("", f"{name} takes one of {', '.join(map(str, flag.to))}", f"give {name} `value:` or `values:`")]
    out = []
    for v in values:
        try:
            for k, x in flag_keys(name, v).items():
                check_value(k, x)
        except ConfigError as exc:
            out.append(
                ("value", str(exc), f"drop {name}" if flag.refused else f"use one of: {', '.join(map(str, flag.to))}")
            )
    return out


def _check_candidates(values: Sequence[Any], nested: bool) -> list[tuple[str, str, str]]:
    if nested or not values:
        return [("", f"{CANDIDATE} lists whole configs", f"give {CANDIDATE} `values: [{{key: value, ...}}, ...]`")]
    out = []
    for v in values:
        try:
            mapping = candidate_mapping(v)
        except ConfigError as exc:
            out.append(("value", str(exc), f"give each {CANDIDATE} value as a mapping of trial keys"))
            continue
        for k, x in mapping.items():
            out += [(where or "value", problem, fix) for where, problem, fix in check_draws(k, [x], None, None, True)]
    return out


def _fix_for(name: str) -> str:
    meta = FIELDS[name].metadata
    if meta["choices"]:
        return f"use one of: {', '.join(meta['choices'])}"
    rng = range_text(name)
    typ, _ = base_type(name)
    return f"keep {name} in {rng}" if rng else f"give {name} a {typ.__name__}"
