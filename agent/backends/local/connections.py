"""How an agent holds its database connections: one at a time, shared by its threads, and none when idle.

Each agent used to keep a pool of its own (the store, the claim lock, the heartbeat: up to three
connections for its whole life), so a few hundred array tasks passed PostgreSQL's default
`max_connections` (100). Now an agent's pool holds one connection (two more at most, briefly: the
claim lock's transaction while the claim itself runs, a heartbeat meanwhile), and a connection
not used for LINGER_S is closed. A claim's or a result's queries share one connection (a new one
costs the server a process: milliseconds each); an agent whose trial runs for minutes holds none,
save a moment at each heartbeat. What a cluster of N agents needs is then about the number of
agents claiming or finishing at the same moment, not N (docs/CLUSTER.md, "Choosing a store").
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

LINGER_S = 1.0
POOL_SIZE, MAX_OVERFLOW = 1, 2
APPLICATION_NAME = "sweepkit"  # how the agents' connections show in pg_stat_activity
CONNECT_TIMEOUT_S = 10


def engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy engine options for a sweep store at `url`."""
    from sqlalchemy.pool import QueuePool

    # No pre-ping (a round trip per checkout): a connection the server dropped fails its query, the
    # pool drops every connection it holds, and the agent's retry opens a fresh one.
    kwargs: dict[str, Any] = {"poolclass": QueuePool, "pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": APPLICATION_NAME}
    return kwargs


def release_when_idle(engine: Any, linger_s: float = LINGER_S) -> None:
    """Close `engine`'s pooled connections once none has been in use for `linger_s` seconds (a
    daemon thread per engine, which ends with the engine)."""
    from sqlalchemy import event

    state = {"out": 0, "last": time.monotonic()}
    lock = threading.Lock()

    def checked_out(*_: Any) -> None:
        with lock:
            state["out"] += 1

    def checked_in(*_: Any) -> None:
        with lock:
            state["out"] -= 1
            state["last"] = time.monotonic()

    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "checkin", checked_in)
    ref = weakref.ref(engine)

    def janitor() -> None:
        while True:
            time.sleep(linger_s / 2)
            live = ref()
            if live is None:
                return
            with lock:
                idle = state["out"] <= 0 and time.monotonic() - state["last"] > linger_s
            if idle and live.pool.checkedin():
                # closes the idle connections only; one being checked out right now stays open
                live.pool.dispose()
            del live

    threading.Thread(target=janitor, daemon=True, name="sweepkit-db-linger").start()
