"""How dead agents are noticed: every running trial carries a lease.

Optuna's JournalStorage is safe for concurrent processes but has no heartbeat, so each running
trial records a heartbeat (`schema.Beat`, refreshed by its agent) and in its claim the lease its
agent promised (`schema.RunClaim.lease_s`). Any agent, before it claims work and under the sweep's
claim lock, marks trials whose heartbeat is older than their lease as crashed and, when the search
method requeues (grid: every point must run), queues their params again.

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

from agent.backends.local.optuna_internals import storage_of, trial_id_of
from agent.backends.local.queue import running_trials
from agent.backends.local.schema import DEFAULT_LEASE_S, Beat, Ended, LiveValues, QueuedPoint, Result, TrialAttrs
from agent.backends.local.store import batched_writes
from agent.states import RunState
from agent.sweep_config.metric import finite

HEARTBEAT_ENV = "SWEEPKIT_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT_S = DEFAULT_LEASE_S
CLAIM_GRACE_S = 5.0
LIVE_KEYS = 64  # the most logged keys a live summary keeps (the metric first): each beat rewrites them


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

    def __init__(self, storage: optuna.storages.BaseStorage, timeout_s: float, metric: Optional[str] = None):
        self.storage = storage
        self.metric = metric
        self.interval = max(0.2, timeout_s / 4)
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
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._beating is None:
                    continue
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
                    self._live_written = seen
                except Exception:
                    self._beating = None  # finished or reaped meanwhile: nothing left to keep alive


def is_stale(trial: optuna.trial.FrozenTrial, now: float) -> bool:
    if trial.state != TrialState.RUNNING:
        return False
    run = TrialAttrs.from_attrs(trial.user_attrs).run
    if run is None:
        # Claiming holds the claim lock until the claim is written (milliseconds), and reapers take
        # that lock: a running trial without one, seconds old, is a claim cut short (its agent died,
        # or the disk filled mid-claim), whatever lease its agent meant to promise.
        return now - last_beat(trial) > CLAIM_GRACE_S
    return now - last_beat(trial) > run.lease_s


def last_beat(trial: optuna.trial.FrozenTrial) -> float:
    """The trial's last heartbeat; its start if its agent died before the first one."""
    beat = Beat.from_attrs(trial.user_attrs)
    if beat is not None:
        return beat.at
    start = trial.datetime_start
    return start.timestamp() if start is not None else time.time()


def reap_stale(study: optuna.Study, *, requeue: bool) -> list[int]:
    """Fail trials whose agent died; re-enqueue their params when `requeue`. Call under `claim_lock`."""
    reaped = []
    now = time.time()
    storage = storage_of(study)
    for t in running_trials(study):
        if not is_stale(t, now):
            continue
        attrs = TrialAttrs.from_attrs(t.user_attrs)
        age = now - last_beat(t)
        lease = f"{attrs.run.lease_s:g}" if attrs.run else "None"
        lost = Result(RunState.CRASHED, reason=f"agent lost: no heartbeat for {age:.0f}s (lease {lease}s)")
        for key, value in Ended(lost, requeued=requeue).to_attrs().items():
            storage.set_trial_user_attr(trial_id_of(t), key, value)
        try:
            storage.set_trial_state_values(trial_id_of(t), TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # its agent finished it just now
        if requeue:
            # a claim cut short (its agent died, or the disk filled) may not have recorded its run yet
            params = attrs.run.params if attrs.run else (attrs.point.params if attrs.point else {})
            study.enqueue_trial({}, user_attrs=QueuedPoint(params, requeue_of=t.number).to_attrs())
        reaped.append(t.number)
    return reaped
