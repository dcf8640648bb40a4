"""What a sweep's config says about its run table: the swept parameters, which vary, and the compared key.

The report (`analysis.report`) and the live progress payload (`analysis.render.live`) both read the
run table through these, so both name the same parameters and the same groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from analysis.tables import tidy


def sweep_params(sweep_config: Mapping[str, Any]) -> list[str]:
    """Flattened names of the sweep's parameters (nested `parameters:` become dotted)."""
    out: list[str] = []

    def walk(d: Mapping[str, Any], prefix: str) -> None:
        for k, spec in (d or {}).items():
            if isinstance(spec, dict) and "parameters" in spec:
                walk(spec["parameters"], f"{prefix}{k}.")
            else:
                out.append(f"{prefix}{k}")

    walk(sweep_config.get("parameters") or {}, "")
    return out


LOG_NAMES = ("learning_rate", "lr")  # swept on a log scale by habit, even as a plain list of values


def _spec(sweep_config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The config's spec of a flattened parameter name ({} if it has none)."""
    spec: Any = {"parameters": sweep_config.get("parameters") or {}}
    for part in name.split("."):
        spec = (spec.get("parameters") or {}).get(part) if isinstance(spec, dict) else None
        if not isinstance(spec, dict):
            return {}
    return spec


def log_scaled(sweep_config: Mapping[str, Any], params: list[str], runs: pd.DataFrame) -> list[str]:
    """The numeric parameters best shown on a log axis: a log distribution in the config, or a learning
    rate, whenever all their values are positive."""
    out = []
    for p in params:
        dist = str(_spec(sweep_config, p).get("distribution", ""))
        if "log" not in dist and p.split(".")[-1] not in LOG_NAMES:
            continue
        v = pd.to_numeric(runs[p], errors="coerce") if p in runs.columns else pd.Series(dtype=float)
        if len(v) and v.notna().all() and (v > 0).all() and not runs[p].map(lambda x: isinstance(x, str)).any():
            out.append(p)
    return out


def _all_strings(s: pd.Series) -> bool:
    return bool(s.dropna().map(lambda v: isinstance(v, str)).all())


def default_compare(params: list[str], runs: pd.DataFrame) -> str | None:
    """The categorical parameter that names the model; else the first varied string parameter."""
    cats = [p for p in params if p in runs.columns and len(runs[p].dropna()) and _all_strings(runs[p])]
    for k in cats:
        if "model" in k.lower():
            return k  # even with one value: "only X was run" is the honest message
    varied = [k for k in cats if runs[k].nunique() > 1]
    return varied[0] if varied else None


def varying(runs: pd.DataFrame, cols: list[str]) -> list[str]:
    """The columns among `cols` with more than one value in `runs` (a missing value counts as one)."""
    return [c for c in cols if c in runs.columns and tidy.text(runs[c]).nunique() > 1]


# A folder or a hub id: no character a file name would not hold (`<tag>/x` is text, not a path).
_PATH = re.compile(r"[^<>\"'|?*\x00-\x1f]+")


def short_labels(values: Iterable[str]) -> dict[str, str]:
    """Each value by its last path part (a model's folder, a hub id's name), or by as many trailing
    parts as tell it from the others; the values themselves if even that leaves two alike."""
    vals = list(dict.fromkeys(values))
    parts = {v: ([p for p in re.split(r"[\\/]+", v) if p] if _PATH.fullmatch(v) else []) or [v] for v in vals}
    out = {}
    for v in vals:
        k = 1
        while k < len(parts[v]) and any(o != v and parts[o][-k:] == parts[v][-k:] for o in vals):
            k += 1
        out[v] = "/".join(parts[v][-k:])
    return out if len(set(out.values())) == len(vals) else {v: v for v in vals}


def group_labels(df: pd.DataFrame, compare: str | None) -> pd.Series:
    """The compared key's values as labels: paths by their last part ("bert-base-uncased", not the folder
    it sits in); numbers with the key ("seed=1"): a bare 1 names nothing."""
    if not compare:
        return pd.Series("all", index=df.index, dtype=object)
    labels = tidy.text(df[compare])
    if not _all_strings(df[compare]):
        return f"{compare}=" + labels
    return labels.map(short_labels(labels)).astype(object)
