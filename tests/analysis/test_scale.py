"""What keeps a 10,000-run report fast and small: EVP budgets, the sign-flip's normal limit, the live
curves cap, per-run slices of the cached history, and outputs kept when nothing changed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.render import live
from analysis.render.outputs import write_outputs
from analysis.report.build import build_report
from analysis.stats import evp
from analysis.stats.compare import sign_flip_p
from analysis.tables.sources import split_by_run
from tests.synthetic import synthetic_sweep


def test_evp_budgets_are_every_n_up_to_200_then_a_log_grid_that_ends_at_n():
    assert evp.evp_budgets(50) == list(range(1, 51))
    b = evp.evp_budgets(5000, also=(3333,))
    assert b[:200] == list(range(1, 201)) and b[-1] == 5000 and 3333 in b
    assert len(b) < 420 and b == sorted(set(b))


def test_expected_max_curve_at_sampled_budgets_equals_the_dense_one():
    scores = np.random.default_rng(1).normal(size=600)
    thin = evp.expected_max_curve(scores).set_index("n")
    # the same estimator at every n, computed one budget at a time
    for n in (1, 7, 200, 233, 600):
        dense = evp.expected_max_curve(scores, also=(n,)).set_index("n").loc[n]
        assert n in thin.index or n == 233
        assert dense["mean"] == pytest.approx(thin.loc[n, "mean"] if n in thin.index else dense["mean"])
    assert thin["mean"].is_monotonic_increasing and thin.index[-1] == 600


def test_sign_flip_uses_its_normal_limit_for_many_pairs_and_agrees_with_random_flips():
    d = np.random.default_rng(3).normal(0.08, 1.0, 400)
    p_normal = sign_flip_p(d)
    signs = np.random.default_rng(4).choice((1.0, -1.0), size=(20_000, d.size))
    p_mc = float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12))
    assert p_normal == pytest.approx(p_mc, abs=0.015)
    assert sign_flip_p(np.zeros(300)) == 1.0


def test_live_curves_draw_the_running_then_the_best_and_say_how_many():
    n = 250
    runs = pd.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(n)],
            "state": ["running" if i < 3 else "finished" for i in range(n)],
            "created_at": None,
            "runtime_s": 10.0,
            "loss": [None if i < 3 else float(i) for i in range(n)],
        }
    )
    hist = pd.DataFrame(
        {"run_id": [f"r{i}" for i in range(n)], "step": 1.0, "metric": "loss", "value": np.arange(n, dtype=float)}
    )
    config = {"method": "random", "metric": {"name": "loss", "goal": "minimize"}, "parameters": {}}
    curves = live.payload("s", config, runs, hist)["figures"]["curves"]
    ids = [t["hovertext"] for t in curves["data"]]
    assert len(ids) == live.MAX_CURVES
    assert ids[:3] == ["r0", "r1", "r2"] and ids[3:6] == ["r3", "r4", "r5"]  # running, then lowest loss
    assert "200 of 250" in curves["layout"]["title"]["text"]


@pytest.mark.parametrize("shuffle", [False, True])
def test_split_by_run_gives_each_runs_rows_as_a_groupby_would(shuffle):
    h = pd.DataFrame({"run_id": ["a", "a", "b", "c", "c", "c"], "step": range(6), "metric": "m", "value": range(6)})
    if shuffle:
        h = h.sample(frac=1, random_state=0).reset_index(drop=True)
    got = split_by_run(h)
    for rid, g in h.groupby("run_id"):
        pd.testing.assert_frame_equal(got[rid].reset_index(drop=True), g.reset_index(drop=True))


@pytest.mark.slow  # four full writes of a report, figures and all
def test_a_report_rewritten_from_the_same_runs_keeps_history_csv_and_its_figures(tmp_path):
    runs, hist, cfg = synthetic_sweep()
    d = build_report(runs, hist, cfg, sweep_id="s")
    write_outputs(d, runs, hist, tmp_path, data_stamp="k1")
    csv, png = tmp_path / "history.csv", next(tmp_path.glob("figures/*.png"))
    before = (csv.stat().st_mtime_ns, png.stat().st_mtime_ns)
    write_outputs(d, runs, hist, tmp_path, data_stamp="k1")
    assert (csv.stat().st_mtime_ns, png.stat().st_mtime_ns) == before
    assert "![" in (tmp_path / "report.md").read_text()  # the figures are still linked
    write_outputs(d, runs, hist, tmp_path, data_stamp="k2")  # other runs' data: written afresh
    assert csv.stat().st_mtime_ns != before[0]
    csv.unlink()
    write_outputs(d, runs, hist, tmp_path, data_stamp="k2")  # a file gone: written again
    assert csv.is_file() and pd.read_csv(csv).shape[0] == len(hist)


class _Source:
    """Just what write_run_pages reads of a RunSource."""

    def __init__(self, keys):
        from agent.backends.base import RunRecord, SweepInfo
        from analysis.tables.sources import RunData

        self.sweep_id = "s"
        self.records = [RunRecord(rid, "finished", data_key=k) for rid, k in keys.items()]
        frame = pd.DataFrame({"run_id": "x", "step": [1.0], "metric": "loss", "value": [0.5]})
        self.data = {rid: RunData(k, frame.assign(run_id=rid)) for rid, k in keys.items()}
        self._info = SweepInfo(id="s", backend="local", config={"metric": {"name": "loss"}}, state="finished")

    def runs_table(self):
        return pd.DataFrame({"run_id": [r.id for r in self.records], "loss": 0.5})

    def sweep_info(self):
        return self._info


def test_run_pages_are_drawn_again_only_for_runs_whose_data_changed(tmp_path):
    from analysis.render.outputs import write_run_pages

    assert len(write_run_pages(_Source({"a": "1", "b": "1", "c": None}), tmp_path)) == 3
    again = write_run_pages(_Source({"a": "1", "b": "2", "c": None}), tmp_path)
    assert sorted(p.stem for p in again) == ["b", "c"]  # b changed; c has no key, so always
    (tmp_path / "runs" / "a.html").unlink()
    assert [p.stem for p in write_run_pages(_Source({"a": "1", "b": "2"}), tmp_path)] == ["a"]
