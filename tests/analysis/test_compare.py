"""analysis.stats.compare as pure functions, against scipy and hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis.stats import compare


def test_interval_and_p_are_the_paired_t_test():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 0.02, 7), rng.normal(0.79, 0.02, 7)
    c = compare.paired_difference(a - b, a="a", b="b", maximize=True)
    ref = sps.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert (c.low, c.high) == pytest.approx((ci.low, ci.high)) and c.p_value == pytest.approx(ref.pvalue)
    assert c.significant == (ref.pvalue < 0.05) and c.n_pairs == 7 and "paired t" in c.method


def test_the_issue_example_is_not_significant_at_four_pairs():
    # The landed demo called this "10.2 points below (95% CI 2.6-17.8)" from a BCa bootstrap.
    d = [-0.07, -0.17, 0.0175, -0.185]
    c = compare.paired_difference(d, a="distil", b="bert", maximize=True)
    assert round(c.low * 100) == -25 and round(c.high * 100) == 5  # about -25 to +5 points
    assert not c.significant and c.better is None
    assert c.sign_flip_p == pytest.approx(4 / 16) and c.min_pairs_sign_flip == 6  # 2 / 2^4 at best


def test_sign_flip_p_is_exact_and_needs_six_pairs():
    assert compare.sign_flip_p(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 8)
    # |mean| of the 16 sign patterns of (1, 2, 3, -0.5): count those >= the observed one.
    d = np.array([1.0, 2.0, 3.0, -0.5])
    flips = [abs(np.dot(s, d)) / 4 for s in np.array(np.meshgrid(*[[1, -1]] * 4)).T.reshape(-1, 4)]
    assert compare.sign_flip_p(d) == pytest.approx(np.mean(np.array(flips) >= abs(d.mean()) - 1e-12))
    assert compare.min_pairs_for_sign_flip(0.05) == 6 and 2 / 2**6 < 0.05 <= 2 / 2**5
    assert compare.sign_flip_p(np.ones(6)) == pytest.approx(2 / 64)


def test_power_matches_simulation_and_detectable_inverts_it():
    rng = np.random.default_rng(0)
    n, sd, effect = 8, 1.0, 0.9
    sims = rng.normal(effect, sd, (4000, n))
    p = sps.ttest_1samp(sims, 0, axis=1).pvalue
    assert compare.power(effect, sd, n) == pytest.approx(np.mean(p < 0.05), abs=0.025)
    e = compare.detectable_difference(sd, n)
    assert compare.power(e, sd, n) == pytest.approx(0.80, abs=1e-6)
    need = compare.pairs_needed(e, sd)
    assert need == n or (need < n and compare.power(e, sd, need) >= 0.8)
    assert compare.pairs_needed(e / 2, sd) > n and compare.pairs_needed(0.0, sd) is None


def test_direction_and_degenerate_inputs():
    d = np.full(10, -0.02) + np.linspace(-0.001, 0.001, 10)
    assert compare.paired_difference(d, a="small", b="big", maximize=True).better == "big"
    assert compare.paired_difference(d, a="small", b="big", maximize=False).better == "small"  # loss
    one = compare.paired_difference([0.3], a="a", b="b", maximize=True)
    assert one.low is None and "one matched cell" in one.note and not one.significant
    same = compare.paired_difference([0.1, 0.1, 0.1], a="a", b="b", maximize=True)
    assert same.low == same.high == pytest.approx(0.1) and same.significant and same.detectable is None
    assert compare.paired_difference([], a="a", b="b", maximize=True).n_pairs == 0


def test_underpowered_is_flagged_only_when_the_difference_is_below_what_could_be_seen():
    rng = np.random.default_rng(1)
    c = compare.paired_difference(rng.normal(0.01, 1.0, 4), a="a", b="b", maximize=True)
    assert not c.significant and c.underpowered and c.detectable > abs(c.mean)
    assert c.pairs_needed is not None and c.pairs_needed > 4


def test_t_interval_and_half_width():
    v = [1.0, 2.0, 4.0]
    m, lo, hi = compare.t_interval(v)
    ref = sps.t.interval(0.95, 2, loc=np.mean(v), scale=sps.sem(v))
    assert (lo, hi) == pytest.approx(ref) and m == pytest.approx(7 / 3)
    assert compare.t_interval([1.0]) is None
    assert math.isnan(float(compare.t_half_width(1.0, 1)))
