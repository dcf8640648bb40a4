"""Handing out a sweep's waiting trials (grid points, requeued runs) without reading them all.

Optuna's own `ask` loads every waiting trial, attributes and all, to pop one. On the journal that
is a scan of memory; on PostgreSQL it is a query whose cost grows with the grid (about 0.1 s at
200 waiting points on this box), paid on every claim. Here a database is asked only for ids and
counts; the state change is still Optuna's, whose row lock makes a pop exactly-once without
any lock of ours.
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
    rdb = _rdb(study._storage)
    if rdb is None:
        return [t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))][:_SPREAD]
    from optuna.storages._rdb.models import TrialModel
    from sqlalchemy import select

    query = (
        select(TrialModel.trial_id)
        .where(TrialModel.study_id == study._study_id, TrialModel.state == TrialState.WAITING)
        .order_by(TrialModel.trial_id)
        .limit(_SPREAD)
    )
    with rdb.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def pop_waiting(study: optuna.Study) -> Optional[optuna.Trial]:
    """A waiting trial, now running and ours; None when none is left."""
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
