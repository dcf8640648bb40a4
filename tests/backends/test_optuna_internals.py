"""Optuna's private internals the offline backend relies on: each one named, found on the installed
Optuna, and behaving as relied on (`test_seams.py` checks nobody else uses them).

`make test-optuna-range` runs this file (and the fast backend tests) on the lowest and the newest
Optuna that `optuna>=5,<6` allows.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.trial import TrialState

from agent.backends.local import optuna_internals as oi
from agent.backends.local.journal import SafeJournalFileBackend
from agent.backends.local.store import batched_writes
from tests.helpers import env_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live(tmp_path) -> dict[str, Any]:
    """One of each object the internals live on: a journal study and trial, an RDB (SQLite) study."""
    journal = JournalStorage(SafeJournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(storage=journal, study_name="j")
    trial = study.ask()
    rdb_study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite3'}", study_name="r")
    return {"study": study, "trial": trial, "frozen": study.trials[0], "journal": journal, "rdb_study": rdb_study}


def _module_attr(path: str) -> Callable[[dict[str, Any]], Any]:
    module, _, name = path.rpartition(".")
    return lambda objs: getattr(importlib.import_module(module), name)


# How to reach each internal on live objects; every name in INTERNALS has one.
PROBES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "optuna.study.Study._storage": lambda o: o["study"]._storage,
    "optuna.study.Study._study_id": lambda o: o["study"]._study_id,
    "optuna.trial.Trial._trial_id": lambda o: o["trial"]._trial_id,
    "optuna.trial.FrozenTrial._trial_id": lambda o: o["frozen"]._trial_id,
    "optuna.storages._CachedStorage._backend": lambda o: o["rdb_study"]._storage._backend,
    "optuna.storages.JournalStorage._backend": lambda o: o["journal"]._backend,
    "optuna.storages.JournalStorage._thread_lock": lambda o: o["journal"]._thread_lock,
    "optuna.storages.JournalStorage._sync_with_backend": lambda o: o["journal"]._sync_with_backend,
    "optuna.storages._rdb.models.TrialModel": _module_attr("optuna.storages._rdb.models.TrialModel"),
    "optuna.storages._rdb.models.TrialUserAttributeModel": _module_attr(
        "optuna.storages._rdb.models.TrialUserAttributeModel"
    ),
    "optuna.storages.journal._file.BaseJournalFileLock": _module_attr(
        "optuna.storages.journal._file.BaseJournalFileLock"
    ),
    "optuna.study.Study._get_trials": lambda o: o["study"]._get_trials,
}


def test_every_internal_has_a_probe():
    assert set(PROBES) == set(oi.INTERNALS), "name each new internal in INTERNALS and give it a probe here"


@pytest.mark.parametrize("name", sorted(oi.INTERNALS))
def test_each_internal_is_where_sweepkit_expects_it(name, live):
    try:
        found = PROBES[name](live)
    except (AttributeError, ImportError) as exc:
        pytest.fail(f"optuna {optuna.__version__}: {name} is gone ({type(exc).__name__}: {exc})")
    assert found is not None, f"optuna {optuna.__version__}: {name} is None"


def test_the_internals_behave_as_the_backend_relies(live):
    """What each wrapper promises, on the installed Optuna (a moved behaviour fails here too)."""
    v = optuna.__version__
    study, rdb_study = live["study"], live["rdb_study"]
    assert oi.storage_of(study) is live["journal"], f"optuna {v}: Study._storage is not the storage it loaded"
    assert isinstance(oi.journal_backend_of(live["journal"]), SafeJournalFileBackend), f"optuna {v}: journal"
    rdb = oi.rdb_of(oi.storage_of(rdb_study))
    assert isinstance(rdb, optuna.storages.RDBStorage), f"optuna {v}: _CachedStorage._backend is not the RDBStorage"
    assert oi.rdb_of(live["journal"]) is None and oi.journal_backend_of(oi.storage_of(rdb_study)) is None

    live["trial"].report(0.5, 0)
    assert oi.frozen(live["trial"]).intermediate_values == {0: 0.5}, f"optuna {v}: get_trial(Trial._trial_id)"
    assert oi.trial_id_of(live["frozen"]) == oi.trial_id_of(live["trial"])

    _check_the_trials_table(rdb_study)


def _check_the_trials_table(study: optuna.Study) -> None:
    """Counting and popping rows of Optuna's trials table, as the grid queue does."""
    v = optuna.__version__
    rdb = oi.rdb_of(oi.storage_of(study))
    assert rdb is not None
    for _ in range(3):
        study.enqueue_trial({})
    study.ask()  # one waiting trial now running
    sid = oi.study_id_of(study)
    live_states = (TrialState.WAITING, TrialState.RUNNING)
    assert oi.count_by_state(rdb, sid, live_states) == {TrialState.WAITING: 2, TrialState.RUNNING: 1}
    popped = {oi.pop_waiting_row(rdb, sid), oi.pop_waiting_row(rdb, sid)}
    assert oi.pop_waiting_row(rdb, sid) is None and None not in popped
    assert oi.count_by_state(rdb, sid, live_states) == {TrialState.RUNNING: 3}, f"optuna {v}: the trials table"
    numbers = sorted(oi.trial_handle(study, trial_id).number for trial_id in popped if trial_id is not None)
    assert numbers == [1, 2] and all(t.datetime_start for t in study.trials)


