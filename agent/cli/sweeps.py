"""`sweepkit sweeps`: the sweeps a backend can see (local: this store; W&B: a project's)."""

from __future__ import annotations

import json
from typing import Optional

import click
from rich.console import Console
from rich.table import Table

from agent.backends import BackendError, IncompleteSweep
from agent.cli.session import Session, entity_option, pass_session, project_option, storage_option


def incomplete_lines(incomplete: list[IncompleteSweep]) -> list[str]:
    """What `sweeps` says of sweeps it does not list: those an interrupted `sweep` left, and how to
    remove them; those still being made."""
    lines = []
    left = [s for s in incomplete if s.abandoned]
    if left:
        n = len(left)
        how = "; ".join(
            f"`sweepkit doctor --repair {s.id}" + (f" --storage URL` ({s.storage})" if s.storage else "`") for s in left
        )
        lines.append(f"{n} incomplete sweep{'s' * (n > 1)} left by an interrupted `sweepkit sweep`: run {how}")
    making = [s.id for s in incomplete if not s.abandoned]
    if making:
        lines.append(f"{len(making)} sweep(s) being created right now, not listed yet: {', '.join(making)}")
    return lines


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--backend", type=click.Choice(["local", "wandb"]), default="local", show_default=True)
@project_option
@entity_option
@storage_option
@pass_session
def sweeps_command(
    session: Session, as_json: bool, backend: str, project: Optional[str], entity: Optional[str], storage: Optional[str]
) -> None:
    """Sweeps of a backend: local ones under $SWEEPKIT_HOME (default ./.sweepkit), or a W&B project's."""
    b = session.backend(backend, storage=storage, project=project, entity=entity)
    try:
        found, incomplete = b.list_sweeps(), b.incomplete_sweeps()
    except BackendError as exc:
        session.fail(str(exc))
    for line in incomplete_lines(incomplete):
        session.err.print(line)
    if as_json:
        click.echo(json.dumps([s.to_json() for s in found], default=str))
        return
    if not found:
        session.err.print("no sweeps here; create one with `sweepkit sweep FILE`")
        return
    table = Table()
    for col in ("id", "method", "name", "state", "created", "path"):
        table.add_column(col)
    for s in found:
        table.add_row(s.id, str(s.config.get("method")), s.name, s.state, s.created_at or "", s.path or "")
    Console(highlight=False).print(table)
