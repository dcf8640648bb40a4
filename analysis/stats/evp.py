"""Expected validation performance: the expected best score after n random trials, and its range.

Takes a `maximize` flag rather than assuming "higher is better": the direction comes from the
sweep's `metric.goal` and is decided once, by the caller. Pure: numbers in, a DataFrame out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln

from analysis.stats.arrays import FloatArray, floats

OUTCOME_RANGE = (0.05, 0.95)  # the EVP bands: the central 90% of the best-of-n outcomes
EVP_EVERY_N_UP_TO = 200  # budgets computed one by one; past this, a log-spaced grid of about 200 more


def _log_comb(n: FloatArray, k: int) -> FloatArray:
    """log C(n, k), -inf where n < k (so exp() gives an exact 0 there)."""
    n = floats(n)
    out = np.full(n.shape, -np.inf)
    ok = n >= k
    out[ok] = gammaln(n[ok] + 1) - gammaln(k + 1) - gammaln(n[ok] - k + 1)
    return out


def evp_budgets(n_max: int, also: Sequence[int] = ()) -> list[int]:
    """The budgets n an EVP curve is computed at: every n up to 200, then a log-spaced grid to n_max
    (a 10,000-run sweep needs no 10,000 points to draw a smooth curve), plus any in `also`."""
    dense = range(1, min(n_max, EVP_EVERY_N_UP_TO) + 1)
    sparse: list[int] = []
    if n_max > EVP_EVERY_N_UP_TO:
        sparse = [int(n) for n in np.unique(np.geomspace(EVP_EVERY_N_UP_TO, n_max, 200).round().astype(int))]
    return sorted({*dense, *sparse, n_max, *(int(n) for n in also if 1 <= n <= n_max)})


def expected_max_curve(
    scores: Sequence[float] | pd.Series,
    *,
    maximize: bool = True,
    with_replacement: bool = False,
    also: Sequence[int] = (),
) -> pd.DataFrame:
    """Expected best score after n of the N observed trials, for n = 1..N.

    Dodge et al. 2019 ("Show Your Work") with replacement: P(max_n = v(i)) = (i/N)^n - ((i-1)/N)^n.
    Tang et al. 2020's unbiased estimator without replacement: C(i,n)/C(N,n) - C(i-1,n)/C(N,n).
    The band, `low`-`high`, is the central 90% of that same discrete distribution of the best
    of n (its 5th and 95th percentiles): where 9 budgets of n random trials in 10 would end. It
    is a range of outcomes, not a confidence interval of the mean; `std` is its spread.
    Computed in log space so N in the thousands does not overflow C(N, n), at the budgets of
    `evp_budgets(N, also)`.
    Returns columns n, mean, std, low, high (for a minimised metric, the expected *minimum*).
    """
    v = floats([s for s in scores if s is not None and np.isfinite(s)])
    if v.size == 0:
        return pd.DataFrame({"n": [], "mean": [], "std": [], "low": [], "high": []})
    sign = 1.0 if maximize else -1.0
    v = np.sort(sign * v)  # ascending in "goodness"
    N = v.size
    i = floats(np.arange(1, N + 1))
    rows = []
    for n in evp_budgets(N, also):
        if with_replacement:
            cdf = (i / N) ** n
            cdf_prev = ((i - 1) / N) ** n
        else:
            denom = _log_comb(floats([N]), n)[0]
            cdf = np.exp(_log_comb(i, n) - denom)
            cdf_prev = np.exp(_log_comb(i - 1, n) - denom)
        p = np.clip(cdf - cdf_prev, 0.0, None)
        p /= p.sum()
        mean = float(p @ v)
        var = float(p @ (v - mean) ** 2)
        cum = np.cumsum(p)
        q05 = v[min(int(np.searchsorted(cum, OUTCOME_RANGE[0] - 1e-12)), N - 1)]
        q95 = v[min(int(np.searchsorted(cum, OUTCOME_RANGE[1] - 1e-12)), N - 1)]
        lo, hi = sorted((sign * q05, sign * q95))
        rows.append((n, sign * mean, np.sqrt(max(var, 0.0)), lo, hi))
    return pd.DataFrame(rows, columns=["n", "mean", "std", "low", "high"])
