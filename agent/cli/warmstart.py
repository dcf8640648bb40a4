"""`sweepkit sweep FILE --prior SWEEP,...`: which finished runs of earlier sweeps seed a new one.

A run seeds the new sweep when it finished, is the latest finished run of its point (`lineage`),
logged a finite value of the new sweep's metric (when it names one) and its swept values are a point
of the new space: the same keys, each value one the new sweep could draw. The others are counted
by why, in one line.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from agent.backends import Backend
from agent.backends.base import PriorRun, RunRecord
from agent.lineage import superseded
from agent.states import RunState
from agent.sweep_config import grid_points, misfit, point_key, swept_values

KINDS = {
    "key": "with a missing or extra key",
    "value": "with a value outside the new space",
    "metric": "without a finite {metric}",
}


@dataclass
class WarmStart:
    runs: list[PriorRun] = field(default_factory=list)
    finished: int = 0  # finished runs looked at
    skipped: Counter[str] = field(default_factory=Counter)  # why -> how many
    example: dict[str, str] = field(default_factory=dict)  # why -> one run's reason, in words

    def line(self, sweeps: Sequence[str], config: dict[str, Any], skip_done: bool) -> str:
        """What the warm start does, in one line."""
        text = (
            f"warm start: {len(self.runs)} of {self.finished} finished run(s) of {', '.join(sweeps)} "
            "join the new sweep as prior runs"
        )
        if self.skipped:
            parts = [f"{n} {why} (e.g. {self.example[why]})" for why, n in self.skipped.most_common()]
            text += f"; {sum(self.skipped.values())} skipped: " + ", ".join(parts)
        return text + self._effect(config, skip_done)

    def _effect(self, config: dict[str, Any], skip_done: bool) -> str:
        method, params = config.get("method"), config.get("parameters") or {}
        if method == "bayes":
            return f"; bayes learns their values ({len(self.runs)} trial(s) before its first suggestion)"
        if method == "grid":
            done = {point_key(p.params, params) for p in self.runs}
            if not skip_done:
                return f"; --no-skip: all {len(grid_points(params))} grid point(s) run"
            return f"; the grid skips the {len(done)} point(s) they ran"
        return "; random search draws as before (the prior runs are shown apart in the report)"


def _value(run: RunRecord, metric: Optional[str]) -> Optional[float]:
    v = run.summary.get(metric) if metric else None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def gather(backend: Backend, config: dict[str, Any], sweeps: Sequence[str]) -> WarmStart:
    """The earlier sweeps' runs that seed a sweep of `config`; BackendError for a sweep it cannot read."""
    metric = (config.get("metric") or {}).get("name")
    parameters = config.get("parameters") or {}
    out, seen = WarmStart(), set()
    for sid in sweeps:
        info, runs = backend.prior_runs_of(sid)
        space = info.config.get("parameters") or {}
        finished = [r for r in runs if r.state == RunState.FINISHED]
        replaced = superseded({r.id: r.rerun_of for r in runs}, [r.id for r in finished])
        for run in finished:
            if run.id in replaced or run.id in seen:
                continue
            seen.add(run.id)
            out.finished += 1
            params = swept_values(run.config, space)
            why = misfit(parameters, params, space)
            value = _value(run, metric)
            if why is None and metric and value is None:
                why = "metric", f"summary {metric}={run.summary.get(metric)!r}"
            if why is not None:
                kind = KINDS[why[0]].format(metric=metric)
                out.skipped[kind] += 1
                out.example.setdefault(kind, f"run {run.id}: {why[1]}")
                continue
            out.runs.append(PriorRun(sid, run, params, value))
    return out
