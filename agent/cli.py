"""`sweepkit`: validate, create and run W&B-style sweeps, online (W&B) or fully offline (local).

Exit codes: 0 ok; 1 runs failed (agent's failure guard) or a step failed; 2 bad input (config,
sweep id, unreachable store); 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Optional

import click
from rich.console import Console
from rich.table import Table

from agent.backends import BackendError, get_backend, is_wandb_path

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

storage_opt = click.option("--storage", envvar="SWEEPKIT_STORAGE", default=None, metavar="URL",
                           help="PostgreSQL/MySQL URL shared by agents on several machines "
                                "(default: embedded store under $SWEEPKIT_HOME or ./.sweepkit).")


def fail(message: str, code: int = 2) -> None:
    err.print(f"sweepkit: error: {message}")
    sys.exit(code)


def _load_valid(path: str) -> dict:
    from agent.sweep_config import load_sweep_file, validate
    try:
        config = load_sweep_file(path)
    except Exception as exc:  # unreadable file, bad YAML: the loader's message is the one line
        fail(str(exc).splitlines()[0] if str(exc) else f"{path}: {type(exc).__name__}")
    problems = validate(config)
    if problems:
        for p in problems:
            err.print(f"{path}: {p}")
        fail(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}; sweep not valid")
    return config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sweepkit")
def cli() -> None:
    """W&B-style hyperparameter sweeps, with W&B or fully offline."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check sweep YAMLs against W&B's sweep schema (exit 2 and one line per problem if not)."""
    from agent.sweep_config import load_sweep_file
    from agent.sweep_config import validate as check
    bad = 0
    for path in files:
        try:
            problems = [str(p) for p in check(load_sweep_file(path))]
        except Exception as exc:
            problems = [str(exc).splitlines()[0] if str(exc) else type(exc).__name__]
        for p in problems:
            err.print(p if p.startswith(path) else f"{path}: {p}")
        if problems:
            bad += 1
        else:
            click.echo(f"{path}: ok")
    if bad:
        sys.exit(2)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--backend", type=click.Choice(["local", "wandb"]), default="local", show_default=True)
@click.option("--project", default=None, help="W&B project (wandb backend; recorded for sync locally).")
@click.option("--entity", default=None, help="W&B entity (wandb backend).")
@storage_opt
def sweep(file: str, backend: str, project: Optional[str], entity: Optional[str], storage: Optional[str]) -> None:
    """Validate FILE and create a sweep; the sweep id is the last line printed."""
    config = _load_valid(file)
    try:
        b = get_backend(backend, storage=storage if backend == "local" else None, project=project, entity=entity)
        sweep_id = b.create_sweep(config, project=project, entity=entity)
    except BackendError as exc:
        fail(str(exc))
    err.print(f"created {backend} sweep ({config.get('method')}); run it with: sweepkit agent {sweep_id}"
              + (f" --storage {storage}" if storage else ""))
    click.echo(sweep_id)


@cli.command()
@click.argument("sweep_id")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Run at most N trials, then exit.")
@click.option("--backend", type=click.Choice(["local", "wandb"]), default=None,
              help="Default: W&B for entity/project/id paths, local otherwise.")
@click.option("--project", default=None)
@click.option("--entity", default=None)
@storage_opt
@click.option("--heartbeat-timeout", type=float, default=None, envvar="SWEEPKIT_HEARTBEAT_TIMEOUT",
              help="Seconds without a heartbeat before another agent declares a trial lost and "
                   "requeues it [default: 60].")
@click.option("--max-consecutive-failures", type=click.IntRange(min=1), default=None,
              help="Stop after N failed runs in a row [default: $WANDB_AGENT_MAX_INITIAL_FAILURES or 5].")
@click.option("--kill-delay", type=float, default=None,
              help="Seconds between SIGTERM and SIGKILL for a stopped run [default: $WANDB_AGENT_KILL_DELAY or 30].")
@click.option("--no-sweep-id", "no_sweep_id", is_flag=True, envvar="SWEEPKIT_NO_SWEEP_ID",
              help="Leave WANDB_SWEEP_ID unset in local trials so `sweepkit sync` can upload them "
                   "(W&B rejects runs naming a sweep it does not have); params still arrive via "
                   "WANDB_SWEEP_PARAM_PATH.")
