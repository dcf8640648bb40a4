"""Which edits to a sweep's config extend the sweep (`sweepkit sweep --extend`), and which need a new one.

An extension only adds to what the sweep may hand out; the runs it already has stay valid points
of the new space, measured by the same metric the same way:
- `run_cap` raised (or removed);
- grid: new values for a parameter (every old value kept), so the grid gains points;
- random and bayes: a range widened (min lower, max higher; the other keys as they were) or values
  added to a categorical.
Everything else (the metric, the method, the command, early termination, a parameter added, removed
or otherwise changed, a lower cap) is refused in one line that names the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .distributions import CATEGORICAL, ParamSpec, value_key
from .problems import SweepConfigError
from .space import parameter_specs
from .validate import fill_defaults

_BOUNDED_KEYS = ("min", "max")


@dataclass(frozen=True)
class Extension:
    """The compatible changes of an extension, one phrase each; `widened`: the parameters whose
    range or values grew (what a method may need to check further)."""

    changes: list[str] = field(default_factory=list)
    widened: list[str] = field(default_factory=list)


def _show(value: Any) -> str:
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)


def _first_difference(path: str, old: Any, new: Any) -> str | None:
    """The first place two config values differ, in words; None when equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                return f"{sub} removed (was {_show(old[key])})"
            if key not in old:
                return f"{sub} added ({_show(new[key])})"
            found = _first_difference(sub, old[key], new[key])
            if found:
                return found
        return None
    if value_key(old) == value_key(new):  # W&B's identity: 3.0 is 3, True is not 1
        return None
    return f"{path} changed from {_show(old)} to {_show(new)}"


def _run_cap(old: Any, new: Any) -> tuple[str | None, str | None]:
    """(the compatible change, the refused one) of run_cap."""
    if old == new:
        return None, None
    if new is None:
        return f"run_cap removed (was {old}): no cap", None
    if old is None:
        return None, f"run_cap added ({new})"
    if new > old:
        return f"run_cap {old} -> {new}", None
    return None, f"run_cap lowered from {old} to {new}"


def _grid_param(name: str, old: ParamSpec, new: ParamSpec) -> tuple[str | None, str | None]:
    before, after = old.grid_values(), new.grid_values()
    keys = {value_key(v) for v in after}
    dropped = [v for v in before if value_key(v) not in keys]
    if dropped:
        return None, f"parameters.{name} drops grid value(s) {', '.join(map(_show, dropped))}"
    gained = len(keys - {value_key(v) for v in before})
    return (f"parameters.{name}: {gained} new value(s)" if gained else None), None


def _widened_param(name: str, old: ParamSpec, new: ParamSpec) -> tuple[str | None, str | None]:
    """Random and bayes: the same distribution, a range only widened or values only added."""
    where = f"parameters.{name}"
    if old.distribution != new.distribution:
        return None, f"{where} distribution changed from {old.distribution} to {new.distribution}"
    if old.distribution in CATEGORICAL:
        keys = {value_key(v) for v in new.get("values")}
        dropped = [v for v in old.get("values") if value_key(v) not in keys]
        if dropped:
            return None, f"{where} drops value(s) {', '.join(map(_show, dropped))}"
        rest = {k: v for k, v in old.config.items() if k not in ("values", "probabilities")}
        other = _first_difference(where, rest, {k: v for k, v in new.config.items() if k in rest})
        if other:
            return None, other
        gained = len(keys) - len({value_key(v) for v in old.get("values")})
        return (f"{where}: {gained} new value(s)" if gained else None), None
    if not all(k in old.config for k in _BOUNDED_KEYS):
        return None, _first_difference(where, old.config, new.config)
    other = _first_difference(
        where,
        {k: v for k, v in old.config.items() if k not in _BOUNDED_KEYS},
        {k: v for k, v in new.config.items() if k not in _BOUNDED_KEYS},
    )
    if other:
        return None, other
    lo, hi = new.get("min"), new.get("max")
    if lo > old.get("min"):
        return None, f"{where}.min raised from {old.get('min')} to {lo}"
    if hi < old.get("max"):
        return None, f"{where}.max lowered from {old.get('max')} to {hi}"
    return f"{where}: [{old.get('min')}, {old.get('max')}] -> [{lo}, {hi}]", None


def extension(old: dict, new: dict) -> Extension:
    """The changes from `old` to `new` (both valid sweep configs) when `new` extends `old`; otherwise
    SweepConfigError: "cannot extend: <each refused change>; ... (a new sweep is needed)"."""
    a, b = fill_defaults(old), fill_defaults(new)
    refused: list[str] = []
    ext = Extension()
    rest_a = {k: v for k, v in a.items() if k not in ("parameters", "run_cap")}
    rest_b = {k: v for k, v in b.items() if k not in ("parameters", "run_cap")}
    other = _first_difference("", rest_a, rest_b)
    if other:
        refused.append(other)
    ok, bad = _run_cap(a.get("run_cap"), b.get("run_cap"))
    ext.changes.extend([ok] if ok else [])
    refused.extend([bad] if bad else [])
    old_specs, new_specs = parameter_specs(a.get("parameters") or {}), parameter_specs(b.get("parameters") or {})
    refused += [f"parameters.{n} removed" for n in old_specs if n not in new_specs]
    refused += [f"parameters.{n} added" for n in new_specs if n not in old_specs]
    grid = a.get("method") == "grid"
    for name in (n for n in old_specs if n in new_specs):
        o, n = old_specs[name], new_specs[name]
        if o.distribution == n.distribution and o.config == n.config:
            continue
        ok, bad = (_grid_param if grid else _widened_param)(name, o, n)
        if bad:
            refused.append(bad)
        elif ok:
            ext.changes.append(ok)
            ext.widened.append(name)
    if refused:
        raise SweepConfigError(f"cannot extend: {'; '.join(refused)} (a new sweep is needed)")
    if not ext.changes:
        raise SweepConfigError("cannot extend: the new config changes nothing (raise run_cap, or add values)")
    return ext
