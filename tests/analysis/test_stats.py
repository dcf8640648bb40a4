"""analysis.stats (evp, cells, importance) as pure functions, against hand-computed values and known ground truth."""

import math

import numpy as np
import pandas as pd
import pytest

from analysis.stats import cells, evp, importance


def test_evp_without_replacement_hand_computed():
    e = evp.expected_max_curve([2.0, 1.0, 3.0], maximize=True)
    # n=1: mean of all; n=2: maxima of the pairs {1,2},{1,3},{2,3} are 2,3,3; n=3: the max.
    assert e["n"].tolist() == [1, 2, 3]
    assert e["mean"].tolist() == pytest.approx([2.0, 8 / 3, 3.0])
    assert e["std"].tolist() == pytest.approx([math.sqrt(2 / 3), math.sqrt(2 / 9), 0.0])


def test_evp_with_replacement_is_dodge_formula():
    e = evp.expected_max_curve([1.0, 2.0, 3.0], maximize=True, with_replacement=True)
    # P(max of 2 draws = v(i)) = (i/3)^2 - ((i-1)/3)^2 = 1/9, 3/9, 5/9
    assert e["mean"].iloc[1] == pytest.approx((1 * 1 + 2 * 3 + 3 * 5) / 9)


def test_evp_minimize_takes_expected_minimum():
    e = evp.expected_max_curve([1.0, 2.0, 3.0], maximize=False)
    assert e["mean"].tolist() == pytest.approx([2.0, 4 / 3, 1.0])


def test_evp_matches_brute_force_on_ties_and_large_n():
    from itertools import combinations

    v = [0.5, 0.7, 0.7, 0.2, 0.9, 0.9, 0.1]
    e = evp.expected_max_curve(v, maximize=True)
    for n in range(1, len(v) + 1):
        maxima = [max(c) for c in combinations(v, n)]
        assert e["mean"].iloc[n - 1] == pytest.approx(np.mean(maxima))
        assert e["std"].iloc[n - 1] == pytest.approx(np.std(maxima), abs=1e-9)
    big = evp.expected_max_curve(np.linspace(0, 1, 3000), maximize=True)  # no overflow
    assert np.isfinite(big["mean"]).all() and big["mean"].is_monotonic_increasing


def test_evp_ignores_nan_and_empty():
    assert evp.expected_max_curve([np.nan, 1.0])["mean"].tolist() == [1.0]
    assert evp.expected_max_curve([]).empty


def test_evp_band_is_the_central_90_percent_of_the_best_of_n():
    from itertools import combinations

    v = [0.5, 0.7, 0.7, 0.2, 0.9, 0.1, 0.3, 0.6]
    e = evp.expected_max_curve(v, maximize=True)
    for n in (1, 2, 4):
        maxima = [max(c) for c in combinations(v, n)]
        lo, hi = np.quantile(maxima, [0.05, 0.95], method="inverted_cdf")
        assert (e["low"].iloc[n - 1], e["high"].iloc[n - 1]) == pytest.approx((lo, hi))
    m = evp.expected_max_curve(v, maximize=False)  # the best of n is then the minimum
    minima = [min(c) for c in combinations(v, 2)]
    assert m["low"].iloc[1] <= np.mean(minima) <= m["high"].iloc[1]
    assert m["low"].iloc[1] == pytest.approx(np.quantile(minima, 0.05, method="inverted_cdf"))


def test_evp_band_predicts_a_fresh_budget_nine_times_in_ten():
    rng = np.random.default_rng(5)
    inside = 0
    for _ in range(300):
        e = evp.expected_max_curve(rng.normal(0, 1, 60), maximize=True)
        best_of_5 = rng.normal(0, 1, 5).max()
        inside += e["low"].iloc[4] <= best_of_5 <= e["high"].iloc[4]
    assert 0.84 <= inside / 300 <= 0.96


