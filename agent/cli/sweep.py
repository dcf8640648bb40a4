"""`sweepkit sweep FILE`: validate a sweep YAML and create the sweep."""

from __future__ import annotations

from typing import Optional

import click

from agent.cli.session import Session, entity_option, max_grid_option, pass_session, project_option, storage_option
from agent.cli.validate import load_valid


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--backend", type=click.Choice(["local", "wandb"]), default="local", show_default=True)
@project_option
@entity_option
@storage_option
@max_grid_option
@pass_session
def sweep_command(
    session: Session,
    file: str,
    backend: str,
    project: Optional[str],
    entity: Optional[str],
    storage: Optional[str],
    max_grid: int,
) -> None:
    """Validate FILE and create a sweep; the sweep id is the last line printed."""
    config = load_valid(session, file, max_grid)
    b = session.backend(backend, storage=storage, project=project, entity=entity)
    sweep_id = session.create_sweep(b, config, project=project, entity=entity)
    session.err.print(
        f"created {backend} sweep ({config.get('method')}); run it with: sweepkit agent {sweep_id}"
        + (f" --storage {storage}" if storage else "")
    )
    click.echo(sweep_id)
