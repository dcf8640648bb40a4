"""Writing report files safely: JSON-able values, JSON that cannot close a <script>, CSVs a spreadsheet
will not run, atomic writes."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agent.paths import write_atomic
from analysis.tables.tidy import sanitize_runs

__all__ = ["jsonable", "script_json", "spreadsheet_safe", "write_atomic", "write_tables"]


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


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading quote."""
    out = df
    for c in df.columns:
        if not (pd.api.types.is_object_dtype(df[c]) or pd.api.types.is_string_dtype(df[c])):
            continue
        bad = {v for v in df[c].dropna().unique() if isinstance(v, str) and v[:1] in ("=", "+", "-", "@")}
        if bad:  # looked up among the distinct values: millions of history rows hold a few metric names
            out = out.copy() if out is df else out
            out[c] = df[c].map(lambda v, bad=bad: f"'{v}" if v in bad else v)
    return out


def _csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV through Arrow's writer: ten times pandas' speed on millions of history rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


def write_tables(
    runs: pd.DataFrame, history: pd.DataFrame, out: Path, *, keep_history: bool = False
) -> tuple[Path, Path]:
    """runs.csv (secrets removed) and history.csv (kept as it is with `keep_history`), spreadsheet-safe."""
    rp, hp = out / "runs.csv", out / "history.csv"
    write_atomic(rp, spreadsheet_safe(sanitize_runs(runs)).to_csv(index=False))
    if not keep_history:
        write_atomic(hp, _csv_bytes(spreadsheet_safe(history)))
    return rp, hp
