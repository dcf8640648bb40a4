"""Why an agent stops before its sweep is done, declared once, and the request that carries it.

Two kinds of stop, each with its own run state:

- a person (Ctrl-C): the running trial is `killed` ("interrupted"), the agent exits 130;
- the system (SLURM's SIGTERM on `scancel`, preemption or the time limit, its warning signal before
  the time limit; Kubernetes deleting a pod): the trial is `preempted` with the reason
  ("preempted: SIGTERM from the scheduler (job 123_4)"), its point goes back to the sweep at once
  (the same params again, whatever the search method), and the agent exits 143. A preempted run
  counts toward no failure guard and no run_cap, and teaches the sampler nothing;
- a person's `sweepkit sweep --cancel` (seen by every agent of the sweep within seconds): the running
  trial is stopped the way Ctrl-C stops it and is `killed` ("cancelled: ..."), a grid point goes
  back to the sweep (a later `--resume` runs it), and the agent exits 0: it did what the sweep said.

A `StopRequest` is set from signal handlers, so it only ever sets plain attributes (never a lock
that the interrupted code may hold) and is waited on by polling.
"""

from __future__ import annotations

import time
from typing import Optional

from agent.states import RunState, SweepState

INTERRUPTED = "interrupted"
PREEMPTED = RunState.PREEMPTED.value  # a preemption's reason starts with the state it gives the run
CANCELLED = SweepState.CANCELLED.value  # a cancel's reason starts with the sweep state that caused it
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports Ctrl-C
PREEMPTED_EXIT = 143  # 128 + SIGTERM: "terminated", as the trial itself exits after SIGTERM
# SLURM sends SIGKILL KillWait (30 s by default) after SIGTERM: a preempted trial gets this long to
# end before its agent kills it, so the agent still has time to record the run and requeue its point.
PREEMPT_GRACE_S = 15.0
_POLL_S = 0.05


def preempted(why: str) -> str:
    """The stop reason of a preemption: 'preempted: <why>'."""
    return f"{PREEMPTED}: {why}"


def is_preemption(reason: Optional[str]) -> bool:
    return bool(reason) and (reason == PREEMPTED or str(reason).startswith(f"{PREEMPTED}:"))


def cancelled(why: Optional[str]) -> str:
    """The stop reason of a cancelled sweep's trial: 'cancelled: <why>'."""
    return f"{CANCELLED}: {why or 'the sweep was cancelled'}"


def is_cancel(reason: Optional[str]) -> bool:
    return bool(reason) and (reason == CANCELLED or str(reason).startswith(f"{CANCELLED}:"))


def is_agent_stop(reason: Optional[str]) -> bool:
    """A stop of the whole agent (a person's or the system's), as opposed to a pruned trial."""
    return reason == INTERRUPTED or is_preemption(reason) or is_cancel(reason)


def exit_code_for(reason: Optional[str]) -> int:
    if is_cancel(reason):
        return 0  # the sweep said so: the agent is done, and a launcher must not start it again
    return PREEMPTED_EXIT if is_preemption(reason) else INTERRUPTED_EXIT


class StopRequest:
    """A stop asked of a whole agent: the first reason wins; each request counts (a second Ctrl-C
    kills the trial at once). Safe to call from a signal handler."""

    def __init__(self) -> None:
        self.reason: Optional[str] = None
        self.times = 0
        self.at: Optional[float] = None  # time.monotonic() of the first request

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason, self.at = reason, time.monotonic()
        self.times += 1

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking as soon as a stop is requested; True if one was."""
        deadline = time.monotonic() + timeout
        while self.reason is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_POLL_S, left))
        return True

    def kill_now(self) -> bool:
        """Whether a trial that was asked to stop must be killed now: a second request, or a
        preemption whose grace is over (the scheduler's SIGKILL is coming)."""
        if self.times > 1:
            return True
        return is_preemption(self.reason) and self.at is not None and time.monotonic() - self.at > PREEMPT_GRACE_S
