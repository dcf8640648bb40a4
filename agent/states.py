"""Run states, W&B's words plus two of ours, declared once; and how a set of runs is counted.

Every part names a state through `RunState`: the trial's `trial_result.json`, the store's
records, the agents' summaries, `status` and the report. A summary line counts each state as
itself ("3 finished, 1 pruned, 2 killed"), never folding the others into "failed".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum


class RunState(StrEnum):
    """How a run stands. A `str`, so it is written to JSON and compared with stored text as is."""

    RUNNING = "running"
    FINISHED = "finished"  # ran to its end (whether or not it logged the metric)
    PRUNED = "pruned"  # stopped early by the sweep's early_terminate rule
    FAILED = "failed"  # its own error: an exception, NaN loss, OOM, a full disk
    CRASHED = "crashed"  # its process or its agent died without saying why
    KILLED = "killed"  # stopped by a person (Ctrl-C, `sweep --cancel`)
    PREEMPTED = "preempted"  # stopped by the scheduler (SIGTERM, time limit): the point runs again

    @property
    def terminal(self) -> bool:
        return self is not RunState.RUNNING

    @property
    def is_failure(self) -> bool:
        """Counts toward an agent's failure guard: the trial itself went wrong. A run stopped by a
        person, the scheduler or the pruner says nothing about the trial."""
        return self in (RunState.FAILED, RunState.CRASHED)


TERMINAL_STATES = frozenset(s for s in RunState if s.terminal)


class SweepState(StrEnum):
    """How a sweep stands (a run's state is `RunState`).

    FINISHED is worked out from the runs (the grid exhausted, run_cap or the target reached), never
    stored. PAUSED, STOPPED and CANCELLED are states a person sets (`sweepkit sweep --pause|--stop|
    --cancel`), and RUNNING the one that `--resume`, a rerun or an extension sets; an agent's claim
    obeys them (`agent/backends/local/control.py`)."""

    RUNNING = "running"  # it may still hand out runs
    FINISHED = "finished"  # it hands out no more: exhausted, capped, its target reached, or stopped on W&B
    PAUSED = "paused"  # agents take no new run and wait; running runs go on
    STOPPED = "stopped"  # agents take no new run and leave once their running run ends
    CANCELLED = "cancelled"  # running runs are killed now; agents leave

    @property
    def set_by_a_person(self) -> bool:
        """A state only a person's command sets: a store that records one needs format 4."""
        return self in (SweepState.PAUSED, SweepState.STOPPED, SweepState.CANCELLED)

    @property
    def ended(self) -> bool:
        """It hands out no more runs until a person opens it again."""
        return self in (SweepState.FINISHED, SweepState.STOPPED, SweepState.CANCELLED)


PAUSED_NOTE = f"the sweep is {SweepState.PAUSED.value}: waiting"  # what a paused agent says, once


def sweep_ended(state: object) -> bool:
    """A sweep in this state (ours, or a backend's word for one) hands out no more runs: finished, or
    stopped or cancelled by a person."""
    try:
        return SweepState(str(state).lower()).ended
    except ValueError:
        return False


def person_set_state(state: object) -> str:
    """The sweep's state when a person set it (paused, stopped, cancelled), for a report to say; else ""."""
    try:
        s = SweepState(str(state).lower())
    except ValueError:
        return ""
    return s.value if s.set_by_a_person else ""


def parse_state(text: str) -> RunState:
    """A stored state; ValueError naming the known ones for anything else."""
    try:
        return RunState(text)
    except ValueError:
        raise ValueError(f"unknown run state {text!r}; known: {', '.join(RunState)}") from None


def count_states(states: Iterable[str]) -> Counter[RunState]:
    """How many runs are in each state (unknown text counts as crashed: it is not a result)."""
    out: Counter[RunState] = Counter()
    for s in states:
        try:
            out[RunState(s)] += 1
        except ValueError:
            out[RunState.CRASHED] += 1
    return out


def describe_counts(counts: Counter[RunState] | dict[RunState, int], *, always: Iterable[RunState] = ()) -> str:
    """'3 finished, 1 pruned, 2 killed': every state with runs, in the enum's order; states in
    `always` are shown even at 0 (a summary that must say "0 finished")."""
    shown = set(always)
    parts = [f"{counts.get(s, 0)} {s.value}" for s in RunState if counts.get(s, 0) or s in shown]
    return ", ".join(parts) if parts else "no runs"
