"""`write_report`: the entry `sweepkit report` calls. Source -> tables -> ReportData -> files.

Errors a user can act on (bad sweep id, no finished runs, network down) come out as one
`ReportError` line; nothing here prints a traceback for them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agent.backends.base import Backend, BackendError
from agent.errors import one_line
from agent.sweep_config import SweepConfigError
from analysis import live, render, tidy
from analysis.build import build_report
from analysis.data import ReportData, ReportError
from analysis.files import write_atomic
from analysis.sources import RunSource

__all__ = ["ReportData", "ReportError", "ReportResult", "build_report", "write_report", "write_outputs"]


@dataclass
class ReportResult:
    html: Path
    md: Path
    json: Path
    runs_csv: Path
    history_csv: Path
    summary: str  # one line for the CLI
    data: ReportData
    published_url: str | None = None
    seconds: float = 0.0


@contextmanager
def _progress(console) -> Iterator:
    """A transient rich progress display on the given (or a stderr) console."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    console = console or Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as p:
        yield p


@contextmanager
def _step(progress, text: str) -> Iterator:
    task = progress.add_task(text, total=1) if progress is not None else None
    yield
    if task is not None:
        progress.update(task, completed=1)


def write_outputs(
    data: ReportData,
    runs,
    history,
    out_dir: str | Path,
    progress=None,
    *,
    live_data: dict | None = None,
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
        data.sweep_id, data.config, tidy.sanitize_runs(runs), history, stamp=new_stamp()
    )
    with _step(progress, "writing report.json"):
        text = render.write_json(data, paths["json"])
    done = _written(out, data_stamp, text)
    with _step(progress, "writing runs.csv and history.csv"):
        paths["runs_csv"], paths["history_csv"] = render.write_tables(runs, history, out, keep_history=done is not None)
    with _step(progress, "drawing report.html"):
        render.write_html(data, paths["html"], live_data)
        paths["live"] = live.write_live(out, live_data)
    with _step(progress, "drawing report.md figures"):
        images = render.write_md(data, paths["md"], images=done)
    if data_stamp:
        write_atomic(out / STAMP_FILE, json.dumps({"stamp": _stamp(data_stamp, text), "images": images}))
    return paths


STAMP_FILE = ".written.json"  # what the folder's history.csv and figures were drawn from


def _stamp(data_stamp: str, report_json: str) -> str:
    import hashlib

    return hashlib.sha256(f"{data_stamp}\n{report_json}".encode()).hexdigest()


def _written(out: Path, data_stamp: str | None, report_json: str) -> dict | None:
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


def new_stamp() -> str:
    """Names one writing of report.html; a page that sees another stamp in live.js reloads."""
    return f"{time.time():.6f}"


def write_run_pages(source: RunSource, out_dir: str | Path, only: set[str] | None = None) -> list[Path]:
    """runs/<id>.html for every run (or the runs in `only`), and the plotly file they share."""
    from analysis.runpage import write_run_page

    out = Path(out_dir)
    render.write_plotly_asset(out)
    runs = source.runs_table()
    metric = (source.sweep_info().metric or {}).get("name")
    env = render.env()
    # The data key each page was drawn from: a run whose key has not changed keeps its page (a
    # second report of a 10,000-run sweep rewrites none of them). A new page template redraws all.
    manifest_path = out / "runs" / ".pages.json"
    template = render.template_stamp("run.html.j2")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    if manifest.get("_template") != template:
        manifest = {"_template": template}
    rows = runs.to_dict(orient="records")
    written = []
    for i, rec in enumerate(source.records):
        page = out / live.run_page_path(rec.id)
        if only is not None and rec.id not in only and page.exists():
            continue
        if rec.data_key and manifest.get(rec.id) == rec.data_key and page.exists():
            continue
        row = rows[i] if i < len(rows) else {}
        written.append(
            write_run_page(out, env, rec, row, source.data.get(rec.id), sweep_id=source.sweep_id, metric=metric)
        )
        manifest[rec.id] = rec.data_key
    if written:
        write_atomic(manifest_path, json.dumps(manifest))
    return written


