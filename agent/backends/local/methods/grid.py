"""grid: every point is enqueued when the sweep is made (less those a warm start's prior runs ran),
and an extension enqueues the points its new values add; agents pop them, each exactly once.

A pop needs no claim lock: the store's own state change hands each point to one agent (a row
lock with SKIP LOCKED on a database; a state change checked on replay in the journal). A point
whose run was lost (its agent died) or killed is queued again, so every point runs to an end.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, ClassVar, Optional

import optuna

from agent.backends.local.methods.base import SearchMethod, queued_params
from agent.backends.local.queue import live_counts, pop_waiting
from agent.backends.local.schema import QueuedPoint
from agent.sweep_config import grid_points, point_key

EXHAUSTED = "grid exhausted: every point has run"


class Grid(SearchMethod):
    name: ClassVar[str] = "grid"
    requeues: ClassVar[bool] = True
    claims_under_lock: ClassVar[bool] = False

    def setup(self, study: optuna.Study, skip: Collection[tuple[str, ...]] = ()) -> int:
        points = [p for p in grid_points(self.parameters) if point_key(p, self.parameters) not in skip]
        for point in points:
            study.enqueue_trial({}, user_attrs=QueuedPoint(point).to_attrs())
        return len(points)

    def exhausted(self, live: Callable[[], tuple[int, int]]) -> Optional[str]:
        return None if any(live()) else EXHAUSTED

    def next_trial(self, study: optuna.Study) -> optuna.Trial | str:
        trial = pop_waiting(study)
        if trial is not None:
            return trial
        waiting, running = live_counts(study)
        if not waiting and not running:
            return EXHAUSTED
        return f"wait: {running} grid point(s) still running in other agents"

    def params(self, trial: optuna.Trial) -> dict[str, Any]:
        return queued_params(trial) or {}