@click.option("-v", "--verbose", is_flag=True, help="Echo each run's output too (always in its agent.log).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Run N agents at once on this machine, in one progress view (CPU boxes; GPUs: --gpus).")
@click.option("--gpus", default=None, metavar="all|0,1,...",
              help="Start --per-gpu agents on each listed GPU, each pinned with CUDA_VISIBLE_DEVICES.")
@click.option("--per-gpu", default="1", show_default=True, metavar="N|auto",
              help="Agents per GPU with --gpus; auto fills free GPU memory from the first trial's measured peak.")
@click.option("--warm/--cold", default=None,
              help="--warm (the default with --workers/--gpus): each agent runs trial after trial in its own "
                   "process, imports and caches kept. --cold: a fresh process per trial (wandb agent's way).")
def agent(sweep_id: str, count: Optional[int], backend: Optional[str], project, entity, storage,
          heartbeat_timeout, max_consecutive_failures, kill_delay, no_sweep_id, verbose,
          workers, gpus, per_gpu, warm) -> None:
    """Pull trials of SWEEP_ID and run them until the sweep is done (or --count trials ran, per agent)."""
    if workers or gpus or warm or per_gpu != "1":
        _launch(sweep_id, workers=workers, gpus=gpus, per_gpu=per_gpu, warm=warm is not False, count=count,
                backend=backend, storage=storage, project=project, entity=entity,
                heartbeat_timeout=heartbeat_timeout, max_consecutive_failures=max_consecutive_failures,
                kill_delay=kill_delay, verbose=verbose, no_sweep_id=no_sweep_id)
    try:
        b = get_backend(backend or sweep_id, storage=storage, project=project, entity=entity)
        code = b.run_agent(sweep_id, count=count, heartbeat_timeout=heartbeat_timeout,
                           max_consecutive_failures=max_consecutive_failures, kill_delay=kill_delay,
                           verbose=verbose, **({"link_sweep": False} if no_sweep_id else {}))
    except BackendError as exc:
        fail(str(exc))
    if code == 130:
        err.print("interrupted: the running trial was stopped and marked failed (grid points are requeued)")
    sys.exit(code)


def _launch(sweep_id: str, *, per_gpu: str, gpus: Optional[str], **kw) -> None:
    """Several agents at once (agent/launcher.py); exits with the launcher's code."""
    from agent.launcher import LaunchError, launch
    if per_gpu != "1" and not gpus:
        fail("--per-gpu applies to --gpus; on a CPU box use --workers N")
    try:
        code = launch(sweep_id, gpus=gpus, per_gpu=per_gpu, **kw)
    except (LaunchError, BackendError) as exc:
        fail(str(exc))
    sys.exit(code)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def best_run(runs, metric: Optional[dict]):
    if not metric or not metric.get("name"):
        return None
    name, goal = metric["name"], metric.get("goal", "minimize")
    scored = [r for r in runs if r.state == "finished" and isinstance(r.summary.get(name), (int, float))]
    if not scored:
        return None
    pick = max if goal == "maximize" else min
    return pick(scored, key=lambda r: r.summary[name])


@cli.command()
@click.argument("sweep_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"sweep": ..., "runs": [...]} for scripts.')
@click.option("--backend", type=click.Choice(["local", "wandb"]), default=None)
@storage_opt
def status(sweep_id: str, as_json: bool, backend: Optional[str], storage: Optional[str]) -> None:
    """Runs of SWEEP_ID (state, params, target metric, runtime) and the best run."""
    try:
        b = get_backend(backend or sweep_id, storage=storage)
        info = b.sweep(sweep_id)
        runs = b.runs(sweep_id)
    except BackendError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps({"sweep": info.to_json(), "runs": [r.to_json() for r in runs]}, default=str))
        return
    metric = info.metric or {}
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    flat = {r.id: _flat(_params(r, info.config)) for r in runs}
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
        table.add_row(r.id, r.state, *[str(flat[r.id].get(k, "")) for k in varying],
                      f"{v:.6g}" if isinstance(v, (int, float)) else "",
                      f"{r.runtime_s:.1f}" if r.runtime_s is not None else "", (r.reason or "")[:80])
    console.print(table)
    best = best_run(runs, metric)
    counts = {s: sum(r.state == s for r in runs) for s in sorted({r.state for r in runs})}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) or "no runs yet")
    if best:
        shown = {k: v for k, v in flat[best.id].items() if k in varying}
        console.print(f"best: run {best.id} {metric['name']}={best.summary[metric['name']]:.6g} "
                      f"{shown}  dir: {best.run_dir or best.url}")


