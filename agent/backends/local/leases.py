"""How dead agents are noticed: every running trial carries a lease.

Optuna's JournalStorage is safe for concurrent processes but has no heartbeat, so each running
trial has user attrs `sk_heartbeat` (unix time, refreshed by its agent) and `sk_run.lease_s` (the
timeout its agent promised). Any agent, before it claims work and under the sweep's claim lock,
marks trials whose heartbeat is older than their lease as crashed and re-enqueues their params
(grid points must all run).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Optional

import optuna
from optuna.trial import TrialState

HEARTBEAT_ENV = "SWEEPKIT_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0


def heartbeat_timeout(value: Optional[float] = None) -> float:
    if value is not None:
        return float(value)
    return float(os.environ.get(HEARTBEAT_ENV) or DEFAULT_HEARTBEAT_TIMEOUT_S)


class Heartbeat:
    """Refreshes a running trial's lease from a background thread until stopped."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int, timeout_s: float):
        self.storage, self.trial_id = storage, trial_id
        self.interval = max(0.2, timeout_s / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Heartbeat:
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
            study.enqueue_trial({}, user_attrs={"sk_params": run.get("params", {}), "sk_requeue_of": t.number})
        reaped.append(t.number)
    return reaped
