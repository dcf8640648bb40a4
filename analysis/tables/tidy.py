"""Run records -> the two tidy tables every report is built from, with secrets removed.

`runs`: one row per run: META columns, then flattened config keys, then scalar summary
metrics. `history`: long table run_id, step, metric, value. Both sources (W&B API, local
store) produce exactly this, so nothing downstream knows where runs came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from agent.redact import REDACTED, config_secrets, env_secrets, is_secret_key, redact_text, redact_value
from agent.sweep_config import dotted

__all__ = ["REDACTED", "is_secret_key", "redact_text", "redact_value"]  # the one rule, re-exported for analysis

META = [
    "run_id",
    "name",
    "state",
    "reason",
    "runtime_s",
    "created_at",
    "ended_at",
    "url",
    "tags",
    "rerun_of",  # the run whose point this one ran again (`agent.lineage`)
    "rerun_by",  # the run that ran this one's point again
    "prior",  # a warm start's run: the earlier sweep it ran in
]
# The report's name of a measurement -> every name runs log it under, first found wins: sweepkit's trial
# (its summary), then a stock HF Trainer under W&B (bare single-value scalars in the summary; the
# parameter count in the config, as `model/num_parameters`).
MEASURES = {
    "train/train_samples_per_second": ("train/train_samples_per_second", "train_samples_per_second"),
    "train/train_runtime": ("train/train_runtime", "train_runtime"),
    "num_parameters": ("num_parameters", "model/num_parameters"),
}
HISTORY_COLUMNS = ["run_id", "step", "metric", "value"]


def secret_env_values() -> frozenset[str]:
    """The secret values of this process's environment (`agent.redact.env_secrets`)."""
    return env_secrets()


def run_secrets(config: Mapping | None, env: frozenset[str] | None = None) -> frozenset[str]:
    """What to look for in one run's text: the environment's secrets and its own config's."""
    return (secret_env_values() if env is None else env) | config_secrets(config)


def scrub(d: Mapping) -> dict:
    """Drop secret-looking keys at every depth (before anything is cached on disk)."""
    return {k: scrub(v) if isinstance(v, Mapping) else v for k, v in d.items() if not is_secret_key(k)}


def _redact_deep(v: Any, known: frozenset[str]) -> Any:
    if isinstance(v, Mapping):
        return {k: _redact_deep(x, known) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_redact_deep(x, known) for x in v]
    return redact_value(v, known)


def safe_record(rec: Mapping, env: frozenset[str] | None = None) -> dict:
    """A run record (RunRecord-shaped dict) fit to keep and show: its strings without the secrets of
    the environment and of its own config, then its secret-looking keys dropped."""
    known = run_secrets(rec.get("config"), env)
    out = {k: _redact_deep(v, known) if k not in ("id", "state", "run_dir") else v for k, v in rec.items()}
    out["config"], out["summary"] = scrub(out.get("config") or {}), scrub(out.get("summary") or {})
    return out


def _unwrap(v: Any) -> Any:
    """W&B's raw config shape {"k": {"value": v}} -> v, at every depth."""
    if isinstance(v, Mapping):
        return v["value"] if set(v) == {"value"} else {k: _unwrap(x) for k, x in v.items()}
    return v


def flatten(d: Mapping) -> dict[str, Any]:
    """Nested sweep parameters come back as nested dicts; columns use dotted names."""
    return dotted({k: _unwrap(v) for k, v in d.items()})


def _scalar(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v) if isinstance(v, (float, np.floating)) else int(v)
    if isinstance(v, str):
        return v
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return str(list(v))
    return None  # histograms, tables, media: not a column


def record_row(rec: Mapping, env: frozenset[str]) -> dict[str, Any]:
    """One run record (RunRecord-shaped dict) -> one flat row, without the secrets of `env` and of the
    run's own config."""
    secrets = run_secrets(rec.get("config"), env)
    row: dict[str, Any] = {}
    for k, v in flatten(rec.get("config") or {}).items():
        if k.startswith("_") or is_secret_key(k):
            continue
        sv = _scalar(v)
        if sv is not None:
            row[k if k not in META else f"config:{k}"] = redact_value(sv, secrets)
    for k, v in (rec.get("summary") or {}).items():
        if k.startswith("_") or is_secret_key(k) or isinstance(v, Mapping):
            continue
        sv = _scalar(v)
        if sv is None:
            continue
        col = k if (k not in row and k not in META) else f"summary:{k}"
        row[col] = redact_value(sv, secrets)
    tags = rec.get("tags") or []
    row.update(
        {
            "run_id": redact_value(str(rec.get("id", "")), secrets),
            "name": redact_value(str(rec.get("name") or rec.get("id") or ""), secrets),
            "state": str(rec.get("state") or "unknown").lower(),
            "reason": redact_value(rec.get("reason") or (rec.get("summary") or {}).get("failure_reason"), secrets),
            "runtime_s": rec.get("runtime_s"),
            "created_at": rec.get("created_at"),
            "ended_at": rec.get("ended_at"),
            "url": rec.get("url"),
            "tags": redact_value(", ".join(map(str, tags)), secrets) if tags else None,
            "rerun_of": rec.get("rerun_of"),
            "rerun_by": rec.get("rerun_by"),
            "prior": rec.get("prior"),
        }
    )
    return row


