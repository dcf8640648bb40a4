"""How dead agents are noticed: every running trial carries a lease.

Optuna's JournalStorage is safe for concurrent processes but has no heartbeat, so each running
trial records a heartbeat (`schema.Beat`, refreshed by its agent) and in its claim the lease its
agent promised (`schema.RunClaim.lease_s`). Any agent, before it claims work and under the sweep's
claim lock, marks trials whose heartbeat is older than their lease as crashed and, when the search
method requeues (grid: every point must run), queues their params again.

A heartbeat that fails to write is tried again (sooner), never dropped: only the store's own
answer "this trial is finished" (its agent ended it, or a reaper did) stops it, so a PostgreSQL
restart or a dropped connection shorter than the lease never makes a live trial look dead.
Reaping is a compare-and-set: the trial's state changes (and its "lost" result is written with
it) only if it is still running and still stale at that moment, so a trial that finishes just
then keeps its own result, and the reaper moves on.

The heartbeat also carries the trial's last logged values (`schema.LiveValues`) when they changed,
in the same append: `status` shows a running trial's live metric from the store, with no reader
process per run.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Optional

import optuna
from optuna.trial import TrialState

from agent.backends.local.optuna_internals import end_if_running, rdb_of, storage_of, trial_id_of
from agent.backends.local.queue import queue_again, running_leases
from agent.backends.local.retry import FIRST_BACKOFF_S, StoreRetry
from agent.backends.local.schema import (
    DEFAULT_LEASE_S,
    HEARTBEAT_KEY,
    PARAMS_KEY,
    RUN_KEY,
    Beat,
    Ended,
    LiveValues,
    Result,
    RunClaim,
    TrialAttrs,
)
from agent.backends.local.store import batched_writes
from agent.states import RunState
from agent.sweep_config.metric import finite

HEARTBEAT_ENV = "SWEEPKIT_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT_S = DEFAULT_LEASE_S
CLAIM_GRACE_S = 5.0
LIVE_KEYS = 64  # the most logged keys a live summary keeps (the metric first): each beat rewrites them
LEASE_KEYS = (HEARTBEAT_KEY, RUN_KEY, PARAMS_KEY)  # what a reaper reads of each running trial


def heartbeat_timeout(value: Optional[float] = None) -> float:
    if value is not None:
        return float(value)
    return float(os.environ.get(HEARTBEAT_ENV) or DEFAULT_HEARTBEAT_TIMEOUT_S)


def fold_row(summary: dict[str, float], row: Mapping[str, Any], metric: Optional[str]) -> dict[str, float]:
    """`summary` with the row's finite numbers as the latest value of each key, as wandb's summary
    keeps them; capped at LIVE_KEYS keys, the metric always kept."""
    out = dict(summary)
    for key, value in row.items():
        if finite(value) and (key in out or len(out) < LIVE_KEYS or key == metric):
            out[key] = float(value)
    return out


class Heartbeat:
    """Refreshes the lease of the trial its agent is running, from one background thread per agent
    (not one per trial: a thread per claim shows up when trials are short), and carries the
    trial's latest logged values out with the beat whenever they changed."""

    def __init__(
        self,
        storage: optuna.storages.BaseStorage,
        timeout_s: float,
        metric: Optional[str] = None,
        retry: Optional[StoreRetry] = None,
    ):
        self.storage = storage
        self.metric = metric
        self.interval = max(0.2, timeout_s / 4)
        self.retry = retry or StoreRetry(timeout_s)  # says when the store stops and starts answering
        self.failures = 0  # beats that could not be written (each is tried again)
        self._beating: Optional[int] = None  # the storage id of the trial kept alive
        self._lock = threading.Lock()
        # The runner's rows arrive on its own threads: they never wait for a beat being written.
        self._live_lock = threading.Lock()
        self._live: dict[str, float] = {}
        self._live_seen = self._live_written = 0  # how many changes arrived, how many went out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sweepkit-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @contextlib.contextmanager
    def lease(self, trial_id: int) -> Iterator[None]:
        """Keep `trial_id` alive while the block runs."""
        with self._lock, self._live_lock:
            self._beating, self._live, self._live_seen, self._live_written = trial_id, {}, 0, 0
        try:
            yield
        finally:
            with self._lock:  # after this no beat for it is written
                self._beating = None

    def row(self, row: Mapping[str, Any]) -> None:
        """A row the trial logged: its values go out with the next beat."""
        with self._live_lock:
            folded = fold_row(self._live, row, self.metric)
            if folded != self._live:
                self._live, self._live_seen = folded, self._live_seen + 1

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            with self._lock:
                delay = self._beat()

    def _beat(self) -> float:
        """Write one beat for the trial kept alive; the seconds until the next one."""
        if self._beating is None:
            return self.interval
        now = time.time()
        attrs = Beat(now).to_attrs()
        with self._live_lock:
            live, seen = self._live, self._live_seen
        if seen != self._live_written:
            attrs.update(LiveValues(live, now).to_attrs())
        try:
            with batched_writes(self.storage):  # one journal append for both
                for key, value in attrs.items():
                    self.storage.set_trial_user_attr(self._beating, key, value)
        except (optuna.exceptions.UpdateFinishedTrialError, KeyError):
            self._beating = None  # the store's answer: finished or reaped meanwhile, nothing to keep alive
            return self.interval
        except Exception as exc:  # the store did not answer: the trial is alive, try again soon
            self.failures += 1
            self.retry.failed("heartbeat", exc)
            return min(self.interval, FIRST_BACKOFF_S * 2 ** min(self.failures, 5))
        self.failures = 0
        self._live_written = seen
        self.retry.answered()
        return self.interval


