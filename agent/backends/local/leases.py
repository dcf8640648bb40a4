"""How dead agents are noticed: every running trial carries a lease.

Optuna's JournalStorage is safe for concurrent processes but has no heartbeat, so each running
trial has user attrs `sk_heartbeat` (unix time, refreshed by its agent) and `sk_run.lease_s` (the
timeout its agent promised). Any agent, before it claims work and under the sweep's claim lock,
marks trials whose heartbeat is older than their lease as crashed and re-enqueues their params
(grid points must all run).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Optional

import optuna
from optuna.trial import TrialState

from agent.backends.local.queue import running_trials

HEARTBEAT_ENV = "SWEEPKIT_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0
CLAIM_GRACE_S = 5.0


def heartbeat_timeout(value: Optional[float] = None) -> float:
    if value is not None:
        return float(value)
    return float(os.environ.get(HEARTBEAT_ENV) or DEFAULT_HEARTBEAT_TIMEOUT_S)


class Heartbeat:
    """Refreshes the lease of the trial its agent is running, from one background thread per agent
    (not one per trial: a thread per claim shows up when trials are short)."""

    def __init__(self, storage: optuna.storages.BaseStorage, timeout_s: float):
        self.storage = storage
        self.interval = max(0.2, timeout_s / 4)
        self._trial_id: Optional[int] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sweepkit-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @contextlib.contextmanager
    def lease(self, trial_id: int) -> Iterator[None]:
        """Keep `trial_id` alive while the block runs."""
        with self._lock:
            self._trial_id = trial_id
        try:
            yield
        finally:
            with self._lock:  # after this no beat for it is written
                self._trial_id = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._trial_id is None:
                    continue
                try:
                    self.storage.set_trial_user_attr(self._trial_id, "sk_heartbeat", time.time())
                except Exception:
                    self._trial_id = None  # finished or reaped meanwhile: nothing left to keep alive


def is_stale(trial: optuna.trial.FrozenTrial, now: float) -> bool:
    attrs = trial.user_attrs
    if trial.state != TrialState.RUNNING:
        return False
    if "sk_run" not in attrs:
        # Claiming holds the claim lock until sk_run is written (milliseconds), and reapers take that
        # lock: a running trial without it, seconds old, is a claim cut short (its agent died, or the
        # disk filled mid-claim), whatever lease its agent meant to promise.
        return now - last_beat(trial) > CLAIM_GRACE_S
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
    for t in running_trials(study):
        if not is_stale(t, now):
            continue
        storage = study._storage
        age = now - last_beat(t)
        run = t.user_attrs.get("sk_run") or {}
        storage.set_trial_user_attr(
            t._trial_id,
            "sk_result",
            {"state": "crashed", "reason": f"agent lost: no heartbeat for {age:.0f}s (lease {run.get('lease_s')}s)"},
        )
        if requeue:
            storage.set_trial_user_attr(t._trial_id, "sk_requeued", True)
        try:
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # its agent finished it just now
        if requeue:
            # a claim cut short (its agent died, or the disk filled) may not have recorded sk_run yet
            params = run.get("params") or t.user_attrs.get("sk_params", {})
            study.enqueue_trial({}, user_attrs={"sk_params": params, "sk_requeue_of": t.number})
        reaped.append(t.number)
    return reaped
