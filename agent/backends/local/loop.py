"""The local agent loop: claim a trial, hand it to the runner, record how it ended, repeat.

The loop knows no runner and no view: it gets a `TrialRunner` (child process or warm trial) and a
`ProgressSink`, both passed in by whoever started the agent.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Optional

import numpy as np

from agent.backends.base import (
    AgentSettings,
    ProgressSink,
    TrialControl,
    TrialOutcome,
    TrialRunner,
    TrialSpec,
)
from agent.backends.failures import FailureGuard
from agent.backends.local.control import PAUSE_POLL_S, WAIT, ControlWatch
from agent.backends.local.engine import Claim, Engine
from agent.backends.local.hyperband import MetricFeed
from agent.backends.local.leases import Heartbeat, heartbeat_timeout
from agent.backends.local.optuna_internals import trial_id_of
from agent.backends.outcome import is_disk_full
from agent.backends.stopping import INTERRUPTED, StopRequest, exit_code_for, is_agent_stop
from agent.paths import DISK_FULL, DISK_FULL_EXIT, disk_full, disk_full_reason
from agent.states import RunState


def _disk_full_stop(reason: Optional[str]) -> str:
    return (
        f"stopping: {reason or DISK_FULL}. Runs already recorded are kept; "
        "a grid point that hit it runs again when an agent restarts"
    )


@contextlib.contextmanager
def _stop_on_full_disk(progress: ProgressSink) -> Iterator[list[bool]]:
    """The store's own writes (claim, finish) finding the disk full end the agent with one line; the
    journal keeps every complete record, and a trial left running is requeued when its lease lapses."""
    full: list[bool] = []
    try:
        yield full
    except OSError as exc:
        if not disk_full(exc):
            raise
        full.append(True)
        progress.note(_disk_full_stop(f"{DISK_FULL}: the sweep store could not write ({exc.strerror or exc})"))


def _one_at_a_time(say: Callable[[str], None]) -> Callable[[str], None]:
    """`say` for several threads (the loop and its heartbeat): one line at a time."""
    lock = threading.Lock()

    def said(text: str) -> None:
        with lock:
            say(text)

    return said


class AgentLoop:
    def __init__(
        self,
        engine: Engine,
        runner: TrialRunner,
        progress: ProgressSink,
        settings: AgentSettings,
        env: dict[str, str],
        stop: Optional[StopRequest] = None,
    ):
        self.engine, self.runner, self.progress, self.settings, self.env = engine, runner, progress, settings, env
        self.lease_s = heartbeat_timeout(settings.heartbeat_timeout)
        # Set by signal handlers: Ctrl-C here, the scheduler's signals by whoever started the agent.
        self.stop = stop or StopRequest()

    def _on_sigint(self, *_: Any) -> None:
        self.stop.request(INTERRUPTED)  # the first stops the trial gracefully, a second kills it now

    def run(self) -> int:
        settings, progress = self.settings, self.progress
        guard = FailureGuard(settings.max_consecutive_failures)
        old = None
        if not self.runner.in_process and threading.current_thread() is threading.main_thread():
            old = signal.signal(signal.SIGINT, self._on_sigint)
        ran, code, overheads = 0, 0, []
        said = None  # the last wait said: a wait is said once, not at every look
        retry = self.engine.retry  # the store's blips: retried up to the lease, said in the agent's view
        retry.budget_s, retry.say = self.lease_s, _one_at_a_time(progress.note)
        try:
            with (
                progress,
                _stop_on_full_disk(progress) as full,
                Heartbeat(self.engine.storage, self.lease_s, self.engine.metric.get("name"), retry) as heartbeat,
                ControlWatch(self.engine.study, self.stop) as watch,
            ):
                while settings.count is None or ran < settings.count:
                    if self.stop.requested:
                        code = exit_code_for(self.stop.reason)
                        break
                    t_claim = time.monotonic()
                    got = self.engine.claim(self.lease_s, link=not settings.no_sweep_id)
                    if isinstance(got, str):
                        if got.startswith(WAIT):
                            if got != said:
                                progress.note(got[len(WAIT) :].strip())
                            said = got
                            self.stop.wait(PAUSE_POLL_S if self.engine.paused else min(5.0, self.lease_s / 4))
                            continue
                        progress.note(got)
                        break
                    said = None
                    spec = got.spec(self.engine.sweep_id, self.env, link=not settings.no_sweep_id)
                    progress.started(spec)
                    with heartbeat.lease(trial_id_of(got.trial)), watch.trial():
                        ended = self._run_one(got, spec, heartbeat)
                        state, value, reason = self.engine.finish(got, spec, ended)
                    ran += 1
                    overheads.append(time.monotonic() - t_claim - ended.runtime_s)
                    progress.finished(spec, state, value, reason)
                    if state in (RunState.KILLED, RunState.PREEMPTED):
                        code = exit_code_for(reason)
                        break
                    if is_disk_full(state, reason):
                        progress.note(_disk_full_stop(reason))
                        code = DISK_FULL_EXIT
                        break
                    stop = guard.record(state, reason)
                    if stop:
                        progress.note(stop)
                        code = 1
                        break
                if overheads:
                    progress.note(
                        f"{ran} trial(s); agent time outside the trials: median "
                        f"{1000 * float(np.median(overheads)):.0f} ms per trial, first "
                        f"{1000 * overheads[0]:.0f} ms (imports)"
                    )
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        return DISK_FULL_EXIT if full else code

    def _run_one(self, claim: Claim, spec: TrialSpec, heartbeat: Heartbeat) -> TrialOutcome:
        prune: dict[str, str] = {}
        lock = threading.Lock()

        def on_value(step: int, value: float) -> None:
            with lock:
                if not prune:
                    why = self.engine.report(claim.trial, step, value)
                    if why:
                        prune["why"] = why

        feed = MetricFeed(self.engine.metric["name"], on_value) if self.engine.prunes else None

        def on_row(source: str, row: dict[str, Any]) -> None:
            heartbeat.row(row)  # the live values `status` shows go out with the next beat
            if feed is not None:
                feed.row(source, row)

        def stop_reason() -> Optional[str]:
            return self.stop.reason or prune.get("why")

        # A runner follows the run's rows only when asked: whenever the sweep names a metric, for the
        # live value (and the stopper, when there is one).
        control = TrialControl(
            on_row=on_row if self.engine.metric.get("name") else None,
            stop_reason=stop_reason,
            kill_now=self.stop.kill_now,
        )
        t0 = time.monotonic()
        if self.stop.requested:  # it came while this trial was being claimed: its point goes straight back
            return TrialOutcome(exit_code=None, runtime_s=0.0, stopped=self.stop.reason, log_complete=False)
        try:
            ended = self.runner(spec, self.engine.config, control)
        except KeyboardInterrupt:
            if not self.stop.requested:
                self.stop.request(INTERRUPTED)
            return TrialOutcome(exit_code=None, runtime_s=time.monotonic() - t0, stopped=self.stop.reason)
        except Exception as exc:  # a runner's own bug is that trial's failure, not the agent's
            if disk_full(exc):  # e.g. the run's param file could not be written
                return TrialOutcome(DISK_FULL_EXIT, time.monotonic() - t0, reason=disk_full_reason(spec.run_dir))
            return TrialOutcome(exit_code=1, runtime_s=time.monotonic() - t0, reason=f"{type(exc).__name__}: {exc}")
        if ended.stopped == INTERRUPTED and self.stop.reason:
            ended.stopped = self.stop.reason  # the runner knows it was stopped; the request says why
        if is_agent_stop(ended.stopped) and not self.stop.requested:
            self.stop.request(str(ended.stopped))
        elif prune.get("why") and not ended.stopped:
            ended.stopped = prune["why"]
        return ended
