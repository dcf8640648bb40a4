"""The agent's failure guard, declared once: stop after N trials in a row went wrong.

W&B's agent stops after `WANDB_AGENT_MAX_INITIAL_FAILURES` (default 5) failures; sweepkit counts
them in a row (`--max-consecutive-failures`), so a sweep with a few bad points still finishes.
Only a trial's own failure counts (`RunState.is_failure`: failed, crashed); a run stopped by a
person, the scheduler or the pruner says nothing about the trial, and leaves the count as it was.
"""

from __future__ import annotations

import os
from typing import Optional

from agent.states import RunState, parse_state

MAX_FAILURES_ENV = "WANDB_AGENT_MAX_INITIAL_FAILURES"
DEFAULT_MAX_FAILURES = 5


def max_failures_default() -> int:
    return int(os.environ.get(MAX_FAILURES_ENV) or DEFAULT_MAX_FAILURES)


class FailureGuard:
    def __init__(self, limit: Optional[int] = None):
        self.limit = limit or max_failures_default()
        self.in_a_row = 0

    def record(self, state: str, reason: Optional[str] = None) -> Optional[str]:
        """Count one ended trial; the one-line reason to stop the agent, or None to go on."""
        s = parse_state(state)
        if s.is_failure:
            self.in_a_row += 1
        elif s in (RunState.FINISHED, RunState.PRUNED):  # the trial itself worked
            self.in_a_row = 0
        if self.in_a_row < self.limit:
            return None
        last = f" (last: {reason})" if reason else ""
        return (
            f"stopping: {self.in_a_row} runs failed in a row{last}; "
            "fix the trial (its agent.log says why) or raise --max-consecutive-failures"
        )
