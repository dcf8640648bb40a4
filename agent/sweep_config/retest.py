"""A re-test sweep: the top K configs of a finished sweep on N fresh seeds, as a W&B-valid grid.

The best of N noisy runs is biased upward (the winner's curse); re-running the winners on seeds
the sweep never used measures by how much. A W&B grid crosses its parameters, but K configs
are K points, not a cross product, so the configs travel as the values of one parameter,
`candidate`, each a mapping of trial keys: `candidate: {values: [{learning_rate: 3e-4, ...}]}`,
crossed with `seed: {values: [...]}`. The trial merges the mapping into its config (under
`wandb agent` too: wandb.config holds the mapping as given). Keys that are the same in every
candidate stay plain `value:` parameters, and a single varying key stays a plain `values:` list.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .distributions import value_key
from .metric import best, finite, maximize
from .problems import SweepConfigError

CANDIDATE = "candidate"
# Sweep keys a re-test carries over; early termination and caps would cut the re-runs short.
KEPT_KEYS = ("program", "command", "metric", "project", "entity")


@dataclass
class Candidate:
    """One config of the sweep (its parameters except the seed) and how it did there."""

    config: dict[str, Any]
    best: float  # its best value in the sweep: what the sweep would report for it
    runs: int
    rank: int = 0  # 1 = the sweep's winner


def _identity(config: Mapping[str, Any]) -> str:
    return json.dumps({k: value_key(v) for k, v in sorted(config.items())})


def top_candidates(
    sweep_config: Mapping[str, Any], results: Iterable[tuple[Mapping[str, Any], Any]], *, top: int, seed_key: str
) -> list[Candidate]:
    """The `top` configs by their best value over finished runs, `results` being (config, value) pairs.

    A config is the run's values of the sweep's own top-level parameters, the seed excluded.
    """
    names = [k for k in (sweep_config.get("parameters") or {}) if k != seed_key]
    metric = sweep_config.get("metric")
    groups: dict[str, list[tuple[dict, float]]] = {}
    for config, value in results:
        if not finite(value):
            continue
        cfg = {k: config[k] for k in names if k in config}
        groups.setdefault(_identity(cfg), []).append((cfg, float(value)))
    ranked = []
    for rows in groups.values():
        top_row = best(rows, lambda r: r[1], metric)
        if top_row is not None:
            ranked.append(Candidate(top_row[0], top_row[1], len(rows)))
    sign = -1.0 if maximize(metric) else 1.0
    ranked.sort(key=lambda c: sign * c.best)
    for i, c in enumerate(ranked, start=1):
        c.rank = i
    return ranked[:top]


def used_seeds(sweep_config: Mapping[str, Any], configs: Iterable[Mapping[str, Any]], seed_key: str) -> set[int]:
    """Every seed the sweep could have used: its runs' values and what its seed parameter allows."""
    used: set[int] = set()
    for c in configs:
        v = c.get(seed_key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            used.add(int(v))
    spec = (sweep_config.get("parameters") or {}).get(seed_key) or {}
    for v in [spec.get("value"), *(spec.get("values") or [])]:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            used.add(int(v))
    if isinstance(spec.get("min"), (int, float)) and isinstance(spec.get("max"), (int, float)):
        lo, hi = int(math.floor(spec["min"])), int(math.ceil(spec["max"]))
        if hi - lo > 1_000_000:
            raise SweepConfigError(
                f"{seed_key} is drawn from [{lo}, {hi}]: no seed outside it is known to be unused; "
                f"give the re-test its seeds' key explicitly or sweep {seed_key} over listed values"
            )
        used.update(range(lo, hi + 1))
    return used


def fresh_seeds(used: set[int], n: int) -> list[int]:
    """n seeds above every used one (never reused, and plainly new to a reader)."""
    start = max(used) + 1 if used else 0
    return list(range(start, start + n))


def retest_config(
    sweep_config: Mapping[str, Any],
    sweep_id: str,
    candidates: list[Candidate],
    *,
    seeds: list[int],
    seed_key: str,
) -> dict[str, Any]:
    """The grid sweep config that runs every candidate on every seed."""
    if not candidates:
        raise SweepConfigError(f"sweep {sweep_id} has no finished run with a finite metric to re-test")
    if len(seeds) < 2:
        raise SweepConfigError("a re-test needs at least 2 seeds for a confidence interval; pass --seeds 2 or more")
    keys = list(dict.fromkeys(k for c in candidates for k in c.config))
    same = {k for k in keys if len({value_key(c.config.get(k)) for c in candidates}) == 1}
    varying = [k for k in keys if k not in same]
    params: dict[str, Any] = {k: {"value": candidates[0].config[k]} for k in keys if k in same}
    if len(varying) == 1:
        params[varying[0]] = {"values": [c.config[varying[0]] for c in candidates]}
    elif varying:
        if CANDIDATE in keys:
            raise SweepConfigError(f"the sweep already has a parameter named {CANDIDATE!r}; rename it to re-test")
        params[CANDIDATE] = {"values": [{k: c.config[k] for k in varying} for c in candidates]}
    params[seed_key] = {"values": list(seeds)}
    out: dict[str, Any] = {
        "name": f"retest-{sweep_config.get('name') or sweep_id}",
        "description": (
            f"Re-test of sweep {sweep_id}: its top {len(candidates)} config(s) by best "
            f"{(sweep_config.get('metric') or {}).get('name', 'metric')}, on {len(seeds)} seeds it never used "
            f"({seed_key} = {', '.join(map(str, seeds))})."
        ),
        "method": "grid",
    }
    out.update({k: sweep_config[k] for k in KEPT_KEYS if k in sweep_config})
    out["parameters"] = params
    return out


def candidate_configs(retest: Mapping[str, Any], seed_key: str) -> list[dict[str, Any]]:
    """The configs a re-test sweep runs (its varying part), in the sweep's rank order."""
    params = retest.get("parameters") or {}
    if CANDIDATE in params:
        return [dict(v) for v in params[CANDIDATE].get("values") or []]
    listed = [k for k, spec in params.items() if k != seed_key and isinstance(spec, Mapping) and "values" in spec]
    if len(listed) > 1:
        raise SweepConfigError(f"this is not a re-test sweep: it lists values for {', '.join(listed)}")
    if not listed:
        return [{}]
    return [{listed[0]: v} for v in params[listed[0]]["values"]]


def fixed_values(retest: Mapping[str, Any], seed_key: str) -> dict[str, Any]:
    """What every config of a re-test shares (its `value:` parameters), the seed excluded."""
    params = retest.get("parameters") or {}
    return {
        k: spec["value"]
        for k, spec in params.items()
        if k != seed_key and isinstance(spec, Mapping) and "value" in spec
    }
