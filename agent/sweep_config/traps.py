"""Sweep configs W&B takes that do not do what they seem to: the warnings of `sweepkit validate`.

A warning is not a problem: the sweep is valid and runs; it just may not run what its author meant.
"""

from __future__ import annotations

import re
from typing import Any

from .problems import join

# YAML 1.1 (PyYAML, and W&B) reads a float only with a dot and, if it has one, a signed exponent:
# `2e-4` and `1e5` are text. A listed value of text passes W&B's schema and reaches the program as a string.
_EXPONENT_TEXT = re.compile(r"([-+]?)(\d+)(?:\.(\d*))?[eE]([-+]?)(\d+)")


def yaml_float(text: str) -> str:
    """`2e-4` written so that YAML 1.1 reads a float: `2.0e-4` (`1e5`: `1.0e+5`)."""
    m = _EXPONENT_TEXT.fullmatch(text.strip())
    if m is None:
        return text
    sign, whole, frac, esign, exp = m.groups()
    return f"{sign}{whole}.{frac or '0'}e{esign or '+'}{exp}"


def numeric_strings(config: Any) -> list[tuple[str, str, Any]]:
    """(YAML path, parameter name, value) of every listed value or constant that YAML read as text though it
    looks like a number in exponent form (`values: [2e-4]`). Nested parameters are walked; `min`/`max` need
    numbers and are problems of the schema already."""
    out: list[tuple[str, str, Any]] = []

    def walk(params: Any, path: str) -> None:
        if not isinstance(params, dict):
            return
        for name, spec in params.items():
            where = join(path, name)
            if not isinstance(spec, dict):
                continue
            if "parameters" in spec:
                walk(spec["parameters"], join(where, "parameters"))
            if "value" in spec and _is_trap(spec["value"]):
                out.append((join(where, "value"), str(name), spec["value"]))
            values = spec.get("values")
            for i, v in enumerate(values if isinstance(values, list) else []):
                if _is_trap(v):
                    out.append((f"{join(where, 'values')}[{i}]", str(name), v))

    walk(config.get("parameters") if isinstance(config, dict) else None, "parameters")
    return out


def _is_trap(value: Any) -> bool:
    return isinstance(value, str) and _EXPONENT_TEXT.fullmatch(value.strip()) is not None
