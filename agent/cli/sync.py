"""`sweepkit sync SWEEP_ID`: upload an offline sweep's runs to W&B, then make them a W&B sweep."""

from __future__ import annotations

import subprocess
from typing import Optional

import click

from agent.backends import BackendError
from agent.cli.session import Session, backend_option, pass_session, storage_option
from agent.runners.child import own_process_env


@click.command()
@click.argument("sweep_id")
@click.option("--project", default=None, help="W&B project [default: the sweep's `project`, else sweepkit].")
@click.option("--entity", default=None)
@click.option("--include-synced", is_flag=True, help="Upload runs that were synced before, again.")
@click.option("--dry-run", is_flag=True, help="Print the wandb sync commands; upload nothing.")
@backend_option
@storage_option
@pass_session
def sync_command(
    session: Session,
    sweep_id: str,
    project: Optional[str],
    entity: Optional[str],
    include_synced: bool,
    dry_run: bool,
    backend: Optional[str],
    storage: Optional[str],
) -> None:
    """Upload a sweep's offline runs to W&B with `wandb sync`, then create the W&B sweep that holds them
    (once: a second sync creates no second sweep). See docs/OFFLINE.md."""
    b = session.backend(backend or sweep_id, storage=storage, sweep_id=sweep_id)
    try:
        plan = b.sync_plan(sweep_id, project=project, entity=entity, include_synced=include_synced)
    except BackendError as exc:
        session.fail(str(exc), 1)
    for w in plan.warnings:
        session.err.print(w)
    for cmd in plan.commands:
        click.echo(subprocess.list2cmdline(cmd))
        if not dry_run:
            rc = subprocess.call(cmd, env=own_process_env())
            if rc != 0:
                session.fail(f"wandb sync exited {rc}; runs already uploaded stay uploaded, rerun to retry the rest", 1)
    if dry_run:
        click.echo(plan.sweep_note)
        return
    try:
        click.echo(b.finish_sync(sweep_id, plan))
    except BackendError as exc:
        session.fail(str(exc), 1)
