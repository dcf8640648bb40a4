"""Every summary line of a report names each state as itself, preempted included: the counts come from
`agent.states`, never from a hand-made list."""

from __future__ import annotations

from analysis.render import live
from analysis.report.build import build_report
from tests.synthetic import synthetic_sweep

ENDED = {"killed": "interrupted", "preempted": "SIGTERM from the scheduler", "pruned": "hyperband", "crashed": None}


def _sweep():
    runs, hist, cfg = synthetic_sweep(seeds=(1, 2))
    for i, (state, reason) in enumerate(ENDED.items()):
        runs.loc[i, ["state", "reason"]] = [state, reason]
    return runs, hist, cfg


def test_the_report_counts_and_lists_every_state_that_did_not_finish():
    runs, hist, cfg = _sweep()
    d = build_report(runs, hist, cfg, sweep_id="s")
    assert {k: d.counts[k] for k in ENDED} == dict.fromkeys(ENDED, 1) and d.counts["finished"] == len(runs) - 4
    assert sorted(d.failures["state"]) == sorted(ENDED)  # a preempted run is listed with the others
    sentence = d.takeaways["failures"]
    assert sentence.startswith(f"4 of {len(runs)} runs did not finish (1 pruned, 1 crashed, 1 killed, 1 preempted);")
    assert "failed" not in sentence.split(";")[0]  # no state is folded into "failed"


def test_the_live_page_counts_each_state_as_itself_in_one_order():
    runs, hist, cfg = _sweep()
    d = live.payload("s", cfg, runs, hist)
    assert list(d["counts"]) == ["finished", "pruned", "crashed", "killed", "preempted"]
    assert d["counts"]["finished"] == len(runs) - 4 and d["total"] == len(runs)
