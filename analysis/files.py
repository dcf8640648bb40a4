"""Writing report files safely: JSON-able values, JSON that cannot close a <script>, atomic writes."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

from agent.paths import write_atomic

__all__ = ["jsonable", "script_json", "write_atomic"]


def jsonable(x: Any) -> Any:
    """Plain JSON: numpy scalars unwrapped, NaN/inf -> null, DataFrames -> records."""
    if isinstance(x, pd.DataFrame):
        return [jsonable(r) for r in x.to_dict(orient="records")]
    if is_dataclass(x) and not isinstance(x, type):
        return jsonable(asdict(x))
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.bool_):
        return bool(x)
    if x is pd.NA or x is pd.NaT:
        return None
    return x


def script_json(obj: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>', '&' or JS line separators survive literally,
    so no string from a run can close the element or start markup."""
    if isinstance(obj, str):
        text = obj
    else:
        try:  # plain Python already (the common case): no slow walk
            text = json.dumps(obj, allow_nan=False)
        except (TypeError, ValueError):  # a numpy value or a NaN slipped in
            text = json.dumps(jsonable(obj), allow_nan=False, default=str)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text
