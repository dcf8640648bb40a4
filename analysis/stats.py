"""Pure statistics for sweep comparisons: no I/O, no plotting, DataFrames in and out.

Everything here takes a `maximize` flag rather than assuming "higher is better": the
direction comes from the sweep's `metric.goal` and is decided once, by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.special import gammaln

from agent.sweep_config.metric import best
from analysis import tidy
from analysis.compare import t_half_width

OUTCOME_RANGE = (0.05, 0.95)  # the EVP bands: the central 90% of the best-of-n outcomes


# ---------------------------------------------------------------- expected validation performance
def _log_comb(n: np.ndarray, k: int) -> np.ndarray:
    """log C(n, k), -inf where n < k (so exp() gives an exact 0 there)."""
    n = np.asarray(n, dtype=float)
    out = np.full(n.shape, -np.inf)
    ok = n >= k
    out[ok] = gammaln(n[ok] + 1) - gammaln(k + 1) - gammaln(n[ok] - k + 1)
    return out


EVP_EVERY_N_UP_TO = 200  # budgets computed one by one; past this, a log-spaced grid of about 200 more


def evp_budgets(n_max: int, also: Sequence[int] = ()) -> list[int]:
    """The budgets n an EVP curve is computed at: every n up to 200, then a log-spaced grid to n_max
    (a 10,000-run sweep needs no 10,000 points to draw a smooth curve), plus any in `also`."""
    dense = range(1, min(n_max, EVP_EVERY_N_UP_TO) + 1)
    sparse: list[int] = []
    if n_max > EVP_EVERY_N_UP_TO:
        sparse = np.unique(np.geomspace(EVP_EVERY_N_UP_TO, n_max, 200).round().astype(int)).tolist()
    return sorted({*dense, *sparse, n_max, *(int(n) for n in also if 1 <= n <= n_max)})


def expected_max_curve(
    scores: Sequence[float], *, maximize: bool = True, with_replacement: bool = False, also: Sequence[int] = ()
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
    v = np.asarray([s for s in scores if s is not None and np.isfinite(s)], dtype=float)
    if v.size == 0:
        return pd.DataFrame({"n": [], "mean": [], "std": [], "low": [], "high": []})
    sign = 1.0 if maximize else -1.0
    v = np.sort(sign * v)  # ascending in "goodness"
    N = v.size
    i = np.arange(1, N + 1)
    rows = []
    for n in evp_budgets(N, also):
        if with_replacement:
            cdf = (i / N) ** n
            cdf_prev = ((i - 1) / N) ** n
        else:
            denom = _log_comb(np.array([N]), n)[0]
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


# ---------------------------------------------------------------- pairs
def matched_pairs(runs: pd.DataFrame, *, compare: str, a, b, metric: str, match_keys: Sequence[str]) -> pd.DataFrame:
    """One row per cell (match_keys) where both a and b have a value: columns a, b, diff.

    Several runs in one cell (repeats) are averaged first, so a cell counts once.
    """
    keys = [k for k in match_keys if k in runs.columns and k != compare]
    df = runs[runs[compare].isin([a, b])].dropna(subset=[metric])
    if df.empty:
        return pd.DataFrame(columns=[*keys, "a", "b", "diff"])
    if not keys:
        # Nothing to match on: each model is one cell, which gives a single (unpaired) pair.
        means = df.groupby(compare)[metric].mean()
        if a in means and b in means:
            return pd.DataFrame({"a": [means[a]], "b": [means[b]], "diff": [means[a] - means[b]]})
        return pd.DataFrame(columns=["a", "b", "diff"])
    cells = df.assign(**{k: tidy.text(df[k]) for k in keys}).pivot_table(
        index=keys, columns=compare, values=metric, aggfunc="mean"
    )
    if a not in cells.columns or b not in cells.columns:
        return pd.DataFrame(columns=[*keys, "a", "b", "diff"])
    cells = cells[[a, b]].dropna()
    out = pd.DataFrame({"a": cells[a], "b": cells[b]}).reset_index()
    out["diff"] = out["a"] - out["b"]
    return out


# ---------------------------------------------------------------- seeds, configs
def with_t_interval(df: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Add low/high, the t-interval of each row's mean from its mean, std (ddof=1) and count.

    The seed bands: t(0.975, n-1) * s / sqrt(n) keeps 95% coverage at 2 or 3 seeds, where a
    normal +-1.96 s/sqrt(n) or a bootstrap falls far short. One seed: no interval (NaN).
    """
    out = df.copy()
    n = pd.to_numeric(out["count"], errors="coerce").to_numpy(dtype=float)
    sd = pd.to_numeric(out["std"], errors="coerce").to_numpy(dtype=float)
    half = t_half_width(sd, n, confidence)
    mean = pd.to_numeric(out["mean"], errors="coerce").to_numpy(dtype=float)
    out["low"], out["high"] = mean - half, mean + half
    return out