def _params(run, config: dict) -> dict:
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


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def sweeps(as_json: bool) -> None:
    """Local sweeps under $SWEEPKIT_HOME (default ./.sweepkit)."""
    from agent.backends.local import LocalBackend
    found = LocalBackend(storage=None).list_sweeps()
    if as_json:
        click.echo(json.dumps([s.to_json() for s in found], default=str))
        return
    if not found:
        err.print("no local sweeps here; create one with `sweepkit sweep FILE`")
        return
    table = Table()
    for col in ("id", "method", "name", "state", "created", "path"):
        table.add_column(col)
    for s in found:
        table.add_row(s.id, str(s.config.get("method")), s.name, s.state, s.created_at or "", s.path or "")
    Console(highlight=False).print(table)


@cli.command()
@click.argument("sweep_id")
@click.option("--project", default=None, help="W&B project [default: the sweep's `project`, else sweepkit].")
@click.option("--entity", default=None)
@click.option("--include-synced", is_flag=True, help="Upload runs that were synced before, again.")
@click.option("--dry-run", is_flag=True, help="Print the wandb sync commands; upload nothing.")
@storage_opt
def sync(sweep_id: str, project, entity, include_synced: bool, dry_run: bool, storage) -> None:
    """Upload a local sweep's offline runs to W&B with `wandb sync` (see docs/OFFLINE.md)."""
    from agent.sync import default_project, offline_run_dirs, sync_commands
    if is_wandb_path(sweep_id):
        fail(f"{sweep_id} is a W&B sweep already; sync is for local sweeps")
    try:
        b = get_backend("local", storage=storage)
        info = b.sweep(sweep_id)
        runs = [r for r in b.runs(sweep_id) if r.state != "running"]
    except BackendError as exc:
        fail(str(exc))
    linked = set(b.linked_run_ids(sweep_id)) & {r.id for r in runs}
    if linked:
        err.print(f"warning: {len(linked)} of {len(runs)} runs were made with WANDB_SWEEP_ID={sweep_id}, a sweep "
                  "W&B does not have; W&B may reject them (404). Run agents with --no-sweep-id to make "
                  "runs you can sync (docs/OFFLINE.md).")
    dirs = offline_run_dirs(runs)
    if not dirs:
        fail(f"sweep {sweep_id} has no finished offline runs on this machine to sync", 1)
    cmds = sync_commands(dirs, project=project or default_project(info.config),
                         entity=entity or info.config.get("entity"), include_synced=include_synced)
    for cmd in cmds:
        click.echo(subprocess.list2cmdline(cmd))
        if not dry_run:
            rc = subprocess.call(cmd)
            if rc != 0:
                fail(f"wandb sync exited {rc}; runs already uploaded stay uploaded, rerun to retry the rest", 1)


@cli.command()
@click.argument("sweep_id")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Output folder [default: out/report-<sweep id>].")
@click.option("--compare", default=None, help="Parameter whose values the report compares (e.g. model).")
@click.option("--seed-key", default="seed", show_default=True, help="Config key that holds the seed.")
@click.option("--publish", is_flag=True, help="Also publish a W&B Report (needs W&B access).")
@click.option("--backend", type=click.Choice(["local", "wandb"]), default=None)
@click.option("--project", default=None)
@click.option("--entity", default=None)
@storage_opt
def report(sweep_id: str, out_dir: Optional[str], compare, seed_key, publish, backend, project, entity,
           storage) -> None:
    """Write report.html/.md/.json and runs/history CSVs for SWEEP_ID."""
    try:
        from analysis.report import ReportError, write_report
    except ImportError as exc:
        fail(f"the report needs sweepkit's analysis package ({exc}); reinstall sweepkit", 1)
    try:
        b = get_backend(backend or sweep_id, storage=storage, project=project, entity=entity)
        result = write_report(sweep_id, backend=b, out_dir=out_dir or f"out/report-{sweep_id.split('/')[-1]}",
                              compare=compare, seed_key=seed_key, publish=publish, console=err)
    except (BackendError, ReportError) as exc:
        fail(str(exc))
    click.echo(result.summary)


def main() -> None:
    try:
        cli(prog_name="sweepkit", standalone_mode=True)
    except BackendError as exc:
        fail(str(exc))
    except Exception as exc:  # a bug or an unforeseen environment: one line, traceback on request
        if os.environ.get("SWEEPKIT_DEBUG"):
            raise
        fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
             "(set SWEEPKIT_DEBUG=1 for the traceback)", 1)


if __name__ == "__main__":
    main()
