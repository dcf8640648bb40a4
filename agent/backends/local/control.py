"""A person's say over a local sweep while it runs: `sweepkit sweep --pause|--resume|--stop|--cancel`.

The state is one record on the study (`schema.SweepControl`), written under the claim lock, so no
agent claims or reaps while it changes. What each state makes an agent do, W&B's meaning:

- PAUSED: a claim answers "wait:" (the agent says so once and asks again every PAUSE_POLL_S), and
  running trials go on; RUNNING (`--resume`) lets the waiting agents take trials again.
- STOPPED: a claim answers "leave": running trials finish, then their agents exit 0.
- CANCELLED: a claim answers "leave", and each agent's `ControlWatch` (a thread that reads the
  record every WATCH_EVERY_S while a trial runs) stops its running trial through the agent's
  `StopRequest`, as Ctrl-C does (SIGTERM, SIGKILL after the kill delay): the run is `killed`, its
  reason names the cancel, a grid point is queued again (a later `--resume` runs it), and the
  agent exits 0.

A claim re-reads the record at least every RELOAD_EVERY_S (2 s), so agents see a change within
about 3 s, and a running trial is stopped within about WATCH_EVERY_S of a cancel (DB_WATCH_EVERY_S on
a database server).

A sweep that records PAUSED, STOPPED or CANCELLED gets store format 4: an older sweepkit would read
the unknown state as RUNNING and go on claiming, so it refuses the sweep instead.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Optional

import optuna

from agent.backends.base import BackendError, SweepState
from agent.backends.local.leases import reap_stale
from agent.backends.local.optuna_internals import rdb_of, storage_of
from agent.backends.local.queue import live_counts
from agent.backends.local.schema import CONTROL_FORMAT, FORMAT_KEY, MADE_FORMAT, SweepControl
from agent.backends.local.store import batched_writes, claim_lock
from agent.backends.stopping import StopRequest, cancelled
from agent.states import PAUSED_NOTE

if TYPE_CHECKING:
    from agent.backends.local.engine import Engine

WATCH_EVERY_S = 1.0  # how often an agent running a trial reads the sweep's state, on the journal
# ... and on a database server: each read takes a connection, and an agent lets its connection go
# once idle for LINGER_S (1 s); reading every second would hold one per running agent for good, and
# a cluster's agents would need a connection each again. A cancel reaches a trial within ~5 s there.
DB_WATCH_EVERY_S = 5.0
PAUSE_POLL_S = 1.0  # how often a paused agent asks again (a claim of a paused sweep reads one record)
WAIT = "wait:"  # a claim's answer that means: wait, then ask again


def claim_answer(control: SweepControl) -> Optional[str]:
    """What a claim answers for the state a person set: None (go on), "wait: ..." or a reason to leave."""
    if control.state == SweepState.RUNNING:
        return None
    if control.state == SweepState.PAUSED:
        return f"{WAIT} {PAUSED_NOTE}"
    return f"the sweep is {control.state.value}" + (f": {control.why}" if control.why else "")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _refusal(engine: Engine, state: SweepState, now: SweepState, running: int) -> Optional[str]:
    """Why `state` makes no sense for the sweep as it stands, in one line; None when it does."""
    sid = engine.sweep_id
    if state == now:
        return f"sweep {sid} is {now.value} already"
    ended = engine.stop_reason()
    if state == SweepState.RUNNING:
        # a paused sweep is resumed whatever is left: its waiting agents then see it is done, and leave
        if ended and not ended.startswith(WAIT) and now != SweepState.PAUSED:
            return (
                f"cannot resume sweep {sid}: {ended}, so it has nothing left to run; give it more with "
                f"`sweepkit sweep FILE --extend {sid}` or `sweepkit rerun {sid}`"
            )
        return None
    if now == SweepState.CANCELLED or (now == SweepState.STOPPED and state == SweepState.PAUSED):
        return f"cannot {_VERB[state]} sweep {sid}: it is {now.value}; `sweepkit sweep --resume {sid}` opens it again"
    if ended and not ended.startswith(WAIT) and not running:
        return f"cannot {_VERB[state]} sweep {sid}: it is finished ({ended})"
    return None


_VERB = {
    SweepState.RUNNING: "resume",
    SweepState.PAUSED: "pause",
    SweepState.STOPPED: "stop",
    SweepState.CANCELLED: "cancel",
}


def set_state(engine: Engine, state: SweepState, why: Optional[str] = None) -> str:
    """Record the state a person set, or BackendError (one line) when it makes no sense now; what
    the sweep's agents will do, in words."""
    if state not in _VERB:
        raise BackendError(f"a sweep's state can be set to {', '.join(s.value for s in _VERB)}, not {state.value}")
    sid = engine.sweep_id
    with claim_lock(engine.storage, sid):
        engine.reload()
        reap_stale(engine.study, requeue=engine.method.requeues)  # a lost run is not running
        now = engine.meta.control.state
        _, running = live_counts(engine.study)
        refused = _refusal(engine, state, now, running)
        if refused:
            raise BackendError(refused)
        left = engine.stop_reason()
        fmt = max(engine.meta.format, CONTROL_FORMAT if state.set_by_a_person else MADE_FORMAT)
        attrs = {FORMAT_KEY: fmt, **SweepControl(state, _now(), why).to_attrs()}
        with batched_writes(engine.storage):  # one journal append
            for key, value in attrs.items():
                engine.study.set_user_attr(key, value)
        engine.reload()
    if state == SweepState.RUNNING and left and not left.startswith(WAIT):
        return f"{left}, so waiting agents leave (exit 0)"
    return _what_agents_do(sid, state, now, running)


