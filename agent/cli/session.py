"""What every `sweepkit` command shares, built once per invocation and passed down (click's pattern)."""

from __future__ import annotations

import sys
from typing import NoReturn, Optional

import click
from rich.console import Console

from agent.backends import Backend, BackendError, get_backend
from agent.sweep_config.limits import GRID_ENV, GRID_OPTION, MAX_GRID


class Session:
    def __init__(self) -> None:
        self.err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

    def fail(self, message: str, code: int = 2) -> NoReturn:
        """One line on stderr, then exit: bad input is 2, a step that failed is 1."""
        self.err.print(f"sweepkit: error: {message}")
        sys.exit(code)

    def backend(
        self,
        name_or_sweep_id: Optional[str],
        *,
        storage: Optional[str] = None,
        project: Optional[str] = None,
        entity: Optional[str] = None,
        sweep_id: Optional[str] = None,
    ) -> Backend:
        """The backend by name (or a sweep id's shape); `sweep_id` is checked against its form here,
        before anything is read (exit 2)."""
        try:
            return get_backend(
                name_or_sweep_id or "local", storage=storage, project=project, entity=entity, sweep_id=sweep_id
            )
        except BackendError as exc:
            self.fail(str(exc))

    def create_sweep(self, backend: Backend, config: dict, *, project: Optional[str], entity: Optional[str]) -> str:
        """A new sweep of a validated config, its id; a one-line error if the backend refuses."""
        try:
            return backend.create_sweep(config, project=project, entity=entity)
        except BackendError as exc:
            self.fail(str(exc))


pass_session = click.make_pass_decorator(Session, ensure=True)

storage_option = click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="PostgreSQL/MySQL URL shared by agents on several machines "
    "(default: $SWEEPKIT_STORAGE, else the embedded store under $SWEEPKIT_HOME or ./.sweepkit).",
)
project_option = click.option("--project", default=None, help="W&B project (W&B backend; a local sweep records it).")
entity_option = click.option("--entity", default=None, help="W&B entity (W&B backend).")
backend_option = click.option(
    "--backend",
    type=click.Choice(["local", "wandb"]),
    default=None,
    help="Default: W&B for entity/project/id paths, local otherwise.",
)
max_grid_option = click.option(
    GRID_OPTION,
    "max_grid",
    type=click.IntRange(min=1),
    default=MAX_GRID,
    show_default=True,
    envvar=GRID_ENV,
    show_envvar=True,
    help="Refuse a grid sweep of more points than this (each point is one run); counted, never built.",
)