def summary_line(data: ReportData, html: Path) -> str:
    best = data.per_model[0]
    head = (
        f"{data.counts['usable']}/{data.counts['total']} runs; best {data.metric} "
        f"{data.scale.fmt(best['best_run']['value'])} ({best['model']})"
    )
    comp = data.takeaways.get("comparison", "") + " " + data.takeaways.get("retest", "")
    return " ".join(f"{head}. {comp} Report: {html}".split())  # one line, whatever runs are called


def report_from_source(
    source: RunSource,
    sweep_id: str,
    *,
    out_dir: str | Path,
    compare: str | None = None,
    seed_key: str = "seed",
    publish: bool = False,
    console=None,
    live_data: dict | None = None,
    retest: str | None = None,
) -> ReportResult:
    from analysis import tidy

    t0 = time.perf_counter()
    with _progress(console) as progress:
        try:
            with _step(progress, f"reading runs of {sweep_id}"):
                if source.progress is None:
                    source.progress = progress
                info = source.sweep_info()
                runs = tidy.sanitize_runs(source.runs_table())
                history = source.history_table()
        except BackendError as exc:
            raise ReportError(one_line(exc)) from exc
        except OSError as exc:
            raise ReportError(f"could not read the runs of {sweep_id}: {exc}") from exc
        with _step(progress, "computing statistics"):
            data = build_report(runs, history, info.config, compare, seed_key, sweep_id=sweep_id)
        if retest:
            with _step(progress, f"reading the re-test {retest}"):
                _attach_retest(data, RunSource(source.backend, retest), retest, seed_key)
        url = None
        if publish:  # first, so that the local report says whether and where it was published
            from analysis.publish import publish_report

            with _step(progress, "publishing a W&B Report"):
                url, note = publish_report(data, info, source.backend)
            data.messages.append(note)
        paths = write_outputs(data, runs, history, out_dir, progress, live_data=live_data, data_stamp=source.stamp())
        with _step(progress, "writing the run pages"):
            write_run_pages(source, out_dir)
    res = ReportResult(
        html=paths["html"],
        md=paths["md"],
        json=paths["json"],
        runs_csv=paths["runs_csv"],
        history_csv=paths["history_csv"],
        summary=summary_line(data, paths["html"]),
        data=data,
        published_url=url,
        seconds=time.perf_counter() - t0,
    )
    return res


def _attach_retest(data: ReportData, source: RunSource, retest_id: str, seed_key: str) -> None:
    from analysis.retest import attach_retest

    try:
        config = source.sweep_info().config
        runs = tidy.sanitize_runs(source.runs_table())
    except BackendError as exc:
        raise ReportError(f"re-test {retest_id}: {one_line(exc)}") from exc
    if runs.empty:
        raise ReportError(f"re-test {retest_id} has no runs yet; run it first: sweepkit agent {retest_id}")
    try:
        attach_retest(data, runs, config, retest_id=retest_id, seed_key=seed_key)
    except SweepConfigError as exc:
        raise ReportError(f"--retest {retest_id}: {exc}") from exc


def write_report(
    sweep_id: str,
    *,
    backend: Backend,
    out_dir: str | Path,
    compare: str | None = None,
    seed_key: str = "seed",
    publish: bool = False,
    console=None,
    retest: str | None = None,
) -> ReportResult:
    """Write report.html/.md/.json, runs.csv and history.csv for one sweep into out_dir.

    Raises ReportError (one line) when there is nothing to report or the runs cannot be read.
    """
    return report_from_source(
        RunSource(backend, sweep_id),
        sweep_id,
        out_dir=out_dir,
        compare=compare,
        seed_key=seed_key,
        publish=publish,
        console=console,
        retest=retest,
    )