def seed_summary(runs: pd.DataFrame, *, config_keys: Sequence[str], metric: str) -> pd.DataFrame:
    """mean, std (ddof=1; NaN for one seed), count and the 95% t-interval of `metric` per config."""
    keys = [k for k in config_keys if k in runs.columns]
    df = runs.dropna(subset=[metric])
    if df.empty:
        return pd.DataFrame(columns=[*keys, "mean", "std", "count", "low", "high"])
    if not keys:
        g = df[metric]
        return with_t_interval(pd.DataFrame({"mean": [g.mean()], "std": [g.std()], "count": [g.count()]}))
    return with_t_interval(df.groupby(keys, dropna=False)[metric].agg(["mean", "std", "count"]).reset_index())


def best_row(df: pd.DataFrame, col: str, *, maximize: bool) -> pd.Series | None:
    """The row with the best finite `col` (the sweep's one "best" rule), or None."""
    values = pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(dtype=float)
    i = best(df.index, lambda i: values.at[i], {"goal": "maximize" if maximize else "minimize"})
    return None if i is None else df.loc[i]


# ---------------------------------------------------------------- importance / correlation
def importance_table(
    runs: pd.DataFrame, *, params: Sequence[str], metric: str, seed: int = 0, n_estimators: int = 100
) -> pd.DataFrame:
    """Random-forest importance beside Pearson/Spearman correlation, one row per feature.

    Categoricals are one-hot encoded (feature "param=value"), like W&B's importance panel.
    Constant features and rows without the metric are dropped. Needs >= 3 rows.
    """
    from sklearn.ensemble import RandomForestRegressor

    cols = [p for p in params if p in runs.columns]
    df = runs.dropna(subset=[metric])
    if len(df) < 3 or not cols:
        return pd.DataFrame(columns=["feature", "param", "importance", "pearson", "spearman"])
    parts: list[pd.Series | pd.DataFrame] = []
    owner: dict[str, str] = {}
    for p in cols:
        s = df[p]
        num = pd.to_numeric(s, errors="coerce")
        if num.notna().all() and not s.map(lambda x: isinstance(x, (str, bool))).any():
            if num.nunique() > 1:
                parts.append(num.rename(p).astype(float))
                owner[p] = p
        else:
            dummies = pd.get_dummies(tidy.text(s), prefix=p, prefix_sep="=", dtype=float)
            dummies = dummies.loc[:, dummies.nunique() > 1]
            for c in dummies.columns:
                owner[c] = p
            parts.append(dummies)
    if not parts:
        return pd.DataFrame(columns=["feature", "param", "importance", "pearson", "spearman"])
    X = pd.concat(parts, axis=1)
    y = df[metric].astype(float).to_numpy()
    rf = RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    rf.fit(X.to_numpy(), y)
    rows = []
    for j, feat in enumerate(X.columns):
        x = X[feat].to_numpy()
        constant_y = np.ptp(y) == 0
        pear = float("nan") if constant_y else float(sps.pearsonr(x, y).statistic)
        spear = float("nan") if constant_y else float(sps.spearmanr(x, y).statistic)
        rows.append((feat, owner[feat], float(rf.feature_importances_[j]), pear, spear))
    out = pd.DataFrame(rows, columns=["feature", "param", "importance", "pearson", "spearman"])
    return out.sort_values("importance", ascending=False, ignore_index=True)
