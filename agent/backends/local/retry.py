"""Riding out a blip of the shared store: a PostgreSQL restart, a dropped connection, a full disk.

A database error that says the connection, not the request, failed (a DB-API OperationalError or
InterfaceError, however SQLAlchemy and Optuna wrap it) is transient: the agent retries with
backoff for up to its lease, saying once that the store is unreachable and once that it is back.
An answer from the store ("this trial is finished") is never retried: that is what the caller
acts on. A server that refuses the connection because it is full says so in one line that names
`max_connections` and the fix, and the agent waits for a slot rather than dying.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Optional, TypeVar

from agent.backends.base import BackendError
from agent.errors import one_line

T = TypeVar("T")
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.25, 5.0
_TRANSIENT = ("OperationalError", "InterfaceError", "DisconnectionError")
_FULL = ("too many clients", "remaining connection slots are reserved", "too many connections")
# The server answered, but cannot take us yet: worth waiting for even where a dead URL is not.
_BUSY = (*_FULL, "the database system is starting up", "the database system is shutting down",
         "the database system is in recovery mode", "terminating connection due to administrator command")  # fmt: skip
TOO_MANY_CLIENTS = (
    "the sweep store refused a connection: too many clients (the server's max_connections is reached); "
    "retrying. Fix: raise max_connections on the server, or put PgBouncer (pool_mode = transaction) in "
    "front of it (docs/CLUSTER.md, 'Choosing a store')"
)


class StoreUnavailable(BackendError):
    """The store stayed unreachable for longer than the agent may wait (its lease)."""


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: Optional[BaseException] = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def is_transient(exc: BaseException) -> bool:
    """The connection failed, not the request: a retry may succeed."""
    return any(type(e).__name__ in _TRANSIENT or getattr(e, "connection_invalidated", False) for e in _chain(exc))


def is_refused_as_full(exc: BaseException) -> bool:
    return any(any(f in str(e).lower() for f in _FULL) for e in _chain(exc))


def is_busy(exc: BaseException) -> bool:
    """The server answered and said: not now (full, starting, stopping)."""
    return any(any(b in str(e).lower() for b in _BUSY) for e in _chain(exc))


def _default_say(text: str) -> None:
    import sys

    print(f"sweepkit: {text}", file=sys.stderr, flush=True)


class StoreRetry:
    """Retries transient store errors with backoff, up to `budget_s`, and says what happens, once
    per outage (several threads of one agent share it: the loop and its heartbeat)."""

    def __init__(self, budget_s: float, say: Optional[Callable[[str], None]] = None, where: str = "the sweep store"):
        self.budget_s, self.where = budget_s, where
        self.say: Callable[[str], None] = say or _default_say
        self._lock = threading.Lock()
        self._down_since: Optional[float] = None
        self._said_full = False

    def __call__(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        budget_s: Optional[float] = None,
        only: Callable[[BaseException], bool] = is_transient,
        wait_when_full: bool = False,
    ) -> T:
        """`fn()`, retried while it fails transiently (as `only` decides); StoreUnavailable (one line)
        after the budget. `wait_when_full`: a server that refuses for want of connection slots is
        waited for as long as it takes (the caller holds nothing meanwhile: a claim)."""
        budget = self.budget_s if budget_s is None else budget_s
        start, delay = time.monotonic(), FIRST_BACKOFF_S
        while True:
            try:
                got = fn()
            except Exception as exc:
                if not only(exc):
                    raise
                waited = time.monotonic() - start
                if waited + delay > budget and not (wait_when_full and is_refused_as_full(exc)):
                    raise StoreUnavailable(
                        f"{self.where} stayed unreachable for {waited:.0f} s ({what}): {one_line(exc)}; "
                        "check that the server is up and reachable from this host"
                    ) from None
                self.failed(what, exc)
                time.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)
                continue
            self.answered()
            return got

    def failed(self, what: str, exc: BaseException) -> None:
        """A transient failure: said once per outage (and once for a full server)."""
        with self._lock:
            full = is_refused_as_full(exc)
            if full and not self._said_full:
                self._said_full = True
                self.say(TOO_MANY_CLIENTS)
            if self._down_since is None:
                self._down_since = time.monotonic()
                if not full:
                    self.say(
                        f"{self.where} is unreachable ({what}: {one_line(exc, 160)}); retrying for up to "
                        f"{self.budget_s:g} s (the lease)"
                    )

    def answered(self) -> None:
        with self._lock:
            if self._down_since is not None:
                self.say(f"{self.where} answers again after {time.monotonic() - self._down_since:.0f} s")
                self._down_since = None
