"""Handing out a sweep's waiting trials (grid points, requeued runs) without reading them all.

Optuna's own `ask` loads every waiting trial, attributes and all, to pop one, then takes a row
lock on the first: on PostgreSQL that is a query whose cost grows with the grid (about 0.1 s at
200 waiting points on this box), and tens of agents queue behind one row. Here a database pops
one row with `FOR UPDATE SKIP LOCKED` (each agent takes a different one) and counts with
`count(*)`; on the journal a pop is Optuna's state change, checked on replay. Either way each
point goes to exactly one agent without any lock of ours.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Optional

import optuna
from optuna.trial import TrialState

from agent.backends.local.optuna_internals import (
    count_by_state,
    pop_waiting_row,
    rdb_of,
    running_attrs,
    storage_of,
    study_id_of,
    trial_handle,
    trial_id_of,
)
from agent.backends.local.schema import QueuedPoint

_SPREAD = 16  # an agent that loses the race for the first waiting id tries the next ones at random
_LIVE = (TrialState.WAITING, TrialState.RUNNING)


def live_counts(study: optuna.Study) -> tuple[int, int]:
    """(waiting, running) trials of the study."""
    rdb = rdb_of(storage_of(study))
    if rdb is None:
        live = study.get_trials(deepcopy=False, states=_LIVE)
        waiting = sum(t.state == TrialState.WAITING for t in live)
        return waiting, len(live) - waiting
    counts = count_by_state(rdb, study_id_of(study), _LIVE)
    return counts.get(TrialState.WAITING, 0), counts.get(TrialState.RUNNING, 0)


def _waiting_ids(study: optuna.Study) -> list[int]:
    return [trial_id_of(t) for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))][:_SPREAD]


def pop_waiting(study: optuna.Study) -> Optional[optuna.Trial]:
    """A waiting trial, now running and ours; None when none is left."""
    storage = storage_of(study)
    rdb = rdb_of(storage)
    if rdb is not None:
        while True:
            trial_id = pop_waiting_row(rdb, study_id_of(study))
            if trial_id is not None:
                return trial_handle(study, trial_id)
            if not live_counts(study)[0]:
                return None  # else every waiting row was being taken by others: look again
    while True:
        ids = _waiting_ids(study)
        if not ids:
            return None
        first, rest = ids[0], ids[1:]
        random.shuffle(rest)  # grid order for the winner; the ones who lost the race spread out
        for trial_id in [first, *rest]:
            try:
                if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return trial_handle(study, trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another agent ran it meanwhile


def running_leases(study: optuna.Study, keys: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """(trial id, its user attrs among `keys`) of each running trial: what a reaper judges by, read in
    one query on a database (Optuna would load every running trial whole)."""
    rdb = rdb_of(storage_of(study))
    if rdb is None:
        return [
            (trial_id_of(t), {k: t.user_attrs[k] for k in keys if k in t.user_attrs})
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        ]
    return running_attrs(rdb, study_id_of(study), keys)


def queue_again(
    study: optuna.Study,
    retry: Callable[[str, Callable[[], None]], None],
    number: int,
    params: dict[str, Any],
    *,
    fixed: Optional[dict[str, Any]] = None,
) -> None:
    """Queue the point of trial `number` again (`params` as the run gets them; `fixed`: Optuna's own
    params, which a sampling method's `suggest` then returns as they were). Exactly once, even when
    a retry follows a write that reached the store unseen (a connection dropped before the answer)."""
    tries = 0

    def once() -> None:
        nonlocal tries
        tries += 1
        if tries > 1 and any(
            (QueuedPoint.from_attrs(t.user_attrs) or QueuedPoint({})).requeue_of == number
            for t in study.get_trials(deepcopy=False)
        ):
            return
        study.enqueue_trial(fixed or {}, user_attrs=QueuedPoint(params, requeue_of=number).to_attrs())

    retry("queue a point again", once)
