"""A sweep's runs as the two tidy tables, read through any backend, incrementally, and cached on disk.

The backend lists the runs and reads each one's history (W&B: the public API; offline: the run's
`.wandb` log); this module never asks which backend it holds. Each run's history is kept under the
run's `data_key` (the backend's promise that the data has not changed), so an unchanged run is
never read again: not by a second report, and not by the next refresh of `report --watch`. When
every read is a network call (`listing_is_costly`), a finished sweep whose runs have all ended is
served from the disk cache with no call at all.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agent.backends.base import Backend, RunRecord, SweepInfo
from agent.paths import cache_root, safe_name
from agent.states import SweepState
from analysis.tables import tidy

# A sweep that hands out no more runs: ours, and W&B's own words for one (as its API returns them).
DONE_SWEEP_STATES = {SweepState.FINISHED, SweepState.STOPPED, SweepState.CANCELLED, "canceled", "crashed"}
CONSOLE_KEPT = 500  # console lines kept per run in the cache (the run page shows a tail)


def history_keys(summary: dict, metric: str | None) -> list[str]:
    """The metric rows a report needs: every eval/* value, the sweep metric and the trainer's step."""
    keys = sorted(k for k, v in summary.items() if k.startswith("eval/") and isinstance(v, (int, float)))
    if metric and metric not in keys:
        keys.insert(0, metric)
    # HF's WandbCallback logs the trainer step in the same rows; it is the curves' x axis.
    if keys and "train/global_step" in summary:
        keys.append("train/global_step")
    return keys


@dataclass
class RunData:
    """What is known of one run: its history in tidy form, its final summary, its console tail."""

    data_key: str | None
    frame: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    console: list[str] = field(default_factory=list)
    console_complete: bool = True  # False: only the tail kept in the cache


def by_run_order(hist: pd.DataFrame) -> pd.DataFrame:
    """The history with each run's rows together (runs in first-seen order, rows in their order)."""
    codes, _ = pd.factorize(hist["run_id"])
    if not np.any(np.diff(codes) < 0):
        return hist
    return hist.iloc[np.argsort(codes, kind="stable")].reset_index(drop=True)


def split_by_run(hist: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each run's rows, as slices of one sorted copy (a groupby builds ten thousand frames slowly)."""
    if not len(hist):
        return {}
    hist = by_run_order(hist)
    codes, ids = pd.factorize(hist["run_id"])
    bounds = np.searchsorted(codes, np.arange(len(ids) + 1))
    return {str(rid): hist.iloc[bounds[i] : bounds[i + 1]] for i, rid in enumerate(ids)}


def _seconds(system: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """System-metric rows with `_step` = seconds since the first sample (or their index if untimed)."""
    times = [r.get("_runtime") if isinstance(r.get("_runtime"), (int, float)) else r.get("_timestamp") for r in system]
    seconds = [float(t) for t in times if isinstance(t, (int, float))]
    timed = bool(times) and len(seconds) == len(times)
    t0 = min(seconds) if timed else 0.0
    return [{**r, "_step": round(seconds[i] - t0, 3) if timed else i} for i, r in enumerate(system)]


class RunSource:
    """`sweep_info()`, `runs_table()` and `history_table()` of one sweep; `refresh()` reads what changed."""

    def __init__(
        self, backend: Backend, sweep_id: str, *, cache_dir: str | Path | None = None, workers: int = 2, progress=None
    ):
        self.backend, self.sweep_id = backend, sweep_id
        self.dir = Path(cache_dir or cache_root()) / "runs" / safe_name(f"{backend.name}-{sweep_id}")
        self.workers, self.progress = workers, progress
        self.records: list[RunRecord] = []
        self.data: dict[str, RunData] = {}
        self.fresh: set[str] = set()  # runs (re)read by the last refresh
        self._info: SweepInfo | None = None
        self._runs: pd.DataFrame | None = None
        self._history: pd.DataFrame | None = None
        self._rows: list[dict] = []
        self._cached_history: pd.DataFrame | None = None  # the whole history as the cache held it

    # -- the disk cache ---------------------------------------------------------------------
    def _read_cache(self) -> dict:
        try:
            meta = json.loads((self.dir / "meta.json").read_text())
            hist = tidy.normalize_history(pd.read_parquet(self.dir / "history.parquet"))
        except (OSError, ValueError, ImportError, KeyError):
            return {}
        self._cached_history = hist
        by_run = split_by_run(hist)
        empty = tidy.empty_history()
        for rid, ent in (meta.get("runs") or {}).items():
            self.data[rid] = RunData(
                ent.get("data_key"),
                by_run.get(rid, empty),
                ent.get("summary") or {},
                ent.get("console") or [],
                console_complete=False,
            )
        return meta

    def write_cache(self) -> None:
        """Save what is known, so the next report (or refresh after a restart) reads only what changed."""
        if self._info is None:
            return
        runs = {
            rid: {"data_key": d.data_key, "summary": d.summary, "console": d.console[-CONSOLE_KEPT:]}
            for rid, d in self.data.items()
            if d.data_key
        }
        complete = str(self._info.state).lower() in DONE_SWEEP_STATES and all(r.terminal for r in self.records)
        meta = {
            "sweep": self._info.to_json(),
            "complete": complete,
            "records": self._rows,
            "runs": runs,
            "fetched_at": time.time(),
        }
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / "history.parquet.tmp"
            by_run_order(self.history_table()).to_parquet(tmp, index=False)  # read back as slices, no sort
            tmp.replace(self.dir / "history.parquet")
            tmp = self.dir / "meta.json.tmp"
            tmp.write_text(json.dumps(meta, default=str))
            tmp.replace(self.dir / "meta.json")
        except OSError:
            pass  # a read-only cache dir costs speed, not correctness

    # -- reading ----------------------------------------------------------------------------
    def _load(self) -> None:
        if self._runs is not None:
            return
        meta = self._read_cache()
        if self.backend.listing_is_costly and meta.get("complete") and meta.get("records"):
            self._info = SweepInfo(**meta["sweep"])
            self.records = [
                RunRecord(**{k: v for k, v in r.items() if k in RunRecord.__dataclass_fields__})
                for r in meta["records"]
            ]
            self._rows = meta["records"]
            self._tables()
            return
        self.refresh()
        self.write_cache()

    def refresh(self) -> set[str]:
        """List the runs again and read those whose data changed; returns their ids."""
        info = self._info = self.backend.sweep(self.sweep_id)
        self.records = self.backend.runs(self.sweep_id)
        metric = (info.metric or {}).get("name")
        todo = [
            r for r in self.records if not (r.data_key and r.id in self.data and self.data[r.id].data_key == r.data_key)
        ]
        task = self.progress.add_task("reading run histories", total=len(todo)) if self.progress and todo else None
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for rec, got in pool.map(lambda r: (r, self._read_run(r, metric)), todo):
                self.data[rec.id] = got
                if task is not None:
                    self.progress.advance(task)
        self.fresh = {r.id for r in todo}
        rows = []
        env = tidy.secret_env_values()
        for rec in self.records:
            d = tidy.safe_record(rec.to_json(), env)
            # A run's own log is the store of record; the backend's copy may predate its last flush.
            known = self.data[rec.id].summary if rec.id in self.data else {}
            d["summary"] = {**d["summary"], **{k: v for k, v in known.items() if v is not None}}
            rows.append(d)
        self._rows = rows
        self._tables()
        return self.fresh

    def _read_run(self, rec: RunRecord, metric: str | None) -> RunData:
        # Narrow the rows only where reading them costs network calls; a local log is read whole anyway.
        keys = history_keys(rec.summary, metric) if self.backend.listing_is_costly else None
        got = self.backend.history(self.sweep_id, rec, keys=keys)
        frame = pd.concat(
            [tidy.history_frame({rec.id: got.rows}), tidy.history_frame({rec.id: _seconds(got.system)})],
            ignore_index=True,
        )
        secrets = tidy.run_secrets(rec.config)  # the run's own config too: the reader's shell may lack them
        console = [tidy.redact_text(line, secrets) for line in got.console]
        return RunData(rec.data_key, frame, tidy.scrub(got.summary), console)

    def _tables(self) -> None:
        self._runs = tidy.runs_frame(self._rows)
        ids = {r.id for r in self.records} if self.records else {row["id"] for row in self._rows}
        cached = self._cached_history
        if cached is not None and not self.fresh:  # nothing re-read: the cached table is the history
            hist = cached if set(self.data) <= ids else cached[cached["run_id"].isin(ids)]
            self._history = hist.reset_index(drop=True) if len(hist) else tidy.empty_history()
            return
        frames = [d.frame for rid, d in self.data.items() if rid in ids and len(d.frame)]
        hist = pd.concat(frames, ignore_index=True) if frames else tidy.empty_history()
        self._history = tidy.normalize_history(hist) if len(hist) else tidy.empty_history()
        self._cached_history = self._history  # what the next unchanged refresh returns as it is

    def stamp(self) -> str | None:
        """Names the data of every run as last read (None when some run's data has no key)."""
        import hashlib

        self._load()
        keys = [(r.id, r.state, r.data_key) for r in self.records]
        if not keys or any(k[2] is None for k in keys):
            return None
        return hashlib.sha256(json.dumps(keys).encode()).hexdigest()

    # -- the answers ------------------------------------------------------------------------
    def sweep_info(self) -> SweepInfo:
        self._load()
        assert self._info is not None
        return self._info

    def runs_table(self) -> pd.DataFrame:
        self._load()
        assert self._runs is not None
        return self._runs

    def history_table(self) -> pd.DataFrame:
        self._load()
        assert self._history is not None
        return self._history