def is_stale(trial: optuna.trial.FrozenTrial, now: float) -> bool:
    if trial.state != TrialState.RUNNING:
        return False
    return _stale(trial.user_attrs, _started(trial), now)


def _stale(attrs: Mapping[str, Any], started: float, now: float) -> bool:
    run = RunClaim.from_attrs(attrs)
    # Claiming holds the claim lock until the claim is written (milliseconds), and reapers take that
    # lock: a running trial without one, seconds old, is a claim cut short (its agent died, or the
    # disk filled mid-claim), whatever lease its agent meant to promise.
    lease = CLAIM_GRACE_S if run is None else run.lease_s
    return now - (_since(attrs, run) or started) > lease


def _started(trial: optuna.trial.FrozenTrial) -> float:
    start = trial.datetime_start
    return start.timestamp() if start is not None else time.time()


def _since(attrs: Mapping[str, Any], run: Optional[RunClaim]) -> Optional[float]:
    """The trial's last sign of life its attrs hold: its last beat, else its claim; None: neither."""
    beat = Beat.from_attrs(attrs)
    return beat.at if beat is not None else (run.at if run is not None else None)


def last_beat(trial: optuna.trial.FrozenTrial) -> float:
    """The trial's last heartbeat; its claim, or its start, if its agent died before the first one."""
    return _since(trial.user_attrs, RunClaim.from_attrs(trial.user_attrs)) or _started(trial)


def reap_stale(study: optuna.Study, *, requeue: bool, retry: Optional[StoreRetry] = None) -> list[int]:
    """Fail trials whose agent died; re-enqueue their params when `requeue`. Call under `claim_lock`.
    It reads each running trial's lease only (one query on a database), and a stale one whole."""
    retry = retry or StoreRetry(DEFAULT_LEASE_S)
    reaped = []
    now = time.time()
    storage = storage_of(study)
    for trial_id, attrs in running_leases(study, LEASE_KEYS):
        since = _since(attrs, RunClaim.from_attrs(attrs))
        if since is not None and not _stale(attrs, since, now):
            continue
        t = storage.get_trial(trial_id)  # stale, or judged by its start: read it whole
        if not is_stale(t, now):
            continue  # it beat (or ended) since
        a = TrialAttrs.from_attrs(t.user_attrs)
        age = now - last_beat(t)
        lease = f"{a.run.lease_s:g}" if a.run else "None"
        lost = Result(RunState.CRASHED, reason=f"agent lost: no heartbeat for {age:.0f}s (lease {lease}s)")
        if not _end_if_stale(study, t, Ended(lost, requeued=requeue).to_attrs()):
            continue  # its agent finished it, or beat again, just now: it keeps its own result
        if requeue:
            # a claim cut short (its agent died, or the disk filled) may not have recorded its run yet
            params = a.run.params if a.run else (a.point.params if a.point else {})
            queue_again(study, retry, t.number, params, fixed=t.params)
        reaped.append(t.number)
    return reaped


def _end_if_stale(study: optuna.Study, t: optuna.trial.FrozenTrial, ended: dict[str, Any]) -> bool:
    """Mark `t` failed with the `ended` attrs, atomically, if it is still running and stale: True if
    this reaper won. A database does it in one transaction holding the trial's row; the journal in
    one append, which replay applies whole or not at all (a trial already ended refuses both)."""
    storage = storage_of(study)
    started = _started(t)
    rdb = rdb_of(storage)
    if rdb is not None:
        return end_if_running(
            rdb, trial_id_of(t), TrialState.FAIL, ended, still=lambda a: _stale(a, started, time.time())
        )
    try:
        with batched_writes(storage):
            for key, value in ended.items():
                storage.set_trial_user_attr(trial_id_of(t), key, value)
            storage.set_trial_state_values(trial_id_of(t), TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True
