"""Calibration on synthetic sweeps: every interval the report states keeps its error rate at the
pair and seed counts sweeps have. Each check could fail: the last one runs the same harness on
the BCa bootstrap the report used before, and it fails there.

Monte-Carlo error: at 400 draws a true 5% rate is observed above 7.5% with probability < 1%
(binomial, one-sided), so LIMIT is that bound; power is checked to within 3 standard errors.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis.stats import compare, intervals
from analysis.stats.retest import analyze_retest

DRAWS = 400
NS = (3, 4, 6, 10, 30)
LIMIT = 0.05 + sps.norm.ppf(0.99) * math.sqrt(0.05 * 0.95 / DRAWS)
DIFFS = {
    "normal": lambda rng, n: rng.normal(0.0, 1.0, n),
    "t3": lambda rng, n: rng.standard_t(3, n),  # heavy tails
}


def false_positive_rate(n: int, draw, decide, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([decide(draw(rng, n)) for _ in range(DRAWS)]))


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("shape", sorted(DIFFS))
def test_aa_comparisons_are_significant_at_most_five_percent_of_the_time(n, shape):
    rate = false_positive_rate(n, DIFFS[shape], lambda d: compare.paired_t(d)[4], seed=n)
    assert rate <= LIMIT, f"A/A at n={n} ({shape}): {rate:.1%} called significant"


# Accuracies over seeds: Beta-distributed (skewed near a bound), mean and standard deviation as given.
BOUNDED = {"mid-range": (0.80, 0.03), "near the top": (0.95, 0.03), "at the top": (0.99, 0.01)}


@pytest.mark.parametrize("n", (2, 3, 4, 6, 10, 30))
@pytest.mark.parametrize("where", sorted(BOUNDED))
def test_seed_intervals_of_a_bounded_metric_stay_in_bounds_and_cover_its_mean(n, where):
    """The interval of a mean over seeds (the cells table, the per-model table, the re-test) is built on
    the logit scale: inside [0, 1] always, holding the mean, and covering the true mean at its 95%."""
    mu, sd = BOUNDED[where]
    k = mu * (1 - mu) / sd**2 - 1
    rng = np.random.default_rng(400 + n)
    covered = 0
    for _ in range(DRAWS):
        v = rng.beta(mu * k, (1 - mu) * k, n)
        m, lo, hi = intervals.mean_interval(v, (0.0, 1.0))
        assert 0.0 <= lo <= m <= hi <= 1.0, (v, lo, hi)
        covered += lo <= mu <= hi
    assert covered / DRAWS >= 1 - LIMIT, f"{where}, n={n}: {covered / DRAWS:.1%} coverage"


@pytest.mark.parametrize("n", (3, 4, 6, 10))
def test_the_sign_flip_test_keeps_its_level_and_cannot_reject_below_six_pairs(n):
    rate = false_positive_rate(n, DIFFS["t3"], lambda d: compare.sign_flip_p(d) < 0.05, seed=100 + n)
    assert rate <= LIMIT
    if n < compare.min_pairs_for_sign_flip():
        assert rate == 0.0


def test_the_report_verdict_is_the_paired_t_verdict():
    rng = np.random.default_rng(7)
    for n in (2, 3, 5, 12):
        for _ in range(20):
            d = rng.normal(0.3, 1.0, n)
            assert compare.paired_difference(d, a="a", b="b", maximize=True).significant == compare.paired_t(d)[4]


@pytest.mark.parametrize("n", NS)
def test_a_known_effect_is_detected_at_the_stated_power(n):
    effect = compare.detectable_difference(1.0, n)  # the report's "detectable at 80% power"
    rng = np.random.default_rng(200 + n)
    hits = np.mean([compare.paired_t(rng.normal(effect, 1.0, n))[4] for _ in range(DRAWS)])
    se = math.sqrt(0.8 * 0.2 / DRAWS)
    assert abs(hits - 0.80) <= 3 * se, f"n={n}: detected {hits:.1%} at a stated 80% power"


@pytest.mark.slow  # 3 x a few seconds of simulated re-tests
@pytest.mark.parametrize("seeds", (2, 3, 5))
def test_the_retest_optimism_interval_covers_the_true_optimism(seeds):
    """Sweeps of 6 configs x 1 seed pick a winner; a re-test of the top 3 states each optimism."""
    rng = np.random.default_rng(300 + seeds)
    true = np.array([0.80, 0.79, 0.79, 0.78, 0.77, 0.75])
    sd, covered, total = 0.02, 0, 0
    for _ in range(DRAWS // 4):  # 3 intervals per draw: 300 intervals
        sweep = pd.DataFrame({"lr": np.arange(6), "seed": 0, "m": true + rng.normal(0, sd, 6)})
        top = sweep.sort_values("m", ascending=False).head(3)
        cfg = {"parameters": {"lr": {"values": top["lr"].tolist()}, "seed": {"values": list(range(1, seeds + 1))}}}
        retest = pd.DataFrame(
            [
                {"lr": lr, "seed": s, "m": true[lr] + rng.normal(0, sd), "runtime_s": 1.0}
                for lr in top["lr"]
                for s in range(1, seeds + 1)
            ]
        )
        res = analyze_retest(sweep, retest, cfg, retest_id="r", metric="m", maximize=True, seed_key="seed")
        for row in res.rows:
            truth = row.sweep_best - true[row.config["lr"]]
            covered += row.optimism_low <= truth <= row.optimism_high
            total += 1
    rate = covered / total
    assert rate >= 0.95 - sps.norm.ppf(0.99) * math.sqrt(0.05 * 0.95 / total), f"coverage {rate:.1%}"


def test_the_harness_fails_the_bca_bootstrap_the_report_used_before():
    def bca(d):
        res = sps.bootstrap((d,), np.mean, n_resamples=999, method="BCa", rng=np.random.default_rng(0))
        lo, hi = res.confidence_interval
        return bool(lo > 0 or hi < 0)

    with np.errstate(all="ignore"):
        rate = false_positive_rate(3, DIFFS["normal"], bca, seed=3)
    assert rate > LIMIT, f"the harness passed a method known to be miscalibrated ({rate:.1%})"
