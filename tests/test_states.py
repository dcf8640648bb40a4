"""The one state enum, its counts and the failure guard that reads it."""

from __future__ import annotations

import pytest

from agent.backends.failures import FailureGuard
from agent.errors import one_line, with_hint
from agent.states import RunState, count_states, describe_counts, parse_state


def test_states_count_as_themselves():
    counts = count_states(["finished", "pruned", "pruned", "killed", "preempted"])
    assert describe_counts(counts) == "1 finished, 2 pruned, 1 killed, 1 preempted"
    assert describe_counts(count_states(["killed", "killed"]), always=[RunState.FINISHED]) == "0 finished, 2 killed"
    assert describe_counts(count_states([])) == "no runs"


def test_a_state_is_its_text():
    assert RunState.FINISHED == "finished" and f"{RunState.PRUNED}" == "pruned"
    with pytest.raises(ValueError, match="unknown run state 'done'; known: running, finished"):
        parse_state("done")


def test_guard_counts_only_the_trials_own_failures():
    guard = FailureGuard(3)
    for state in ("failed", "killed", "preempted", "crashed"):  # killed/preempted neither count nor reset
        assert guard.record(state) is None
    assert "3 runs failed in a row (last: boom)" in (guard.record("failed", "boom") or "")
    guard = FailureGuard(2)
    for state in ("failed", "pruned", "failed", "finished", "failed"):
        assert guard.record(state) is None


@pytest.mark.parametrize("exc", [RuntimeError(), RuntimeError(""), RuntimeError("\n\n"), KeyError()])
def test_one_line_of_an_empty_message_is_the_type(exc):
    assert one_line(exc) == type(exc).__name__


def test_one_line_takes_the_first_real_line_and_cuts_it():
    assert one_line(ValueError("\n  first  \nsecond")) == "first"
    assert one_line(ValueError("x" * 300), limit=10) == "x" * 9 + "…"
    assert with_hint("no network (check it)", "check it") == "no network (check it)"
    assert with_hint("no network", "check it") == "no network (check it)"
