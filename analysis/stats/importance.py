"""Which parameters matter: random-forest importance beside Pearson and Spearman correlation.

Pure: a run table in, one row per feature out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.tables import tidy


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
