"""`sweepkit status SWEEP_ID`: the sweep's runs as a table (or JSON), and its best run."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Optional

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agent.backends import BackendError, RunRecord, SweepInfo
from agent.cli.session import Session, backend_option, pass_session, storage_option
from agent.paths import report_dir, run_page
from agent.redact import config_secrets, env_secrets, redact_mapping, redact_text
from agent.runners import slurm
from agent.states import RunState, SweepState, count_states, describe_counts, person_set_state, sweep_ended
from agent.sweep_config import dotted, swept_values
from agent.sweep_config.metric import NO_WANDB_RUN, best, finite, missing_reason


def swept_params(run: RunRecord, config: dict) -> dict:
    """The swept parameters of a run (its config restricted to the sweep's parameter keys)."""
    return swept_values(run.config, config.get("parameters") or {})


def lineage_note(run: RunRecord) -> str:
    """Where the run stands among its point's runs, or a warm start's prior run; "" for neither."""
    parts = [f"prior: sweep {run.prior}"] if run.prior else []
    parts += [f"re-run of {run.rerun_of}"] if run.rerun_of else []
    parts += [f"re-run as {run.rerun_by}"] if run.rerun_by else []
    return ", ".join(parts)


def shown(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs as `status` may show them: no secret in a reason, a config or a summary (the values of
    this shell's secret variables and of each run's own secret-looking keys)."""
    env = env_secrets()
    out = []
    for r in runs:
        known = env | config_secrets(r.config)
        out.append(
            dataclasses.replace(
                r,
                config=redact_mapping(r.config, known),
                summary=redact_mapping(r.summary, known),
                reason=redact_text(r.reason, known) if r.reason else r.reason,
            )
        )
    return out


def best_run(runs: list[RunRecord], metric: Optional[dict]) -> Optional[RunRecord]:
    if not metric or not metric.get("name"):
        return None
    return best((r for r in runs if r.state == RunState.FINISHED), lambda r: r.summary.get(metric["name"]), metric)


def missing_metric_line(info: SweepInfo, runs: list[RunRecord]) -> Optional[str]:
    """Finished runs without the sweep's metric: how many, and why (the keys they did log, nearest first)."""
    name = (info.metric or {}).get("name")
    lacking = [r for r in runs if name and r.state == RunState.FINISHED and not finite(r.summary.get(name))]
    if not name or not lacking:
        return None
    logged = {k: v for r in lacking for k, v in r.summary.items()}
    no_run = all(NO_WANDB_RUN in (r.reason or "") for r in lacking)
    why = missing_reason(name, logged, run_log=False if no_run else None, sweep_id=info.id)
    return f"{len(lacking)} finished run(s) have no {name}: {why}"


# What a sweep's agents do in each state a person sets, and how to change it.
_STATE_LINES = {
    SweepState.PAUSED: "its agents take no new run and wait; `sweepkit sweep --resume {id}` lets them go on",
    SweepState.STOPPED: "no new run starts, its agents exit; `sweepkit sweep --resume {id}` opens it again",
    SweepState.CANCELLED: "its runs were stopped, its agents exit; `sweepkit sweep --resume {id}` opens it again",
}


def status_view(info: SweepInfo, runs: list[RunRecord], pages: Path) -> Group:
    """The sweep as a table: constants above it, one row per run (columns: what varies), the best run."""
    metric = info.metric or {}
    flat = {r.id: dotted(swept_params(r, info.config)) for r in runs}
    every = list(dict.fromkeys(k for p in flat.values() for k in p))
    # constants (and anything equal in every run) go above the table; columns are what varies
    varying = [k for k in every if len({json.dumps(p.get(k), default=str) for p in flat.values()}) > 1]
    fixed = {k: v for k, v in (flat[runs[0].id] if runs else {}).items() if k not in varying}
    parts: list = []
    if fixed:
        parts.append(Text("same in every run: " + ", ".join(f"{k}={v}" for k, v in fixed.items())))
    table = Table(title=f"sweep {info.id} ({info.backend}, {info.config.get('method')}, {info.state})")
    notes = {r.id: lineage_note(r) for r in runs}
    linked = ["runs of the point"] if any(notes.values()) else []
    for col in ["run", "state", *varying, metric.get("name") or "metric", "runtime s", *linked, "reason"]:
        table.add_column(col, overflow="fold")
    for r in runs:
        v = r.summary.get(metric["name"]) if metric.get("name") else None
        table.add_row(
            r.id,
            r.state,
            *[str(flat[r.id].get(k, "")) for k in varying],
            f"{v:.6g}" if isinstance(v, (int, float)) else "",
            f"{r.runtime_s:.1f}" if r.runtime_s is not None else "",
            *([notes[r.id]] if linked else []),
            (r.reason or "")[:80],
        )
    parts.append(table)
    parts.append(Text(describe_counts(count_states(r.state for r in runs)) if runs else "no runs yet"))
    said = person_set_state(info.state)
    if said:
        parts.append(Text(f"the sweep is {said}: {_STATE_LINES[SweepState(said)].format(id=info.id)}"))
    lacking = missing_metric_line(info, runs)
    if lacking:
        parts.append(Text(lacking))
    top = best_run(runs, metric)
    if top:
        shown = {k: v for k, v in flat[top.id].items() if k in varying}
        page = pages / run_page(top.id)
        where = f"  page: {page}" if page.exists() else f"  dir: {top.run_dir or top.url}"
        parts.append(Text(f"best: run {top.id} {metric['name']}={top.summary[metric['name']]:.6g} {shown}{where}"))
    if (pages / "runs").is_dir():
        parts.append(Text(f"run pages: {pages / 'runs'}/<run id>.html (sweepkit report {info.id} writes them)"))
    return Group(*parts)


def with_slurm_jobs(sweep_id: str, view: Group) -> Group:
    """The view, then the sweep's SLURM job arrays (`agent --slurm N`) and their tasks' states."""
    lines = [line for job in slurm.jobs_of(sweep_id) for line in slurm.describe(job)]
    return Group(view, Text("\n".join(lines))) if lines else view


@click.command()
@click.argument("sweep_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"sweep": ..., "runs": [...]} for scripts.')
@click.option("--watch", is_flag=True, help="Keep the table current (a live terminal view) until the sweep ends.")
@click.option(
    "--every",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="With --watch: seconds between refreshes.",
)
@click.option(
    "--pages",
    "pages_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="The report folder whose run pages to point at [default: out/report-<sweep id>].",
)
@backend_option
@storage_option
@pass_session
def status_command(
    session: Session,
    sweep_id: str,
    as_json: bool,
    watch: bool,
    every: float,
    pages_dir: Optional[str],
    backend: Optional[str],
    storage: Optional[str],
) -> None:
    """Runs of SWEEP_ID (state, params, target metric, runtime) and the best run."""
    b = session.backend(backend or sweep_id, storage=storage, sweep_id=sweep_id)
    pages = Path(pages_dir) if pages_dir else report_dir(sweep_id)

    def read() -> tuple[SweepInfo, list[RunRecord]]:
        try:
            info = b.sweep(sweep_id)
            return dataclasses.replace(info, config=redact_mapping(info.config, env_secrets())), shown(b.runs(sweep_id))
        except BackendError as exc:
            session.fail(str(exc))

    info, runs = read()
    if as_json:
        rows = [
            {**r.to_json(), "page": str(pages / run_page(r.id)) if (pages / run_page(r.id)).exists() else None}
            for r in runs
        ]
        out = {"sweep": info.to_json(), "runs": rows}
        jobs = slurm.jobs_of(sweep_id)
        if jobs:
            out["slurm"] = [j.to_json() for j in jobs]
        click.echo(json.dumps(out, default=str))
        return
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    if not watch:
        console.print(with_slurm_jobs(sweep_id, status_view(info, runs, pages)))
        return
    try:
        with Live(
            with_slurm_jobs(sweep_id, status_view(info, runs, pages)), console=console, refresh_per_second=2
        ) as view:
            while not (sweep_ended(info.state) and not any(r.state == RunState.RUNNING for r in runs)):
                time.sleep(every)
                info, runs = read()
                view.update(with_slurm_jobs(sweep_id, status_view(info, runs, pages)))
    except KeyboardInterrupt:
        sys.exit(130)
