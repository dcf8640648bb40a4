"""A sweep's runs as the two tidy tables, read through any backend and cached on disk.

The backend lists the runs and reads each one's history (W&B: the public API; offline: the run's
`.wandb` log); this module never asks which backend it holds. Each run's history is cached under
the run's `data_key` (the backend's promise that the data has not changed), so an unchanged run
is never read again. When every read is a network call (`listing_is_costly`), a finished sweep
whose runs have all ended is served from the cache with no call at all.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from agent.backends.base import Backend, RunRecord, SweepInfo
from agent.paths import cache_root, safe_name
from analysis import tidy

DONE_SWEEP_STATES = {"finished", "canceled", "cancelled", "crashed"}


def history_keys(summary: dict, metric: str | None) -> list[str]:
    """The metric rows a report needs: every eval/* value, the sweep metric and the trainer's step."""
    keys = sorted(k for k, v in summary.items() if k.startswith("eval/") and isinstance(v, (int, float)))
    if metric and metric not in keys:
        keys.insert(0, metric)
    # HF's WandbCallback logs the trainer step in the same rows; it is the curves' x axis.
    if keys and "train/global_step" in summary:
        keys.append("train/global_step")
    return keys


def _scrubbed(rec: RunRecord) -> dict:
    d = rec.to_json()
    d["config"], d["summary"] = tidy.scrub(d.get("config") or {}), tidy.scrub(d.get("summary") or {})
    return d


class RunSource:
    """`sweep_info()`, `runs_table()` and `history_table()` of one sweep, read once."""

    def __init__(
        self, backend: Backend, sweep_id: str, *, cache_dir: str | Path | None = None, workers: int = 2, progress=None
    ):
        self.backend, self.sweep_id = backend, sweep_id
        self.dir = Path(cache_dir or cache_root()) / "runs" / safe_name(f"{backend.name}-{sweep_id}")
        self.workers, self.progress = workers, progress
        self._info: SweepInfo | None = None
        self._runs: pd.DataFrame | None = None
        self._history: pd.DataFrame | None = None

    # -- cache ------------------------------------------------------------------------------
    def _read_cache(self) -> tuple[dict, pd.DataFrame]:
        try:
            meta = json.loads((self.dir / "meta.json").read_text())
            hist = tidy.normalize_history(pd.read_parquet(self.dir / "history.parquet"))
            return meta, hist
        except (OSError, ValueError, ImportError, KeyError):
            return {}, tidy.empty_history()

    def _write_cache(self, meta: dict, hist: pd.DataFrame) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / "history.parquet.tmp"
            hist.to_parquet(tmp, index=False)
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
        meta, cached = self._read_cache()
        if self.backend.listing_is_costly and meta.get("complete") and meta.get("records"):
            self._info = SweepInfo(**meta["sweep"])
            self._finish(meta["records"], cached)
            return
        info = self._info = self.backend.sweep(self.sweep_id)
        records = self.backend.runs(self.sweep_id)
        known = meta.get("runs") or {}
        metric = (info.metric or {}).get("name")
        frames, summaries, index, todo = [], {}, {}, []
        for rec in records:
            ent = known.get(rec.id)
            if rec.data_key and ent and ent.get("data_key") == rec.data_key:
                frames.append(cached[cached["run_id"] == rec.id])
                summaries[rec.id] = ent.get("summary") or {}
                index[rec.id] = ent
            else:
                todo.append(rec)
        task = self.progress.add_task("reading run histories", total=len(todo)) if self.progress and todo else None
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for rec, frame, summary in pool.map(lambda r: self._read_run(r, metric), todo):
                frames.append(frame)
                summaries[rec.id] = summary
                if rec.data_key:
                    index[rec.id] = {"data_key": rec.data_key, "summary": summary}
                if task is not None:
                    self.progress.advance(task)
        hist = pd.concat(frames, ignore_index=True) if frames else tidy.empty_history()
        hist = tidy.normalize_history(hist) if len(hist) else tidy.empty_history()
        rows = []
        for rec in records:
            d = _scrubbed(rec)
            # A run's own log is the store of record; the backend's copy may predate its last flush.
            d["summary"] = {**d["summary"], **{k: v for k, v in summaries.get(rec.id, {}).items() if v is not None}}
            rows.append(d)
        complete = str(info.state).lower() in DONE_SWEEP_STATES and all(r.terminal for r in records)
        self._write_cache(
            {"sweep": info.to_json(), "complete": complete, "records": rows, "runs": index, "fetched_at": time.time()},
            hist,
        )
        self._finish(rows, hist)

    def _read_run(self, rec: RunRecord, metric: str | None) -> tuple[RunRecord, pd.DataFrame, dict[str, Any]]:
        # Narrow the rows only where reading them costs network calls; a local log is read whole anyway.
        keys = history_keys(rec.summary, metric) if self.backend.listing_is_costly else None
        got = self.backend.history(self.sweep_id, rec, keys=keys)
        frame = pd.concat(
            [
                tidy.history_frame({rec.id: got.rows}),
                tidy.history_frame({rec.id: [{**r, "_step": i} for i, r in enumerate(got.system)]}),
            ],
            ignore_index=True,
        )
        return rec, frame, tidy.scrub(got.summary)

    def _finish(self, records: list[dict], hist: pd.DataFrame) -> None:
        self._runs = tidy.runs_frame(records)
        self._history = hist

    # -- the three answers ------------------------------------------------------------------
    def sweep_info(self) -> SweepInfo:
        if self._info is None:
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
