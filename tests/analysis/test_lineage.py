"""The report counts each point once (`agent.lineage`): a re-run replaces the run it re-ran, and a warm
start's prior runs are marked, count in the comparisons, and stay out of expected validation performance."""

from __future__ import annotations

import pandas as pd

from agent.lineage import superseded
from analysis.render.outputs import write_outputs
from analysis.report.build import build_report
from analysis.tables.tidy import META, empty_history, runs_frame
from tests.analysis.test_build_stages import CONFIG, grid, stages


def _with_rerun(runs: pd.DataFrame, rid: str, *, first: str, value: float) -> pd.DataFrame:
    """`runs` where run `rid` ended `first`, and a re-run of its point finished with `value`."""
    runs = runs.assign(rerun_of=None, rerun_by=None)
    i = runs.index[runs["run_id"] == rid][0]
    again = runs.loc[i].copy()
    again["run_id"] = again["name"] = f"{rid}-again"
    again["acc"], again["rerun_of"] = value, rid
    runs.loc[i, "state"], runs.loc[i, "rerun_by"] = first, again["run_id"]
    return pd.concat([runs, again.to_frame().T], ignore_index=True).infer_objects()


def test_each_point_counts_once_with_its_latest_run():
    assert superseded({"b": "a", "c": "b"}, ["a", "c"]) == {"a"}
    assert superseded({"b": "a"}, ["a"]) == set()  # a re-run that did not finish replaces nothing
    assert superseded({"a": "b", "b": "a"}, ["a", "b"]) == {"a", "b"}  # a loop does not hang


def test_a_rerun_of_a_failed_run_fills_its_cell_once():
    base_t, base_g = stages(grid())
    runs = _with_rerun(grid(), "r0", first="failed", value=0.8)
    t, g = stages(runs)
    assert len(t.usable) == len(base_t.usable) == 12 and t.counts["re-runs"] == 1
    assert "1 point(s) were run again (1 re-run(s) in all" in " ".join(t.messages)
    assert list(g.cells["count"]) == list(base_g.cells["count"])  # every cell keeps its 3 seeds, none has 4


def test_a_rerun_of_a_finished_run_replaces_it_in_the_cells_the_comparison_and_evp():
    base = build_report(grid(), empty_history(), CONFIG, sweep_id="s")
    runs = _with_rerun(grid(), "r0", first="finished", value=0.95)
    d = build_report(runs, empty_history(), CONFIG, sweep_id="s")
    assert d.counts["usable"] == 12 and d.counts["total"] == 13 and d.counts["re-runs"] == 1
    assert "r0" not in set(d.usable["run_id"]) and "r0-again" in set(d.usable["run_id"])
    assert [c.n_pairs for c in d.comparisons] == [c.n_pairs for c in base.comparisons] == [6]
    assert {m: int(c["n"].max()) for m, c in d.evp.items()} == {m: int(c["n"].max()) for m, c in base.evp.items()}
    cell = d.cells[(d.cells["model"] == "a") & (d.cells["lr"] == 0.1)]
    assert float(cell["mean"].iloc[0]) == (0.95 + 0.81 + 0.79) / 3  # the re-run's value, not the first one's
    assert "re-run as" in d.failures.columns or d.failures.empty


def test_prior_runs_are_marked_counted_in_comparisons_and_left_out_of_evp():
    own = grid(seeds=(1, 2))
    prior = grid(seeds=(2, 3)).assign(run_id=lambda d: "p" + d["run_id"], prior="old00001")
    prior["name"] = prior["run_id"]
    runs = pd.concat([own.assign(prior=None), prior], ignore_index=True)
    d = build_report(runs, empty_history(), CONFIG, sweep_id="s")
    # seed 2 ran in both sweeps: this sweep's own run counts there; seed 3 only as a prior run
    assert d.counts["prior runs"] == 8 and d.counts["usable"] == 12
    assert sorted(d.usable.loc[d.usable["prior"].notna(), "seed"]) == [3, 3, 3, 3]
    assert [c.n_pairs for c in d.comparisons] == [6]  # 2 lrs x 3 seeds: the prior seed pairs too
    assert {m: int(c["n"].max()) for m, c in d.evp.items()} == {"a": 4, "b": 4}  # own trials only
    assert set(d.leaderboard["prior"]) <= {"", "prior (old00001)"} and "prior (old00001)" in set(d.leaderboard["prior"])
    said = " ".join(d.messages)
    assert "8 prior run(s) of sweep(s) old00001 (a warm start) are marked prior" in said
    assert "not in expected validation performance" in said and "4 of them left out" in said


def test_the_tidy_run_table_carries_the_links():
    frame = runs_frame(
        [
            {"id": "a", "state": "failed", "config": {"x": 1}, "rerun_by": "b"},
            {"id": "b", "state": "finished", "config": {"x": 1}, "rerun_of": "a"},
            {"id": "c", "state": "finished", "config": {"x": 2}, "prior": "old00001"},
        ]
    )

    def cells(col: str) -> list:
        return [v if isinstance(v, str) else None for v in frame[col]]

    assert cells("rerun_of") == [None, "a", None] and cells("rerun_by") == ["b", None, None]
    assert cells("prior") == [None, None, "old00001"]


def test_the_report_files_mark_prior_runs_and_name_the_rerun_of_a_failure(tmp_path):
    own = _with_rerun(grid(seeds=(1, 2)), "r0", first="failed", value=0.9)
    prior = grid(seeds=(3,)).assign(run_id=lambda d: "p" + d["run_id"], prior="old00001", acc=lambda d: d["acc"] + 0.1)
    prior["name"] = prior["run_id"]
    runs = pd.concat([own.assign(prior=None), prior], ignore_index=True)
    runs = runs.assign(**{c: None for c in META if c not in runs})  # as a run source writes the table
    d = build_report(runs, empty_history(), CONFIG, sweep_id="s")
    paths = write_outputs(d, runs, empty_history(), tmp_path)
    md, html = paths["md"].read_text(), paths["html"].read_text()
    assert "prior \\(old00001\\)" in md and "prior (old00001)" in html  # the leaderboard marks them
    assert "re-run as" in md and "r0-again" in md  # the failure names the run that re-ran its point
    assert "1 re-runs" in html and "4 prior runs" in html
