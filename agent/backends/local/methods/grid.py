"""grid: every point is enqueued when the sweep is made; agents pop them, each exactly once.

A pop needs no claim lock: the store's own state change hands each point to one agent (a row
lock with SKIP LOCKED on a database; a state change checked on replay in the journal). A point
whose run was lost (its agent died) or killed is queued again, so every point runs to an end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Optional

import optuna

from agent.backends.local.methods.base import SearchMethod
from agent.backends.local.queue import live_counts, pop_waiting
from agent.backends.local.schema import QueuedPoint
from agent.sweep_config import grid_points

EXHAUSTED = "grid exhausted: every point has run"


class Grid(SearchMethod):
    name: ClassVar[str] = "grid"
    requeues: ClassVar[bool] = True
    claims_under_lock: ClassVar[bool] = False

    def setup(self, study: optuna.Study) -> None:
        for point in grid_points(self.parameters):
            study.enqueue_trial({}, user_attrs=QueuedPoint(point).to_attrs())

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
        point = QueuedPoint.from_attrs(trial.user_attrs)
        return point.params if point else {}
