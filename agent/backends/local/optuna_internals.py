"""The one door to Optuna's private internals: every name of Optuna's that starts with `_` is used here.

`optuna>=5,<6` lets any minor release rename or move what is private, so each use is one small
typed function with the reason no public API serves, and `INTERNALS` lists them all:
`tests/backends/test_optuna_internals.py` resolves each against the installed Optuna and fails
naming that version ("optuna 5.2.0: optuna.storages._rdb.models.TrialModel is gone"), and
`make test-optuna-range` runs the backend tests on the lowest and the newest Optuna the pin allows.
Nothing else in the tree names a private Optuna attribute (a test greps for it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Optional

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import BaseJournalBackend

# The base class of a journal file lock: JournalFileBackend's `lock_obj` must be one, and Optuna
# exports only its two implementations.
from optuna.storages.journal._file import BaseJournalFileLock as JournalFileLock
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "INTERNALS",
    "JournalFileLock",
    "count_by_state",
    "end_if_running",
    "running_attrs",
    "frozen",
    "journal_backend_of",
    "pop_waiting_row",
    "rdb_of",
    "replay",
    "storage_of",
    "study_id_of",
    "trial_handle",
    "trial_id_of",
    "trials_view",
    "version",
]

# (dotted path, why no public API serves); the test resolves each on live objects.
INTERNALS: dict[str, str] = {
    "optuna.study.Study._storage": "a loaded study's storage: Study has no public accessor for it",
    "optuna.study.Study._study_id": "the id every storage method takes: Study exposes only its name",
    "optuna.trial.Trial._trial_id": "a trial's storage id (its number is per study): no public accessor",
    "optuna.trial.FrozenTrial._trial_id": "likewise for a trial read back from the storage",
    "optuna.storages._CachedStorage._backend": "the RDBStorage Optuna wraps in its cache when a study loads",
    "optuna.storages.JournalStorage._backend": "the journal file backend under a JournalStorage",
    "optuna.storages.JournalStorage._thread_lock": "replaying appended records must hold the storage's lock",
    "optuna.storages.JournalStorage._sync_with_backend": "replay now, so a refused write raises here, not later",
    "optuna.storages._rdb.models.TrialModel": "the trials table, for a count and a SKIP LOCKED pop in SQL",
    "optuna.storages._rdb.models.TrialUserAttributeModel": "a reaper's result, written in the transaction "
    "that ends the trial: Optuna refuses user attrs on a finished trial, and two transactions would race",
    "optuna.storages.journal._file.BaseJournalFileLock": "the lock type JournalFileBackend takes (not exported)",
    "optuna.study.Study._get_trials": "the trials a sampler fits on: a re-run must replace the trial it re-runs",
}


def version() -> str:
    return str(optuna.__version__)


# -- studies and trials ------------------------------------------------------------------------
def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes through (Optuna's cache around an RDBStorage included):
    trial-state changes by id and batched journal writes must go through this very object."""
    storage: BaseStorage = study._storage
    return storage


def study_id_of(study: optuna.Study) -> int:
    return int(study._study_id)


def trial_id_of(trial: optuna.Trial | FrozenTrial) -> int:
    return int(trial._trial_id)


def frozen(trial: optuna.Trial) -> FrozenTrial:
    """The trial as the storage holds it now (its intermediate values included)."""
    return storage_of(trial.study).get_trial(trial_id_of(trial))


