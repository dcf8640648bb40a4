"""`sweepkit sweep FILE`: validate a sweep YAML and create the sweep; `--prior` warm-starts it from
earlier sweeps' runs, `--extend SWEEP` makes FILE the config of an existing sweep instead;
`--pause|--resume|--stop|--cancel SWEEP` set an existing sweep's state (`agent/cli/sweep_state.py`)."""

from __future__ import annotations

from typing import Optional

import click

from agent.backends import BackendError
from agent.cli.rerun import split_list
from agent.cli.session import Session, entity_option, max_grid_option, pass_session, project_option, storage_option
from agent.cli.sweep_state import set_state, state_options
from agent.cli.validate import load_valid
from agent.cli.warmstart import gather


@click.command()
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@state_options
@click.option(
    "--backend",
    type=click.Choice(["local", "wandb"]),
    default=None,
    help="Default: local; with --extend or a state flag, the backend of that sweep.",
)
@click.option(
    "--extend",
    "extend_id",
    default=None,
    metavar="SWEEP",
    help="Make FILE the config of SWEEP when it only adds (a larger run_cap, new grid values, a wider range); "
    "a finished sweep runs again, its runs kept.",
)
@click.option(
    "--prior",
    "prior_list",
    default=None,
    metavar="SWEEP,...",
    help="Seed the new sweep with these sweeps' finished runs that fit its space (bayes learns from them, "
    "a grid skips the points they ran).",
)
@click.option("--no-skip", is_flag=True, help="With --prior on a grid: run every point, those already run too.")
@project_option
@entity_option
@storage_option
@max_grid_option
@pass_session
def sweep_command(
    session: Session,
    file: Optional[str],
    pause: Optional[str],
    resume: Optional[str],
    stop: Optional[str],
    cancel: Optional[str],
    backend: Optional[str],
    extend_id: Optional[str],
    prior_list: Optional[str],
    no_skip: bool,
    project: Optional[str],
    entity: Optional[str],
    storage: Optional[str],
    max_grid: int,
) -> None:
    """Validate FILE and create a sweep; the sweep id is the last line printed. Or set SWEEP's state
    (--pause, --resume, --stop, --cancel): exit 0 when set, 2 when refused (one line says why)."""
    flags = {"pause": pause, "resume": resume, "stop": stop, "cancel": cancel}
    if any(flags.values()) or not file:
        used = {"FILE": file, "--extend": extend_id, "--prior": prior_list, "--no-skip": no_skip or None}
        set_state(session, flags, others=used, backend=backend, storage=storage, project=project, entity=entity)
        return
    if extend_id and (prior_list or no_skip):
        session.fail("--extend keeps the sweep's own runs; --prior and --no-skip apply to a new sweep")
    if no_skip and not prior_list:
        session.fail("--no-skip applies with --prior (a grid then runs the points prior runs ran, too)")
    config = load_valid(session, file, max_grid)
    b = session.backend(
        backend or extend_id or "local", storage=storage, project=project, entity=entity, sweep_id=extend_id
    )
    again = f"sweepkit agent {{}}{f' --storage {storage}' if storage else ''}"
    if extend_id:
        try:
            done = b.extend_sweep(extend_id, config)
        except BackendError as exc:
            session.fail(str(exc))
        queued = f"; queued {done.new_points} new grid point(s)" if done.new_points else ""
        session.err.print(
            f"extended {b.name} sweep {extend_id}: {'; '.join(done.changes)}{queued}; "
            f"run it with: {again.format(extend_id)}"
        )
        click.echo(extend_id)
        return
    priors = split_list(prior_list)
    seed = None
    if priors:
        try:
            seed = gather(b, config, priors)
        except BackendError as exc:
            session.fail(str(exc))
        session.err.print(seed.line(priors, config, skip_done=not no_skip))
    try:
        sweep_id = b.create_sweep(
            config, project=project, entity=entity, prior=seed.runs if seed else (), skip_done=not no_skip
        )
    except BackendError as exc:
        session.fail(str(exc))
    session.err.print(f"created {b.name} sweep ({config.get('method')}); run it with: {again.format(sweep_id)}")
    click.echo(sweep_id)