def _what_agents_do(sid: str, state: SweepState, was: SweepState, running: int) -> str:
    runs = f"{running} running run(s)"
    if state == SweepState.PAUSED:
        return f"agents take no new run and wait; {runs} go on; `sweepkit sweep --resume {sid}` lets them go on"
    if state == SweepState.STOPPED:
        return f"{runs} finish; agents take no new run and exit (0) once theirs ends"
    if state == SweepState.CANCELLED:
        return (
            f"{runs} are stopped within seconds (SIGTERM, SIGKILL after the kill delay) and recorded as killed; "
            "a grid's killed points are queued again (`--resume` runs them); agents exit (0)"
        )
    if was == SweepState.PAUSED:
        return "waiting agents take runs again within seconds"
    return f"agents that left when it was {was.value} are gone: start them again with `sweepkit agent {sid}`"


class ControlWatch:
    """While its agent runs a trial, reads the sweep's state every WATCH_EVERY_S; a cancel stops the
    trial through the agent's `StopRequest`. A read the store does not answer is tried next time."""

    def __init__(self, study: optuna.Study, stop: StopRequest, every_s: Optional[float] = None):
        if every_s is None:
            every_s = WATCH_EVERY_S if rdb_of(storage_of(study)) is None else DB_WATCH_EVERY_S
        self.study, self.stop, self.every_s = study, stop, every_s
        self._active = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sweepkit-control-watch")

    def __enter__(self) -> ControlWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._active.set()  # wakes the thread if it waits for a trial
        self._thread.join(timeout=10)

    @contextlib.contextmanager
    def trial(self) -> Iterator[None]:
        """Watch while the block (one trial) runs."""
        self._active.set()
        try:
            yield
        finally:
            self._active.clear()

    def _run(self) -> None:
        while not self._done.is_set():
            self._active.wait()
            if self._done.wait(self.every_s) or not self._active.is_set():
                continue
            try:
                control = SweepControl.from_attrs(self.study.user_attrs)
            except Exception:  # the store did not answer: the next look tries again
                continue
            if control.state == SweepState.CANCELLED:
                self.stop.request(cancelled(control.why))