@pytest.mark.postgres
def test_the_trials_table_on_postgresql():
    """The same on PostgreSQL, where the pop is `FOR UPDATE SKIP LOCKED`."""
    url = os.environ.get("SWEEPKIT_TEST_PG_URL")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("SWEEPKIT_TEST_PG_URL is not set under CI: scripts/test_env.sh must start PostgreSQL")
        pytest.skip("SWEEPKIT_TEST_PG_URL not set; run `make test` (it starts a private PostgreSQL)")
    _check_the_trials_table(optuna.create_study(storage=url, study_name=f"internals-{uuid.uuid4().hex[:8]}"))


def test_a_replay_after_a_batched_write_raises_the_write_others_made_moot(live):
    """`replay` (JournalStorage's own lock and sync): a write on a trial another process ended
    surfaces at once, as UpdateFinishedTrialError."""
    study, trial = live["study"], live["trial"]
    mine = oi.journal_backend_of(live["journal"])
    assert isinstance(mine, SafeJournalFileBackend)
    other = JournalStorage(SafeJournalFileBackend(mine.path))
    other.set_trial_state_values(oi.trial_id_of(trial), TrialState.FAIL)  # another agent reaped it
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError), batched_writes(oi.storage_of(study)):
        trial.set_user_attr("result", 1.0)  # held: it reaches the journal, and is checked, at the end
    assert study.trials[0].state == TrialState.FAIL


def test_a_batch_that_fails_writes_nothing_while_another_thread_batches(tmp_path):
    """Each thread's batch is its own: another thread's batch ending in between neither flushes nor
    drops this one's held appends (the heartbeat batches beside the agent's own writes)."""
    backend = SafeJournalFileBackend(str(tmp_path / "journal.log"))
    mine_started, theirs_done = threading.Event(), threading.Event()

    def theirs() -> None:
        mine_started.wait(10)
        with backend.batch():
            backend.append_logs([{"op_code": 0, "who": "theirs"}])
        theirs_done.set()

    t = threading.Thread(target=theirs)
    t.start()
    with pytest.raises(RuntimeError), backend.batch():
        backend.append_logs([{"op_code": 0, "who": "mine", "n": 1}])
        mine_started.set()
        assert theirs_done.wait(10)
        backend.append_logs([{"op_code": 0, "who": "mine", "n": 2}])
        raise RuntimeError("the block failed: none of its writes may land")
    t.join(10)
    assert [r["who"] for r in backend.read_logs(0)] == ["theirs"]


def test_child_processes_import_the_same_optuna_as_the_tests(tmp_path):
    """`env_for` keeps PYTHONPATH entries the tests run under (the Optuna range puts a release there)."""
    env = env_for(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", "import optuna; print(optuna.__version__, optuna.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.split() == [optuna.__version__, optuna.__file__], (out.stdout, os.environ.get("PYTHONPATH"))


def test_a_sampler_sees_the_trials_through_trials_view():
    """GPSampler reads the trials it fits through the study's private `_get_trials`: what `trials_view`
    leaves out, the GP does not see (bayes relies on it so that a re-run replaces the trial it re-runs)."""
    import warnings

    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    space = {"x": FloatDistribution(0.0, 1.0)}
    study = optuna.create_study()
    for x in (0.1, 0.5):
        study.add_trial(create_trial(params={"x": x}, distributions=space, value=x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.GPSampler(n_startup_trials=2)
    asked = study.ask()
    frozen = study.trials[asked.number]
    v = optuna.__version__
    assert sampler.sample_relative(study, frozen, space), f"optuna {v}: GPSampler did not fit two complete trials"
    seen = oi.trials_view(study, lambda trials: [t for t in trials if t.number != 0])
    assert sampler.sample_relative(seen, frozen, space) == {}, f"optuna {v}: GPSampler saw past trials_view"
