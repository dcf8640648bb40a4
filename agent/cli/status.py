"""`sweepkit status SWEEP_ID`: the sweep's runs as a table (or JSON), and its best run."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click
from rich.console import Console
from rich.table import Table

from agent.backends import BackendError, RunRecord
from agent.cli.session import Session, backend_option, pass_session, storage_option
from agent.sweep_config import dotted
from agent.sweep_config.metric import best


def swept_params(run: RunRecord, config: dict) -> dict:
    """The swept parameters of a run (its config restricted to the sweep's parameter keys)."""

    def pick(cfg: dict, params: dict) -> dict:
        out = {}
        for k, spec in (params or {}).items():
            if k not in cfg:
                continue
            if isinstance(spec, dict) and "parameters" in spec and isinstance(cfg[k], dict):
                out[k] = pick(cfg[k], spec["parameters"])
            else:
                out[k] = cfg[k]
        return out

    return pick(run.config, config.get("parameters") or {})


def best_run(runs: list[RunRecord], metric: Optional[dict]) -> Optional[RunRecord]:
    if not metric or not metric.get("name"):
        return None
    return best((r for r in runs if r.state == "finished"), lambda r: r.summary.get(metric["name"]), metric)


@click.command()
@click.argument("sweep_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"sweep": ..., "runs": [...]} for scripts.')
@backend_option
@storage_option
@pass_session
def status_command(
    session: Session, sweep_id: str, as_json: bool, backend: Optional[str], storage: Optional[str]
) -> None:
    """Runs of SWEEP_ID (state, params, target metric, runtime) and the best run."""
    b = session.backend(backend or sweep_id, storage=storage)
    try:
        info = b.sweep(sweep_id)
        runs = b.runs(sweep_id)
    except BackendError as exc:
        session.fail(str(exc))
    if as_json:
        click.echo(json.dumps({"sweep": info.to_json(), "runs": [r.to_json() for r in runs]}, default=str))
        return
    metric = info.metric or {}
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    flat = {r.id: dotted(swept_params(r, info.config)) for r in runs}
    every = list(dict.fromkeys(k for p in flat.values() for k in p))
    # constants (and anything equal in every run) go above the table; columns are what varies
    varying = [k for k in every if len({json.dumps(p.get(k), default=str) for p in flat.values()}) > 1]
    fixed = {k: v for k, v in (flat[runs[0].id] if runs else {}).items() if k not in varying}
    if fixed:
        console.print("same in every run: " + ", ".join(f"{k}={v}" for k, v in fixed.items()))
    table = Table(title=f"sweep {info.id} ({info.backend}, {info.config.get('method')}, {info.state})")
    for col in ["run", "state", *varying, metric.get("name") or "metric", "runtime s", "reason"]:
        table.add_column(col, overflow="fold")
    for r in runs:
        v = r.summary.get(metric.get("name")) if metric.get("name") else None
        table.add_row(
            r.id,
            r.state,
            *[str(flat[r.id].get(k, "")) for k in varying],
            f"{v:.6g}" if isinstance(v, (int, float)) else "",
            f"{r.runtime_s:.1f}" if r.runtime_s is not None else "",
            (r.reason or "")[:80],
        )
    console.print(table)
    top = best_run(runs, metric)
    counts = {s: sum(r.state == s for r in runs) for s in sorted({r.state for r in runs})}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) or "no runs yet")
    if top:
        shown = {k: v for k, v in flat[top.id].items() if k in varying}
        console.print(
            f"best: run {top.id} {metric['name']}={top.summary[metric['name']]:.6g} "
            f"{shown}  dir: {top.run_dir or top.url}"
        )