def test_matched_pairs_average_repeats_and_drop_unmatched():
    runs = pd.DataFrame(
        {
            "model": ["A", "A", "B", "A", "B", "B"],
            "lr": [1, 1, 1, 2, 2, 3],
            "seed": [0, 0, 0, 0, 0, 0],
            "m": [0.8, 0.6, 0.5, 0.9, 0.7, 0.1],
        }
    )
    p = cells.matched_pairs(runs, compare="model", a="A", b="B", metric="m", match_keys=["lr", "seed"])
    assert sorted(p["diff"].round(6).tolist()) == [0.2, 0.2]  # lr=1: 0.7-0.5, lr=2: 0.9-0.7


def test_seed_summary_mean_std_count_and_t_interval():
    from scipy import stats as sps

    runs = pd.DataFrame({"lr": [1, 1, 1, 2], "seed": [1, 2, 3, 1], "m": [1.0, 2.0, 3.0, 5.0]})
    s = cells.seed_summary(runs, config_keys=["lr"], metric="m").set_index("lr")
    assert s.loc[1, "mean"] == 2.0 and s.loc[1, "std"] == pytest.approx(1.0) and s.loc[1, "count"] == 3
    assert (s.loc[1, "low"], s.loc[1, "high"]) == pytest.approx(sps.t.interval(0.95, 2, loc=2.0, scale=1 / 3**0.5))
    assert np.isnan(s.loc[2, "std"]) and np.isnan(s.loc[2, "low"])  # one seed: no interval


def test_importance_finds_the_informative_parameter_with_signed_correlation():
    rng = np.random.default_rng(0)
    n = 120
    runs = pd.DataFrame({"lr": rng.uniform(0, 1, n), "noise": rng.uniform(0, 1, n), "model": rng.choice(["a", "b"], n)})
    runs["m"] = -2.0 * runs["lr"] + 0.01 * rng.normal(size=n)
    imp = importance.importance_table(runs, params=["lr", "noise", "model"], metric="m")
    assert imp.iloc[0]["param"] == "lr" and imp.iloc[0]["importance"] > 0.8
    assert imp.iloc[0]["pearson"] < -0.95 and imp.iloc[0]["spearman"] < -0.95
    assert imp["importance"].sum() == pytest.approx(1.0)


def test_a_categorical_parameter_is_one_row_with_its_levels_effects_apart():
    """A two-level model choice is one parameter, not two mirror-image one-hot rows."""
    rng = np.random.default_rng(1)
    n = 60
    runs = pd.DataFrame({"model": rng.choice(["big", "small", "mid"], n), "lr": rng.choice([1e-4, 3e-4], n)})
    runs["m"] = runs["model"].map({"big": 0.9, "mid": 0.85, "small": 0.8}) + 0.002 * rng.normal(size=n)
    imp = importance.importance_table(runs, params=["model", "lr"], metric="m")
    assert imp["param"].tolist() == ["model", "lr"] and imp.iloc[0]["kind"] == "categorical"
    assert imp.iloc[0]["levels"] == 3 and np.isnan(imp.iloc[0]["pearson"]) and imp.iloc[0]["importance"] > 0.9
    lv = importance.level_effects(runs, params=["model", "lr"], metric="m").set_index(["param", "level"])
    overall = runs["m"].mean()
    for level in ("big", "mid", "small"):
        mine = runs.loc[runs["model"] == level, "m"]
        assert lv.loc[("model", level), "effect"] == pytest.approx(mine.mean() - overall)
        assert lv.loc[("model", level), "n"] == len(mine)
    assert list(lv.loc["lr"].index) == [1e-4, 3e-4]  # numbers keep their order and their type


def test_best_row_is_the_one_best_rule_on_dataframes():
    df = pd.DataFrame({"m": [0.3, np.nan, 0.9, 0.9, -np.inf], "id": list("abcde")})
    assert cells.best_row(df, "m", maximize=True)["id"] == "c"  # first of a tie, NaN skipped
    assert cells.best_row(df, "m", maximize=False)["id"] == "a"  # -inf is not a value
    assert cells.best_row(df.iloc[[1]], "m", maximize=True) is None
