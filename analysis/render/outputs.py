"""Every file of a report folder from one ReportData and the run tables, and the run pages from a source.

What a folder was last written from is kept beside it (`.written.json`, `runs/.pages.json`), so a second
report of unchanged runs redraws none of the costly files: history.csv, report.md's figures, run pages.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pandas as pd

from agent.paths import run_page
from analysis.render import documents, live
from analysis.render.files import write_atomic, write_tables
from analysis.render.runpage import write_run_page
from analysis.render.templating import env, template_stamp
from analysis.report.data import ReportData
from analysis.tables.sources import RunSource
from analysis.tables.tidy import sanitize_runs

STAMP_FILE = ".written.json"  # what the folder's history.csv and figures were drawn from


@contextmanager
def step(progress: Any, text: str) -> Iterator[None]:
    """One step of a rich progress display (none: `progress` is None)."""
    task = progress.add_task(text, total=1) if progress is not None else None
    yield
    if task is not None:
        progress.update(task, completed=1)


def new_stamp() -> str:
    """Names one writing of report.html; a page that sees another stamp in live.js reloads."""
    return f"{time.time():.6f}"


def write_outputs(
    data: ReportData,
    runs: pd.DataFrame,
    history: pd.DataFrame,
    out_dir: str | Path,
    progress: Any = None,
    *,
    live_data: dict[str, Any] | None = None,
    data_stamp: str | None = None,
) -> dict[str, Path]:
    """Every report file; `live_data` is the progress section (default: the runs as they are, final).

    `data_stamp` names the runs' data (None: unknown). When it and the report's own numbers are
    what the folder was last written from, the two costly files that follow from them alone,
    history.csv and report.md's figures, are kept as they are."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "md": out / "report.md", "json": out / "report.json"}
    live_data = live_data or live.payload(
        data.sweep_id, data.config, sanitize_runs(runs), history, stamp=new_stamp(), state=data.sweep_state
    )
    with step(progress, "writing report.json"):
        text = documents.write_json(data, paths["json"])
    done = _written(out, data_stamp, text)
    with step(progress, "writing runs.csv and history.csv"):
        paths["runs_csv"], paths["history_csv"] = write_tables(runs, history, out, keep_history=done is not None)
    with step(progress, "drawing report.html"):
        documents.write_html(data, paths["html"], live_data)
        paths["live"] = live.write_live(out, live_data)
    with step(progress, "drawing report.md figures"):
        images = documents.write_md(data, paths["md"], images=done)
    if data_stamp:
        write_atomic(out / STAMP_FILE, json.dumps({"stamp": _stamp(data_stamp, text), "images": images}))
    return paths


def _stamp(data_stamp: str, report_json: str) -> str:
    return hashlib.sha256(f"{data_stamp}\n{report_json}".encode()).hexdigest()


def _written(out: Path, data_stamp: str | None, report_json: str) -> dict[str, str] | None:
    """The figures of the last writing, if it was from these same runs and numbers and its files are there."""
    if not data_stamp:
        return None
    try:
        last = json.loads((out / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None
    images = last.get("images")
    if last.get("stamp") != _stamp(data_stamp, report_json) or not isinstance(images, dict):
        return None
    if not (out / "history.csv").is_file() or not all((out / f).is_file() for f in images.values()):
        return None
    return images


def _page_manifest(path: Path, template: str) -> dict[str, Any]:
    """The data key each run page was drawn from; empty when the page template has changed since."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        manifest = {}
    return manifest if isinstance(manifest, dict) and manifest.get("_template") == template else {"_template": template}


def write_run_pages(source: RunSource, out_dir: str | Path, only: set[str] | None = None) -> list[Path]:
    """runs/<id>.html for every run (or the runs in `only`), and the plotly file they share.

    A run whose data key has not changed keeps its page (a second report of a 10,000-run sweep
    rewrites none of them); a new page template redraws all."""
    out = Path(out_dir)
    documents.write_plotly_asset(out)
    metric = (source.sweep_info().metric or {}).get("name")
    manifest_path = out / "runs" / ".pages.json"
    manifest = _page_manifest(manifest_path, template_stamp("run.html.j2"))
    rows = cast(list[dict[str, Any]], source.runs_table().to_dict(orient="records"))  # columns are names
    written = []
    for i, rec in enumerate(source.records):
        page = out / run_page(rec.id)
        if only is not None and rec.id not in only and page.exists():
            continue
        if rec.data_key and manifest.get(rec.id) == rec.data_key and page.exists():
            continue
        row = rows[i] if i < len(rows) else {}
        data = source.data.get(rec.id)
        written.append(write_run_page(out, env(), rec, row, data, sweep_id=source.sweep_id, metric=metric))
        manifest[rec.id] = rec.data_key
    if written:
        write_atomic(manifest_path, json.dumps(manifest))
    return written
