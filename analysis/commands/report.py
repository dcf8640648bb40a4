"""`write_report`: the entry `sweepkit report` calls. Source -> tables -> ReportData -> files.

Errors a user can act on (bad sweep id, no finished runs, network down) come out as one
`ReportError` line; nothing here prints a traceback for them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from agent.backends.base import Backend, BackendError, SweepInfo
from agent.errors import one_line
from agent.states import person_set_state
from agent.sweep_config import SweepConfigError
from agent.sweep_config.metric import best
from analysis.commands.publish import publish_report
from analysis.render.outputs import step, write_outputs, write_run_pages
from analysis.report.build import build_report
from analysis.report.data import ReportData, ReportError
from analysis.report.retest import attach_retest
from analysis.report.scope import guess_maximize
from analysis.tables import tidy
from analysis.tables.sources import RunSource

__all__ = ["ReportError", "ReportResult", "report_from_source", "write_report"]


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
def _progress(console: Any) -> Iterator[Any]:
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


def summary_line(data: ReportData, html: Path) -> str:
    """One line: runs used, the best run's value and group (the best run, not the best group's), the takeaways."""
    goal = {"goal": "maximize" if data.maximize else "minimize"}
    top = best(data.per_model, lambda m: m["best_run"]["value"], goal) or data.per_model[0]
    head = (
        f"{data.counts['usable']}/{data.counts['total']} runs; best {data.metric} "
        f"{data.scale.fmt(top['best_run']['value'])} ({top['model']}, run {top['best_run']['run_id']})"
    )
    comp = data.takeaways.get("comparison", "") + " " + data.takeaways.get("retest", "")
    return " ".join(f"{head}. {comp} Report: {html}".split())  # one line, whatever runs are called


def _read(source: RunSource, sweep_id: str) -> tuple[SweepInfo, pd.DataFrame, pd.DataFrame]:
    """(sweep info, runs, history) of the source, or the one-line ReportError a reader can act on."""
    try:
        return source.sweep_info(), tidy.sanitize_runs(source.runs_table()), source.history_table()
    except BackendError as exc:
        raise ReportError(one_line(exc)) from exc
    except OSError as exc:
        raise ReportError(f"could not read the runs of {sweep_id}: {exc}") from exc


def report_from_source(
    source: RunSource,
    sweep_id: str,
    *,
    out_dir: str | Path,
    compare: str | None = None,
    seed_key: str = "seed",
    publish: bool = False,
    console: Any = None,
    live_data: dict[str, Any] | None = None,
    retest: str | None = None,
    metric: str | None = None,
    goal: str | None = None,
) -> ReportResult:
    t0 = time.perf_counter()
    with _progress(console) as progress:
        with step(progress, f"reading runs of {sweep_id}"):
            if source.progress is None:
                source.progress = progress
            info, runs, history = _read(source, sweep_id)
        config, note = with_metric(info.config, metric, goal)
        with step(progress, "computing statistics"):
            data = build_report(runs, history, config, compare, seed_key, sweep_id=sweep_id)
        data.sweep_state = person_set_state(info.state)
        if note:
            data.messages.insert(0, note)
        if retest:
            with step(progress, f"reading the re-test {retest}"):
                _attach_retest(data, RunSource(source.backend, retest), retest, seed_key)
        url = None
        if publish:  # first, so that the local report says whether and where it was published
            with step(progress, "publishing a W&B Report"):
                url, note = publish_report(data, info, source.backend)
            data.messages.append(note)
        paths = write_outputs(data, runs, history, out_dir, progress, live_data=live_data, data_stamp=source.stamp())
        with step(progress, "writing the run pages"):
            write_run_pages(source, out_dir)
    return ReportResult(
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


def with_metric(config: dict[str, Any], metric: str | None, goal: str | None) -> tuple[dict[str, Any], str | None]:
    """The sweep config with `--metric` / `--goal` as its metric, and the sentence that says so (None: unchanged).

    `--goal` defaults to the sweep's own where the metric is its own, else to what the name says (a loss is
    lower-better, anything else higher-better)."""
    own = dict(config.get("metric") or {})
    if metric is None and goal is None:
        return config, None
    name = metric or own.get("name")
    if not name:
        raise ReportError("--goal needs a metric: the sweep config names none; add --metric NAME")
    said = "given with --metric" if metric else "the sweep's metric"
    if goal is None and name == own.get("name"):
        goal = own.get("goal", "minimize")
    elif goal is None:
        goal = "maximize" if guess_maximize(name) else "minimize"
        said += ", the goal read from its name: pass --goal to change it"
    word = "higher" if goal == "maximize" else "lower"
    note = f"This report ranks runs by {name} ({word} is better; {said}"
    note += f"; the sweep's metric is {own['name']})." if own.get("name") and own.get("name") != name else ")."
    return {**config, "metric": {**own, "name": name, "goal": goal}}, note


def _attach_retest(data: ReportData, source: RunSource, retest_id: str, seed_key: str) -> None:
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
    console: Any = None,
    retest: str | None = None,
    metric: str | None = None,
    goal: str | None = None,
) -> ReportResult:
    """Write report.html/.md/.json, runs.csv and history.csv for one sweep into out_dir (ranked by
    `metric`/`goal` when given, else by the sweep's metric).

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
        metric=metric,
        goal=goal,
    )
