"""Which parameters matter: permutation importance per parameter, each level's effect, and correlation.

One row per parameter, whatever its type: a random forest is fitted on the runs (categoricals one-hot
encoded inside the model), and a parameter's importance is how much the forest's R² drops when that
parameter's column is shuffled, all its one-hot columns together. A two-level choice such as the
model is therefore one parameter, not two rows that mirror each other. Which way a parameter pushes
the metric is told apart: each level's mean against the overall mean (`level_effects`), and for
numbers Pearson's and Spearman's correlation.

Pure: a run table in, DataFrames out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.tables import tidy

COLUMNS = ["param", "kind", "importance", "r2_drop", "r2_drop_sd", "pearson", "spearman", "levels"]
LEVEL_COLUMNS = ["param", "level", "mean", "effect", "n"]
MAX_LEVELS = 12  # past this many values a parameter is continuous: no per-level effects
N_REPEATS = 20
MAX_SCORED = 1000  # rows the shuffles are scored on (a seeded sample past this): 10,000 runs in ~0.5 s


def _is_numeric(s: pd.Series) -> bool:
    num = pd.to_numeric(s, errors="coerce")
    return bool(num.notna().all() and not s.map(lambda x: isinstance(x, (str, bool))).any())


def _features(df: pd.DataFrame, cols: Sequence[str]) -> tuple[pd.DataFrame, list[str], list[str]]:
    """(X, numeric params, categorical params): the varied parameters, numbers as floats, the rest as text."""
    numeric, categorical, parts = [], [], {}
    for p in cols:
        s = df[p]
        if _is_numeric(s):
            if pd.to_numeric(s).nunique() > 1:
                numeric.append(p)
                parts[p] = pd.to_numeric(s).astype(float)
        elif tidy.text(s).nunique() > 1:
            categorical.append(p)
            parts[p] = tidy.text(s)
    return pd.DataFrame(parts, index=df.index), numeric, categorical


def _permutation(X: pd.DataFrame, y: np.ndarray, categorical: list[str], seed: int, n_estimators: int) -> Any:
    """sklearn's permutation importance of each raw column of X (one-hot happens inside the pipeline)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough"
    )
    forest = RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    model = make_pipeline(encode, forest).fit(X, y)
    rows = np.random.default_rng(seed).permutation(len(X))[:MAX_SCORED] if len(X) > MAX_SCORED else slice(None)
    return permutation_importance(model, X.iloc[rows], y[rows], n_repeats=N_REPEATS, random_state=seed, n_jobs=1)


def importance_table(
    runs: pd.DataFrame, *, params: Sequence[str], metric: str, seed: int = 0, n_estimators: int = 100
) -> pd.DataFrame:
    """One row per varied parameter: `r2_drop` (mean drop in the forest's R² when the parameter is
    shuffled, over N_REPEATS shuffles; `r2_drop_sd` their spread), `importance` (its share of all
    parameters' drops, which sum to 1), Pearson/Spearman r for numbers (NaN for a categorical), and
    how many levels it has. Constant parameters and rows without the metric are dropped; needs >= 3 rows."""
    cols = [p for p in params if p in runs.columns]
    df = runs.dropna(subset=[metric])
    if len(df) < 3 or not cols:
        return pd.DataFrame(columns=COLUMNS)
    X, numeric, categorical = _features(df, cols)
    if X.empty:
        return pd.DataFrame(columns=COLUMNS)
    y = df[metric].astype(float).to_numpy()
    constant_y = np.ptp(y) == 0
    drops = _permutation(X, y, categorical, seed, n_estimators) if not constant_y else None
    total = float(np.clip(drops.importances_mean, 0, None).sum()) if drops is not None else 0.0
    rows = []
    for j, p in enumerate(X.columns):
        drop = float(drops.importances_mean[j]) if drops is not None else 0.0
        sd = float(drops.importances_std[j]) if drops is not None else 0.0
        share = max(drop, 0.0) / total if total > 0 else 0.0
        pear = spear = float("nan")
        if p in numeric and not constant_y:
            pear = float(sps.pearsonr(X[p], y).statistic)
            spear = float(sps.spearmanr(X[p], y).statistic)
        kind = "numeric" if p in numeric else "categorical"
        rows.append((p, kind, share, drop, sd, pear, spear, int(X[p].nunique())))
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.sort_values("importance", ascending=False, ignore_index=True)


def level_effects(runs: pd.DataFrame, *, params: Sequence[str], metric: str) -> pd.DataFrame:
    """Per varied parameter with at most MAX_LEVELS values, per level: the metric's mean over the runs at
    that level, its `effect` (that mean minus the mean of all runs) and n. Numbers in ascending order."""
    df = runs.dropna(subset=[metric])
    if df.empty:
        return pd.DataFrame(columns=LEVEL_COLUMNS)
    y = df[metric].astype(float)
    overall = float(y.mean())
    rows = []
    for p in (p for p in params if p in df.columns):
        s = df[p]
        if tidy.text(s).nunique() < 2 or tidy.text(s).nunique() > MAX_LEVELS:
            continue
        key = pd.to_numeric(s) if _is_numeric(s) else tidy.text(s)
        for level, v in y.groupby(key.to_numpy(), sort=True):
            rows.append((p, level, float(v.mean()), float(v.mean()) - overall, int(len(v))))
    return pd.DataFrame(rows, columns=LEVEL_COLUMNS)