def runs_frame(records: Iterable[Mapping]) -> pd.DataFrame:
    secrets = secret_env_values()
    rows = [record_row(r, secrets) for r in records]
    df = pd.DataFrame(rows)
    for c in META:
        if c not in df.columns:
            df[c] = None
    if "runtime_s" in df:
        df["runtime_s"] = pd.to_numeric(df["runtime_s"], errors="coerce")
    rest = [c for c in df.columns if c not in META]
    return df[META + rest]


def sanitize_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Idempotent: drop secret-looking columns, redact secret-looking values (any source)."""
    secrets = secret_env_values()
    keep = [c for c in df.columns if not is_secret_key(c.split(":", 1)[-1])]
    df = df[keep].copy()
    for c in df.columns:
        if pd.api.types.is_object_dtype(df[c]) or pd.api.types.is_string_dtype(df[c]):
            df[c] = df[c].map(lambda v: redact_value(v, secrets))
    return df


def with_measures(df: pd.DataFrame) -> pd.DataFrame:
    """runs with each MEASURES column filled, run by run, from the first of its names that run logged."""
    out = df
    for name, names in MEASURES.items():
        found = [n for n in names if n in df.columns]
        if not found or found == [name]:
            continue
        col = pd.Series(np.nan, index=df.index, dtype=float)
        for n in found:
            col = col.fillna(pd.to_numeric(df[n], errors="coerce"))
        out = out.assign(**{name: col})
    return out


def history_frame(
    rows_by_run: Mapping[str, list[dict]],
    *,
    keep: set[str] | None = None,
    step_keys: tuple[str, ...] = ("train/global_step", "_step"),
) -> pd.DataFrame:
    """{run_id: [logged rows]} -> long table; x is the trainer's global step when logged."""
    frames = []
    for run_id, rows in rows_by_run.items():
        if not rows:
            continue
        wide = pd.DataFrame.from_records(rows)
        step = None
        for sk in step_keys:
            if sk in wide:
                step = pd.to_numeric(wide[sk], errors="coerce")
                if step.notna().any():
                    break
        if step is None:
            step = pd.Series(np.arange(len(wide)), dtype=float)
        wide = wide.assign(__step=step.to_numpy())
        cols = [
            c
            for c in wide.columns
            if c != "__step"
            and not c.startswith("_")
            and c not in step_keys
            and (keep is None or c in keep)
            and not is_secret_key(c)
        ]
        if not cols:
            continue
        long = wide.melt(id_vars="__step", value_vars=cols, var_name="metric", value_name="value")
        long["value"] = pd.to_numeric(long["value"], errors="coerce")
        long = long.dropna(subset=["value"]).rename(columns={"__step": "step"})
        long.insert(0, "run_id", run_id)
        frames.append(long)
    if not frames:
        return empty_history()
    return normalize_history(pd.concat(frames, ignore_index=True))


def empty_history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": pd.Series(dtype=str),
            "step": pd.Series(dtype=float),
            "metric": pd.Series(dtype=str),
            "value": pd.Series(dtype=float),
        }
    )


def normalize_history(h: pd.DataFrame) -> pd.DataFrame:
    h = h[HISTORY_COLUMNS].copy()
    h["run_id"] = h["run_id"].astype(str)
    h["metric"] = h["metric"].astype(str)
    h["step"] = pd.to_numeric(h["step"], errors="coerce")
    h["value"] = pd.to_numeric(h["value"], errors="coerce")
    return h


def text(s: pd.Series) -> pd.Series:
    """Values as labels; missing ones become "(none)" (pandas 3 keeps NaN through astype(str))."""
    return s.map(lambda v: "(none)" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)).astype(object)
