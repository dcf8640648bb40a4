"""Where runs come from: the W&B API or the local store, behind one `RunSource` interface.

Both produce `analysis.tidy` tables. W&B fetches are bulk (one paged `runs` query with
lazy=False), retried with exponential backoff on 429/network errors, and cached on disk:
runs that reached a terminal state never change, so a finished sweep is served from the
cache with no network call at all.
"""
from __future__ import annotations

import abc
import json
import os
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from agent.backends.base import TERMINAL_STATES, Backend, SweepInfo
from analysis import tidy


DONE_SWEEP_STATES = {"finished", "canceled", "cancelled", "crashed"}


class SourceError(RuntimeError):
    """One-line, user-facing: the runs could not be read (network, missing store...)."""


def cache_root() -> Path:
    env = os.environ.get("SWEEPKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "sweepkit"


def _safe_part(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip(".") or "_"


class RunSource(abc.ABC):
    """A sweep's runs as tidy tables; `sweep_info()` gives its config (metric goal, params)."""

    @abc.abstractmethod
    def sweep_info(self) -> SweepInfo: ...

    _runs: pd.DataFrame | None = None
    _history: pd.DataFrame | None = None

    @abc.abstractmethod
    def _load(self) -> None:
        """Fill `_runs` (one row per run) and `_history` (run, step, metric, value), once."""

    def runs_table(self) -> pd.DataFrame:
        self._load()
        return self._runs

    def history_table(self) -> pd.DataFrame:
        self._load()
        return self._history


# --------------------------------------------------------------------------- retry
def _retryable(exc: BaseException) -> bool:
    import requests
    import wandb.errors

    if isinstance(exc, (requests.exceptions.RequestException, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, wandb.errors.CommError):
        return True
    return "429" in str(exc) or "rate limit" in str(exc).lower()


def with_retry(fn: Callable[[], Any], *, what: str, retries: int = 6, base_delay: float = 1.0,
               sleep: Callable[[float], None] = time.sleep) -> Any:
    """Exponential backoff with jitter (1, 2, 4... s, capped at 60) on 429/network errors."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified just below
            if not _retryable(exc) or attempt == retries:
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise SourceError(f"W&B request failed while {what}: {msg[:200]} "
                                  f"(check network access and WANDB_API_KEY)") from exc
            sleep(min(60.0, base_delay * 2 ** attempt) * (1 + random.random() / 4))


# --------------------------------------------------------------------------- W&B
def history_keys(summary: dict, metric: str | None) -> list[str]:
    keys = sorted(k for k, v in summary.items()
                  if k.startswith("eval/") and isinstance(v, (int, float)))
    if metric and metric not in keys:
        keys.insert(0, metric)
    # HF's WandbCallback logs the trainer step in the same rows; it is the curves' x axis.
    if keys and "train/global_step" in summary:
        keys.append("train/global_step")
    return keys


def run_to_record(run) -> dict:
    """A `wandb.apis.public.Run` -> the RunRecord-shaped dict `tidy` understands."""
    summary = dict(run.summary_metrics or {})
    attrs = getattr(run, "_attrs", {}) or {}
    try:
        url = run.url
    except Exception:  # noqa: BLE001 - a run without a reachable app URL still reports
        url = None
    runtime = summary.get("_runtime") or summary.get("train/train_runtime")
    return {"id": run.id, "name": run.name or run.id, "state": run.state,
            "config": tidy.scrub(dict(run.config or {})), "summary": tidy.scrub(summary),
            "runtime_s": runtime, "reason": summary.get("failure_reason"), "url": url,
            "created_at": attrs.get("createdAt"), "tags": list(attrs.get("tags") or [])}


class WandbSource(RunSource):
    def __init__(self, sweep_id: str, *, backend: Backend | None = None, api=None,
                 cache_dir: str | Path | None = None, samples: int = 500, per_page: int = 500,
                 retries: int = 6, base_delay: float = 1.0, sleep=time.sleep, progress=None):
        self.sweep_id = sweep_id
        self.backend = backend
        self._api = api
        self.samples, self.per_page = samples, per_page
        self._retry = dict(retries=retries, base_delay=base_delay, sleep=sleep)
        self.dir = Path(cache_dir or cache_root()) / "wandb" / _safe_part(sweep_id)
        self.progress = progress
        self._info: SweepInfo | None = None
        self._runs: pd.DataFrame | None = None
        self._history: pd.DataFrame | None = None

    @property
    def api(self):
        if self._api is None:
            import wandb
            self._api = with_retry(lambda: wandb.Api(timeout=60), what="connecting", **self._retry)
        return self._api

    # -- cache
    def _cached_meta(self) -> dict | None:
        try:
            return json.loads((self.dir / "meta.json").read_text())
        except (OSError, ValueError):
            return None

    def _load_cache(self) -> tuple[list[dict], pd.DataFrame]:
        try:
            records = json.loads((self.dir / "runs.json").read_text())
            hist = pd.read_parquet(self.dir / "history.parquet")
            return records, tidy.normalize_history(hist)
        except (OSError, ValueError, ImportError):
            return [], tidy.empty_history()

    def _save_cache(self, info: SweepInfo, records: list[dict], hist: pd.DataFrame, complete: bool):
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "history.parquet.tmp"
        hist.to_parquet(tmp, index=False)
        tmp.replace(self.dir / "history.parquet")
        (self.dir / "runs.json").write_text(json.dumps(records, default=str))
        (self.dir / "meta.json").write_text(json.dumps(
            {"sweep": info.to_json(), "complete": complete, "fetched_at": time.time()}, default=str))

    # -- fetch
    def _resolve(self) -> SweepInfo:
        if self.backend is not None:
            return with_retry(lambda: self.backend.sweep(self.sweep_id), what="reading the sweep",
                              **self._retry)
        sw = with_retry(lambda: self.api.sweep(self.sweep_id), what="reading the sweep", **self._retry)
        path = "/".join([sw.entity, sw.project, sw.id])
        state = "finished" if str(getattr(sw, "state", "")).upper() in {"FINISHED", "CANCELED"} \
            else "running"
        return SweepInfo(id=sw.id, backend="wandb", config=dict(sw.config), state=state,
                         name=getattr(sw, "name", "") or "", path=path)

    def _load(self) -> None:
        if self._runs is not None:
            return
        meta = self._cached_meta()
        if meta and meta.get("complete"):
            records, hist = self._load_cache()
            if records:
                self._info = SweepInfo(**meta["sweep"])
                self._finish(records, hist)
                return
        info = self._resolve()
        path = info.path or self.sweep_id
        entity, project, sid = (path.split("/") + ["", "", ""])[:3] if path.count("/") == 2 \
            else ("", "", path)
        project_path = f"{entity}/{project}" if entity else project
        runs = with_retry(lambda: list(self.api.runs(project_path, filters={"sweep": sid},
                                                      per_page=self.per_page, lazy=False)),
                          what="listing runs", **self._retry)
        old_records, old_hist = self._load_cache()
        done_before = {r["id"] for r in old_records if r.get("state") in TERMINAL_STATES}
        metric = (info.config.get("metric") or {}).get("name")
        records, fresh = [], {}
        task = self.progress.add_task("fetching W&B history", total=len(runs)) if self.progress else None
        for run in runs:
            rec = run_to_record(run)
            records.append(rec)
            if rec["id"] not in done_before:
                fresh[rec["id"]] = self._fetch_history(run, history_keys(rec["summary"], metric))
            if self.progress:
                self.progress.advance(task)
        current = {r["id"] for r in records}
        kept = old_hist[old_hist["run_id"].isin((done_before & current) - set(fresh))]
        hist = pd.concat([kept, *fresh.values()], ignore_index=True) if fresh else kept
        hist = tidy.normalize_history(hist) if len(hist) else tidy.empty_history()
        complete = str(info.state).lower() in DONE_SWEEP_STATES and all(r["state"] in TERMINAL_STATES for r in records)
        self._save_cache(info, records, hist, complete)
        self._info = info
        self._finish(records, hist)

    def _fetch_history(self, run, keys: list[str]) -> pd.DataFrame:
        rows = with_retry(lambda: run.history(keys=keys, samples=self.samples, pandas=False)
                          if keys else [], what=f"reading history of run {run.id}", **self._retry)
        system = with_retry(lambda: run.history(stream="system", samples=self.samples, pandas=False),
                            what=f"reading system metrics of run {run.id}", **self._retry)
        parts = [tidy.history_frame({run.id: list(rows or [])})]
        sysrows = [{**{tidy.system_key(k): v for k, v in r.items() if not k.startswith("_")},
                    "_step": i} for i, r in enumerate(system or [])]
        parts.append(tidy.history_frame({run.id: sysrows}))
        return pd.concat(parts, ignore_index=True)

    def _finish(self, records: list[dict], hist: pd.DataFrame) -> None:
        self._runs = tidy.runs_frame(records)
        self._history = hist

    def sweep_info(self) -> SweepInfo:
        self._load()
        assert self._info is not None
        return self._info


# --------------------------------------------------------------------------- local store
def read_run_dir(run_dir: str) -> tuple[list[dict], list[dict], dict]:
    """History rows, stats rows and the accumulated summary, from ONE pass of wandb's reader."""
    from agent import runreader

    hist, stats, summary = [], [], {}
    for rec in runreader.iter_records(run_dir):
        t = rec.get("type")
        if t == "history":
            hist.append(rec["history"]["item"])
        elif t == "stats":
            stats.append(rec["stats"]["item"])
        elif t == "summary":
            summary.update((rec["summary"] or {}).get("update") or {})
    return hist, stats, summary


class LocalSource(RunSource):
    """Optuna (via the local backend) for sweep state; each run's offline .wandb log for data.

    Reading a log is a ~30 ms subprocess; results are cached per run, keyed by the log's
    size and mtime, so an unchanged run is never re-read.
    """

    def __init__(self, sweep_id: str, *, backend: Backend, cache_dir: str | Path | None = None,
                 workers: int = 2, progress=None):
        self.sweep_id, self.backend = sweep_id, backend
        self.dir = Path(cache_dir or cache_root()) / "local" / _safe_part(sweep_id)
        self.workers, self.progress = workers, progress
        self._info = None
        self._runs = self._history = None

    def sweep_info(self) -> SweepInfo:
        if self._info is None:
            self._info = self.backend.sweep(self.sweep_id)
        return self._info

    def _read(self, rec) -> tuple[str, str | None, pd.DataFrame, dict]:
        from agent import runreader

        f = runreader.find_run_file(rec.run_dir) if rec.run_dir else None
        if f is None:
            return rec.id, None, tidy.empty_history(), {}
        st = f.stat()
        key = f"{f}:{st.st_size}:{st.st_mtime_ns}"
        try:
            hist, stats, summary = read_run_dir(str(f))
        except (runreader.RunReadError, OSError, ValueError) as exc:
            return rec.id, None, tidy.empty_history(), {"failure_reason": f"unreadable log: {exc}"}
        sysrows = [{**{tidy.system_key(k): v for k, v in r.items() if not k.startswith("_")},
                    "_step": i} for i, r in enumerate(stats)]
        frame = pd.concat([tidy.history_frame({rec.id: hist}),
                           tidy.history_frame({rec.id: sysrows})], ignore_index=True)
        return rec.id, key, frame, tidy.scrub(summary)

    def _load(self) -> None:
        if self._runs is not None:
            return
        records = self.backend.runs(self.sweep_id)
        index, cached = {}, tidy.empty_history()
        try:
            index = json.loads((self.dir / "index.json").read_text())
            cached = tidy.normalize_history(pd.read_parquet(self.dir / "history.parquet"))
        except (OSError, ValueError, ImportError):
            index = {}
        todo, frames, summaries, new_index = [], [], {}, {}
        from agent import runreader
        for rec in records:
            f = runreader.find_run_file(rec.run_dir) if rec.run_dir else None
            ent = index.get(rec.id)
            if f is not None and ent and ent["key"] == f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns}":
                frames.append(cached[cached["run_id"] == rec.id])
                summaries[rec.id] = ent.get("summary", {})
                new_index[rec.id] = ent
            else:
                todo.append(rec)
        task = self.progress.add_task("reading offline runs", total=len(todo)) if self.progress else None
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for rid, key, frame, summary in pool.map(self._read, todo):
                frames.append(frame)
                summaries[rid] = summary
                if key:
                    new_index[rid] = {"key": key, "summary": summary}
                if self.progress:
                    self.progress.advance(task)
        hist = pd.concat(frames, ignore_index=True) if frames else tidy.empty_history()
        hist = tidy.normalize_history(hist) if len(hist) else tidy.empty_history()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            hist.to_parquet(self.dir / "history.parquet", index=False)
            (self.dir / "index.json").write_text(json.dumps(new_index, default=str))
        except OSError:
            pass   # a read-only cache dir costs speed, not correctness
        rows = []
        for rec in records:
            d = rec.to_json()
            # The .wandb log is the store of record; the backend's copy may predate its last flush.
            d["summary"] = {**(d.get("summary") or {}),
                            **{k: v for k, v in summaries.get(rec.id, {}).items() if v is not None}}
            rows.append(d)
        self._runs = tidy.runs_frame(rows)
        self._history = hist


# --------------------------------------------------------------------------- choice
SOURCES: dict[str, Callable[..., RunSource]] = {
    "wandb": lambda sweep_id, backend, **kw: WandbSource(sweep_id, backend=backend, **kw),
    "local": lambda sweep_id, backend, **kw: LocalSource(sweep_id, backend=backend, **kw),
}


def source_for(backend: Backend, sweep_id: str, **kwargs) -> RunSource:
    """The one place that maps a backend to the source that reads its runs."""
    name = getattr(backend, "name", None)
    if name not in SOURCES:
        raise SourceError(f"no report source for backend {name!r}; expected one of {sorted(SOURCES)}")
    return SOURCES[name](sweep_id, backend, **kwargs)
