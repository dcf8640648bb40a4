"""A point's runs, declared once: each point of a sweep counts once, with its latest counted run.

A run may run an earlier run's point again (`rerun_of`): one `sweepkit rerun` asked for, or one the
sweep requeued itself after a lost agent. The runs of one point form a chain through those links.
Whoever counts runs (the report's statistics, a warm start picking earlier runs) keeps, per chain,
only the latest run it counts; the earlier ones stay in history and in the run table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Optional


def superseded(rerun_of: Mapping[str, Optional[str]], counted: Iterable[str]) -> set[str]:
    """The counted runs that a later counted run of the same point replaces.

    `rerun_of`: run id -> the run whose point it ran again (None or absent: a first run)."""
    keep = set(counted)
    out: set[str] = set()
    for run in keep:
        seen = {run}
        earlier = rerun_of.get(run)
        while earlier and earlier not in seen:
            if earlier in keep:
                out.add(earlier)
            seen.add(earlier)
            earlier = rerun_of.get(earlier)
    return out
