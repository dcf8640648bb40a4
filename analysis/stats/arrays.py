"""Typed float arrays: the one place where pandas columns, lists and scalars become `FloatArray`.

numpy's and pandas' stubs type `np.asarray(x, dtype=float)` as an array of unknown dtype; the
statistics declare what they compute on, and this is where the two meet.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]


def floats(values: npt.ArrayLike | pd.Series) -> FloatArray:
    """`values` as a float64 array (a copy only where the dtype differs)."""
    return np.asarray(values, dtype=np.float64)


def numeric(values: pd.Series) -> pd.Series:
    """A column as numbers, anything unparseable as NaN."""
    return pd.Series(pd.to_numeric(values, errors="coerce"), index=values.index)
