"""The re-test on synthetic sweeps with known truth: optimism, ranking, the winner's odds, the pick
(`analysis.stats.retest`), and the sentence that states them (`analysis.report.retest`)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from agent.sweep_config.retest import CANDIDATE
from analysis.report.data import Scale
from analysis.report.retest import takeaway
from analysis.stats.retest import analyze_retest

S = Scale(100.0, "points")


def retest_of(configs, seeds, values, runtime=60.0, nested=False):
    rows = []
    for cfg, per_seed in zip(configs, values, strict=True):
        for s, v in zip(seeds, per_seed, strict=True):
            row = {f"{CANDIDATE}.{k}" if nested else k: x for k, x in cfg.items()}
            rows.append({**row, "seed": s, "m": v, "runtime_s": runtime * (1 + cfg.get("lr", 0))})
    params = {CANDIDATE: {"values": configs}} if len(configs[0]) > 1 else {"lr": {"values": [c["lr"] for c in configs]}}
    return pd.DataFrame(rows), {"method": "grid", "parameters": {**params, "seed": {"values": list(seeds)}}}


def test_optimism_is_the_best_minus_the_retest_interval():
    sweep = pd.DataFrame({"lr": [1, 1, 2, 3], "seed": [0, 1, 0, 0], "m": [0.86, 0.84, 0.83, 0.80]})
    runs, cfg = retest_of(
        [{"lr": 1}, {"lr": 2}, {"lr": 3}], [5, 6, 7], [[0.81, 0.82, 0.80], [0.82, 0.83, 0.83], [0.79, 0.78, 0.80]]
    )
    res = analyze_retest(sweep, runs, cfg, retest_id="r", metric="m", maximize=True, seed_key="seed")
    top = res.rows[0]
    lo, hi = sps.t.interval(0.95, 2, loc=0.81, scale=sps.sem([0.81, 0.82, 0.80]))
    assert top.sweep_best == 0.86 and top.sweep_runs == 2 and top.seeds == 3 and top.mean == pytest.approx(0.81)
    assert (top.low, top.high) == pytest.approx((lo, hi))
    assert top.optimism == pytest.approx(0.05) and (top.optimism_low, top.optimism_high) == pytest.approx(
        (0.86 - hi, 0.86 - lo)
    )
    assert [r.retest_rank for r in res.rows] == [2, 1, 3]
    assert res.spearman == pytest.approx(0.5)  # sweep order 1,2,3 vs re-test order 2,1,3
    assert res.pick == "lr=2" and res.lead is not None and res.lead.n_pairs == 3
    assert res.p_winner_holds is not None and res.p_winner_holds < 0.5
    t = takeaway(res, S, maximize=True)
    assert "The sweep's best config (lr=1) scored 86.0 in the sweep and 81.0" in t and "optimistic" in t
    assert "Spearman rank correlation 0.50" in t and t.count("Pick lr=2") == 1


def test_a_clear_winner_holds_and_its_lead_is_significant():
    sweep = pd.DataFrame({"lr": [1, 2], "seed": [0, 0], "m": [0.90, 0.80]})
    runs, cfg = retest_of([{"lr": 1}, {"lr": 2}], [5, 6, 7, 8], [[0.90, 0.91, 0.89, 0.90], [0.80, 0.81, 0.80, 0.79]])
    res = analyze_retest(sweep, runs, cfg, retest_id="r", metric="m", maximize=True, seed_key="seed")
    assert res.p_winner_holds > 0.99 and res.lead.significant and res.spearman is None  # 2 configs: no rank correlation
    t = takeaway(res, S, maximize=True)
    assert "keeps the sweep's order" in t and "its lead over lr=2 is 10.0 points" in t


def test_a_tie_says_so_and_names_the_cheaper_config():
    sweep = pd.DataFrame({"lr": [1, 2], "seed": [0, 0], "m": [0.85, 0.84]})
    runs, cfg = retest_of([{"lr": 1}, {"lr": 2}], [5, 6, 7], [[0.83, 0.85, 0.84], [0.84, 0.83, 0.85]])
    res = analyze_retest(sweep, runs, cfg, retest_id="r", metric="m", maximize=True, seed_key="seed")
    t = takeaway(res, S, maximize=True)
    assert not res.lead.significant and "not significant" in t
    assert "lr=1 costs 1.5× fewer wall hours per trial" in t


def test_nested_candidates_and_a_minimised_metric():
    sweep = pd.DataFrame({"model": ["a", "b"], "lr": [1, 1], "seed": [0, 0], "m": [0.20, 0.25]})
    configs = [{"model": "a", "lr": 1}, {"model": "b", "lr": 1}]
    runs, cfg = retest_of(configs, [5, 6], [[0.30, 0.28], [0.24, 0.26]], nested=True)
    res = analyze_retest(sweep, runs, cfg, retest_id="r", metric="m", maximize=False, seed_key="seed")
    assert res.rows[0].label == "model=a, lr=1" and res.rows[0].mean == pytest.approx(0.29)
    assert res.rows[0].optimism == pytest.approx(0.09)  # loss: lower in the sweep than on re-test
    assert res.pick == "model=b, lr=1"


def test_missing_retest_runs_are_said_and_nothing_is_invented():
    sweep = pd.DataFrame({"lr": [1, 2], "seed": [0, 0], "m": [0.9, 0.8]})
    runs, cfg = retest_of([{"lr": 1}, {"lr": 2}], [5, 6], [[0.88, 0.87], [np.nan, np.nan]])
    res = analyze_retest(sweep, runs.dropna(), cfg, retest_id="r", metric="m", maximize=True, seed_key="seed")
    assert res.rows[1].mean is None and res.rows[1].optimism is None
    assert any("no finished re-test run" in m for m in res.messages) and res.p_winner_holds is None


def test_a_bounded_metrics_retest_interval_stays_within_its_bounds_and_the_odds_keep_their_spread():
    """2 fresh seeds of an accuracy near 1: the plain t-interval (t = 12.7) would pass 1."""
    sweep = pd.DataFrame({"lr": [1, 2], "seed": [0, 0], "m": [0.97, 0.95]})
    runs, cfg = retest_of([{"lr": 1}, {"lr": 2}], [5, 6], [[0.99, 0.95], [0.94, 0.96]])
    plain = sps.t.interval(0.95, 1, loc=0.97, scale=sps.sem([0.99, 0.95]))
    assert plain[1] > 1
    kw = dict(retest_id="r", metric="m", maximize=True, seed_key="seed")
    res = analyze_retest(sweep, runs, cfg, bounds=(0.0, 1.0), **kw)
    top = res.rows[0]
    assert top.mean == pytest.approx(0.97) and 0 <= top.low < top.mean < top.high <= 1
    assert top.se == pytest.approx(sps.sem([0.99, 0.95]))
    # the winner's odds come from the standard errors, not from the (now asymmetric) interval
    assert res.p_winner_holds == pytest.approx(analyze_retest(sweep, runs, cfg, **kw).p_winner_holds)
