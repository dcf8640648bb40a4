"""Where a local sweep lives and how agents share it.

Layout (`$SWEEPKIT_HOME`, default `./.sweepkit/`):

    sweeps/<sweep_id>/sweep.yaml     the config as given
    sweeps/<sweep_id>/journal.log    Optuna JournalStorage (unless --storage URL), torn-write safe (journal.py)
    sweeps/<sweep_id>/claim.lock     serialises claiming a trial across agent processes
    sweeps/<sweep_id>/storage.txt    only with --storage: the URL, password masked
    sweeps/<sweep_id>/runs/<run_id>/ one run's dir (WANDB_DIR and the trial's output_dir)

Claiming (and reaping dead agents' trials, `leases.py`) runs under one lock per sweep: a file lock
for the journal, an advisory lock for PostgreSQL/MySQL, so two agents can never both requeue the
same point or both take the last slot of `run_cap`.

An agent holds a database connection only while it uses the store (`connections.py`). PostgreSQL's
claim lock is a transaction-level advisory lock, held by an open transaction on its own connection:
it works through PgBouncer in transaction mode too (a session lock would not), and it is gone with
the connection if the agent dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import secrets
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import optuna
from optuna.storages import JournalStorage, RDBStorage

from agent.backends.base import BackendError
from agent.backends.local.connections import engine_kwargs, release_when_idle
from agent.backends.local.journal import SafeJournalFileBackend
from agent.backends.local.optuna_internals import journal_backend_of, rdb_of, replay
from agent.backends.local.retry import StoreRetry, StoreUnavailable, is_busy, is_transient
from agent.errors import one_line
from agent.paths import ID_ALPHABET, ID_LENGTH, BadId, home, inside

# How long opening a database store waits for a server that answered "not now" (starting up, shutting
# down); a full one ("too many clients") is waited for as long as it takes: an array's tasks starting
# together wait for a slot rather than fail.
OPEN_WAIT_S = 300.0


def new_id() -> str:
    """W&B-style short id, of the one id rule's alphabet and length (`agent.paths`)."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def sweep_dir(sweep_id: str) -> Path:
    try:
        return inside(home() / "sweeps", sweep_id)
    except BadId as exc:  # an id is a name in the store, never a path out of it
        raise BackendError(str(exc)) from None


def open_storage(sweep_id: str, url: Optional[str] = None, *, create: bool = False) -> optuna.storages.BaseStorage:
    """The Optuna storage holding `sweep_id`; a one-line BackendError if it cannot be reached."""
    if url:
        retry = StoreRetry(OPEN_WAIT_S, where=f"the sweep store {mask_url(url)}")
        try:
            open_it = lambda: RDBStorage(url, engine_kwargs=engine_kwargs(url))
            rdb = retry("open", open_it, only=is_busy, wait_when_full=True)
            release_when_idle(rdb.engine)
            return rdb
        except StoreUnavailable:
            raise
        except Exception as exc:  # sqlalchemy/driver errors vary by backend
            raise BackendError(
                f"cannot reach the sweep store {mask_url(url)}: {one_line(exc)}; "
                "check the URL and that the server is up"
            ) from None
    d = sweep_dir(sweep_id)
    journal = d / "journal.log"
    remote = d / "storage.txt"
    if not create and not journal.is_file() and remote.is_file():
        raise BackendError(
            f"sweep {sweep_id!r} lives in {remote.read_text().strip()}; pass --storage URL "
            "(or set SWEEPKIT_STORAGE) with its password"
        )
    if not create and not journal.is_file():
        raise BackendError(
            f"no local sweep {sweep_id!r} under {home()}/sweeps; list them with "
            "`sweepkit sweeps`, or pass --storage URL / set SWEEPKIT_HOME"
        )
    return journal_storage(d)


def journal_storage(folder: Path) -> JournalStorage:
    """The embedded journal store in `folder` (a sweep's, or one being made)."""
    journal = folder / "journal.log"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return JournalStorage(SafeJournalFileBackend(str(journal)))
    except OSError as exc:
        raise BackendError(f"cannot open {journal}: {one_line(exc)}") from None


def mask_url(url: str) -> str:
    """A storage URL without its password, fit for messages and files."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@contextlib.contextmanager
def batched_writes(storage: optuna.storages.BaseStorage) -> Iterator[None]:
    """This thread's writes inside reach the journal as one append (a no-op on a database, where each
    write is a transaction anyway). JournalStorage checks a write only when it replays it, so what
    went out is replayed here, at once: a write the others made moot (on a trial another agent
    already ended) raises UpdateFinishedTrialError here, not in whatever this process reads next."""
    backend = journal_backend_of(storage)
    if not isinstance(storage, JournalStorage) or not isinstance(backend, SafeJournalFileBackend):
        yield
        return
    with backend.batch() as pending:
        yield
    rejected: Optional[Exception] = None
    for _ in range(len(pending) + 1):
        try:
            replay(storage)
            break
        except optuna.exceptions.UpdateFinishedTrialError as exc:
            rejected = exc  # replay skips it and goes on with the next pending write
    if rejected is not None:
        raise rejected


@contextlib.contextmanager
def claim_lock(storage: optuna.storages.BaseStorage, sweep_id: str, *, wait: bool = True) -> Iterator[bool]:
    """One agent at a time may reap and claim within a sweep. With `wait=False` it does not queue:
    it yields False at once when another agent holds the lock (reaping needs one reaper, not all)."""
    rdb = rdb_of(storage)
    if rdb is not None:
        with _database_lock(rdb, sweep_id, wait) as got:
            yield got
        return
    path = sweep_dir(sweep_id) / "claim.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _database_lock(rdb: RDBStorage, sweep_id: str, wait: bool) -> Iterator[bool]:
    from sqlalchemy import text

    dialect = rdb.engine.dialect.name
    key = zlib.crc32(f"sweepkit:{sweep_id}".encode())
    if dialect not in ("postgresql", "mysql"):
        yield True  # SQLite: no cross-process lock (and Optuna's SQLite is unsafe for several agents)
        return
    conn = rdb.engine.connect()
    try:
        if dialect == "postgresql":  # held by this open transaction, released when it ends
            sql = "SELECT pg_advisory_xact_lock(:k)" if wait else "SELECT pg_try_advisory_xact_lock(:k)"
            got = conn.execute(text(sql), {"k": key}).scalar() is not False
        else:
            got = (
                conn.execute(
                    text("SELECT GET_LOCK(:k, :t)"), {"k": f"sweepkit:{sweep_id}", "t": 600 if wait else 0}
                ).scalar()
                == 1
            )
    except BaseException:
        _close_quietly(conn)
        raise
    try:
        yield got
    finally:
        try:
            if got and dialect == "mysql":
                conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": f"sweepkit:{sweep_id}"})
            conn.commit()
        except Exception as exc:
            if not is_transient(exc):
                raise
            # the connection died: the server ended its session, and the lock with it
        finally:
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()
