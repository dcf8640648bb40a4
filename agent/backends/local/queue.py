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
from typing import Optional

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

_SPREAD = 16  # an agent that loses the race for the first waiting id tries the next ones at random


def _rdb(storage: optuna.storages.BaseStorage) -> Optional[RDBStorage]:
    inner = getattr(storage, "_backend", storage)  # optuna wraps an RDBStorage in a cache
    return inner if isinstance(inner, RDBStorage) else None


def live_counts(study: optuna.Study) -> tuple[int, int]:
    """(waiting, running) trials of the study."""
    rdb = _rdb(study._storage)
    if rdb is None:
        live = study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
        waiting = sum(t.state == TrialState.WAITING for t in live)
        return waiting, len(live) - waiting
    from optuna.storages._rdb.models import TrialModel
    from sqlalchemy import func, select

    query = (
        select(TrialModel.state, func.count())
        .where(TrialModel.study_id == study._study_id, TrialModel.state.in_([TrialState.WAITING, TrialState.RUNNING]))
        .group_by(TrialModel.state)
    )
    with rdb.engine.connect() as conn:
        counts = dict(conn.execute(query).all())
    return counts.get(TrialState.WAITING, 0), counts.get(TrialState.RUNNING, 0)


def _waiting_ids(study: optuna.Study) -> list[int]:
    return [t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))][:_SPREAD]


def _pop_row(rdb: RDBStorage, study_id: int) -> Optional[int]:
    """The first waiting trial no other agent is taking right now, set running in the same
    transaction (what Optuna's own state change does, minus the queue behind one row lock)."""
    from datetime import datetime

    from optuna.storages._rdb.models import TrialModel
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(rdb.scoped_session) as session:
        query = (
            session.query(TrialModel)
            .filter(TrialModel.study_id == study_id, TrialModel.state == TrialState.WAITING)
            .order_by(TrialModel.trial_id)
            .limit(1)
        )
        if rdb.engine.dialect.name in ("postgresql", "mysql"):
            query = query.with_for_update(skip_locked=True)
        row = query.one_or_none()
        if row is None:
            return None
        row.state = TrialState.RUNNING
        row.datetime_start = datetime.now()
        return int(row.trial_id)


def pop_waiting(study: optuna.Study) -> Optional[optuna.Trial]:
    """A waiting trial, now running and ours; None when none is left."""
    rdb = _rdb(study._storage)
    if rdb is not None:
        while True:
            trial_id = _pop_row(rdb, study._study_id)
            if trial_id is not None:
                return optuna.Trial(study, trial_id)
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
                if study._storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return optuna.Trial(study, trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another agent ran it meanwhile


def running_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The running trials, read past Optuna's cache, which would re-read every unfinished (waiting)
    trial to answer: a reaper wants a few dozen rows, not the whole grid."""
    rdb = _rdb(study._storage)
    if rdb is None:
        return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return rdb.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.RUNNING,))