def trial_handle(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """A handle on a trial this process set running itself (Optuna's constructor is public, but its
    docs discourage direct use: it is how `ask` makes one, and no public call takes an id)."""
    return optuna.Trial(study, trial_id)


class _TrialsView:
    """A study whose samplers' reads of its trials pass through `keep`; everything else is the study."""

    def __init__(self, study: optuna.Study, keep: Callable[[list[FrozenTrial]], list[FrozenTrial]]) -> None:
        self._study, self._keep = study, keep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        return self._keep(self._study._get_trials(*args, **kwargs))


def trials_view(study: optuna.Study, keep: Callable[[list[FrozenTrial]], list[FrozenTrial]]) -> Any:
    """The study as a sampler should see it: the trials it fits on filtered by `keep`. Optuna's
    samplers read trials through a private method and no public hook filters them; a re-run's value
    must replace the earlier trial's (trials cannot be deleted, nor a complete one changed)."""
    return _TrialsView(study, keep)


# -- storages ------------------------------------------------------------------------------------
def rdb_of(storage: BaseStorage) -> Optional[RDBStorage]:
    """The RDBStorage under `storage`, or None for a journal; Optuna wraps an RDBStorage in a private
    cache when a study loads, and some reads (counts, running trials) must skip that cache."""
    if isinstance(storage, RDBStorage):
        return storage
    inner = getattr(storage, "_backend", None)
    return inner if isinstance(inner, RDBStorage) else None


def journal_backend_of(storage: BaseStorage) -> Optional[BaseJournalBackend]:
    """The log backend under a JournalStorage (ours batches appends); None for any other storage."""
    if not isinstance(storage, JournalStorage):
        return None
    backend: BaseJournalBackend = storage._backend
    return backend


def replay(storage: JournalStorage) -> None:
    """Replay what was appended since this process last read the journal, under the storage's own
    lock. JournalStorage checks a write only when it replays it; no public call replays without
    also reading something, and the caller needs the replay's error (a write made moot)."""
    with storage._thread_lock:
        storage._sync_with_backend()


# -- the trials table (RDBStorage) ----------------------------------------------------------------
def _trial_model() -> Any:
    from optuna.storages._rdb.models import TrialModel

    return TrialModel


def _user_attr_model() -> Any:
    from optuna.storages._rdb.models import TrialUserAttributeModel

    return TrialUserAttributeModel


def count_by_state(rdb: RDBStorage, study_id: int, states: tuple[TrialState, ...]) -> dict[TrialState, int]:
    """How many of the study's trials are in each of `states`: one `count(*)` query, where every
    public read loads the trials themselves."""
    from sqlalchemy import func, select

    model = _trial_model()
    query = (
        select(model.state, func.count())
        .where(model.study_id == study_id, model.state.in_(list(states)))
        .group_by(model.state)
    )
    with rdb.engine.connect() as conn:
        return {TrialState(state): int(n) for state, n in conn.execute(query).all()}


def pop_waiting_row(rdb: RDBStorage, study_id: int) -> Optional[int]:
    """The first waiting trial of the study that no other agent is taking right now (`FOR UPDATE SKIP
    LOCKED`), set running in the same transaction; None when every waiting row is gone or taken.
    Optuna's own pop loads every waiting trial, then queues all agents behind one row lock."""
    from sqlalchemy.orm import Session

    model = _trial_model()
    with Session(rdb.engine) as session, session.begin():
        query = (
            session.query(model)
            .filter(model.study_id == study_id, model.state == TrialState.WAITING)
            .order_by(model.trial_id)
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


def running_attrs(rdb: RDBStorage, study_id: int, keys: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """(trial id, {key: value} of its user attrs among `keys`) of each running trial, in one query: a
    reaper reads a few attrs of each, where Optuna's reads load every trial whole."""
    import json

    from sqlalchemy import and_, select

    trial_model, attr_model = _trial_model(), _user_attr_model()
    query = (
        select(trial_model.trial_id, attr_model.key, attr_model.value_json)
        .outerjoin(attr_model, and_(attr_model.trial_id == trial_model.trial_id, attr_model.key.in_(keys)))
        .where(trial_model.study_id == study_id, trial_model.state == TrialState.RUNNING)
    )
    out: dict[int, dict[str, Any]] = {}
    with rdb.engine.connect() as conn:
        for trial_id, key, value in conn.execute(query).all():
            attrs = out.setdefault(int(trial_id), {})
            if key is not None:
                attrs[key] = json.loads(value)
    return list(out.items())


def end_if_running(
    rdb: RDBStorage,
    trial_id: int,
    state: TrialState,
    attrs: dict[str, Any],
    still: Callable[[dict[str, Any]], bool],
) -> bool:
    """A compare-and-set: end the trial in `state` with its user `attrs` set, in one transaction
    that holds the trial's row, only if it is still running and `still(its user attrs)` holds then;
    True if it was ended here. Optuna ends a trial and sets its attrs in separate transactions, and
    refuses attrs on a finished trial, so a reaper and a finishing agent could each win half."""
    import json

    from sqlalchemy.orm import Session

    trial_model, attr_model = _trial_model(), _user_attr_model()
    with Session(rdb.engine) as session, session.begin():
        row = session.query(trial_model).filter(trial_model.trial_id == trial_id).with_for_update().one_or_none()
        if row is None or row.state != TrialState.RUNNING:
            return False
        stored = session.query(attr_model).filter(attr_model.trial_id == trial_id).all()
        if not still({a.key: json.loads(a.value_json) for a in stored}):
            return False  # the transaction ends without a change, and lets the row go
        row.state = state
        row.datetime_complete = datetime.now()
        by_key = {a.key: a for a in stored}
        for key, value in attrs.items():
            if key in by_key:
                by_key[key].value_json = json.dumps(value)
            else:
                session.add(attr_model(trial_id=trial_id, key=key, value_json=json.dumps(value)))
    return True
