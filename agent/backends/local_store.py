"""Where a local sweep lives, how agents share it, and how dead agents are noticed.

Layout (`$SWEEPKIT_HOME`, default `./.sweepkit/`):

    sweeps/<sweep_id>/sweep.yaml     the config as given
    sweeps/<sweep_id>/journal.log    Optuna JournalStorage (unless --storage URL)
    sweeps/<sweep_id>/claim.lock     serialises claiming a trial across agent processes
    sweeps/<sweep_id>/runs/<run_id>/ one run's dir (WANDB_DIR and the trial's output_dir)

Optuna's JournalStorage is safe for concurrent processes but has no heartbeat, so every running
trial carries a lease: user attrs `sk_heartbeat` (unix time, refreshed by its agent) and
`sk_run.lease_s` (the timeout its agent promised). Any agent, before it claims work, marks trials
whose heartbeat is older than their lease as failed ("crashed") and re-enqueues their params
(grid points must all run). That step and the claim itself run under one lock per sweep, a
file lock for the journal and an advisory lock for PostgreSQL/MySQL, so two agents can never
both requeue the same point or both take the last slot of `run_cap`.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import string
import threading
import time
import zlib
from pathlib import Path
from typing import Iterator, Optional

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from agent.backends.base import BackendError

HEARTBEAT_ENV = "SWEEPKIT_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0
_ID_ALPHABET = string.ascii_lowercase + string.digits


def home() -> Path:
    return Path(os.environ.get("SWEEPKIT_HOME") or ".sweepkit")


def new_id(n: int = 8) -> str:
    """W&B-style short id: 8 characters of [a-z0-9]."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(n))


def sweep_dir(sweep_id: str) -> Path:
    return home() / "sweeps" / sweep_id


def heartbeat_timeout(value: Optional[float] = None) -> float:
    if value is not None:
        return float(value)
    return float(os.environ.get(HEARTBEAT_ENV) or DEFAULT_HEARTBEAT_TIMEOUT_S)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def open_storage(sweep_id: str, url: Optional[str] = None, *, create: bool = False) -> optuna.storages.BaseStorage:
    """The Optuna storage holding `sweep_id`; a one-line BackendError if it cannot be reached."""
    if url:
        kwargs = {"pool_pre_ping": True}
        if url.startswith("postgresql"):
            kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            return RDBStorage(url, engine_kwargs=kwargs)
        except Exception as exc:  # sqlalchemy/driver errors vary by backend
            raise BackendError(f"cannot reach the sweep store {mask_url(url)}: {_short(exc)}; "
                               "check the URL and that the server is up") from None
    d = sweep_dir(sweep_id)
    journal = d / "journal.log"
    remote = d / "storage.txt"
    if not create and not journal.is_file() and remote.is_file():
        raise BackendError(f"sweep {sweep_id!r} lives in {remote.read_text().strip()}; pass --storage URL "
                           "(or set SWEEPKIT_STORAGE) with its password")
    if not create and not journal.is_file():
        raise BackendError(f"no local sweep {sweep_id!r} under {home()}/sweeps; list them with "
                           "`sweepkit sweeps`, or pass --storage URL / set SWEEPKIT_HOME")
    d.mkdir(parents=True, exist_ok=True)
    try:
        return JournalStorage(JournalFileBackend(str(journal)))
    except OSError as exc:
        raise BackendError(f"cannot open {journal}: {_short(exc)}") from None


def mask_url(url: str) -> str:
    """A storage URL without its password, fit for messages and files."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@contextlib.contextmanager
def claim_lock(storage: optuna.storages.BaseStorage, sweep_id: str) -> Iterator[None]:
    """One agent at a time may reap and claim within a sweep."""
    if isinstance(storage, RDBStorage):
        from sqlalchemy import text
        dialect = storage.engine.dialect.name
        key = zlib.crc32(f"sweepkit:{sweep_id}".encode())
        if dialect not in ("postgresql", "mysql"):
            yield  # SQLite: no cross-process lock (and Optuna's SQLite is unsafe for several agents)
            return
        with storage.engine.connect() as conn:
            if dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            else:
                conn.execute(text("SELECT GET_LOCK(:k, 600)"), {"k": f"sweepkit:{sweep_id}"})
            try:
                yield
            finally:
                if dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                else:
                    conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": f"sweepkit:{sweep_id}"})
                conn.commit()
        return
    path = sweep_dir(sweep_id) / "claim.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Heartbeat:
    """Refreshes a running trial's lease from a background thread until stopped."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int, timeout_s: float):
        self.storage, self.trial_id = storage, trial_id
        self.interval = max(0.2, timeout_s / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.set_trial_user_attr(self.trial_id, "sk_heartbeat", time.time())
            except Exception:
                return  # trial already finished/reaped; nothing left to keep alive


def is_stale(trial: optuna.trial.FrozenTrial, now: float) -> bool:
    attrs = trial.user_attrs
    if trial.state != TrialState.RUNNING:
        return False
    lease = (attrs.get("sk_run") or {}).get("lease_s", DEFAULT_HEARTBEAT_TIMEOUT_S)
    return now - last_beat(trial) > float(lease)


def last_beat(trial: optuna.trial.FrozenTrial) -> float:
    """The trial's last heartbeat; its start if its agent died before the first one."""
    if "sk_heartbeat" in trial.user_attrs:
        return float(trial.user_attrs["sk_heartbeat"])
    start = trial.datetime_start
    return start.timestamp() if start is not None else time.time()


def reap_stale(study: optuna.Study, *, requeue: bool) -> list[int]:
    """Fail trials whose agent died; re-enqueue their params. Call under `claim_lock`."""
    reaped = []
    now = time.time()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_stale(t, now):
            continue
        storage = study._storage
        age = now - last_beat(t)
        run = t.user_attrs.get("sk_run") or {}
        storage.set_trial_user_attr(t._trial_id, "sk_result", {
            "state": "crashed", "reason": f"agent lost: no heartbeat for {age:.0f}s (lease {run.get('lease_s')}s)"})
        if requeue:
            storage.set_trial_user_attr(t._trial_id, "sk_requeued", True)
        try:
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # its agent finished it just now
        if requeue:
            study.enqueue_trial({}, user_attrs={"sk_params": run.get("params", {}),
                                                "sk_requeue_of": t.number})
        reaped.append(t.number)
    return reaped
