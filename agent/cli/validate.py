"""`sweepkit validate FILE...`: W&B's sweep schema, and the trial's own keys when the sweep runs our trial."""

from __future__ import annotations

import sys
from typing import Optional

import click

from agent.cli.session import Session, max_grid_option, pass_session
from agent.sweep_config import ParamCheck, Problem, SweepConfigError, load_sweep_file, module_args, validate
from agent.sweep_config.limits import MAX_GRID
from agent.trial import TRIAL_MODULE


def trial_check(config: dict) -> Optional[ParamCheck]:
    """When the sweep's command runs sweepkit's trial (`-m agent`), check each parameter against its table."""
    if not isinstance(config.get("command"), list) or module_args(config["command"], TRIAL_MODULE) is None:
        return None
    from agent.trial.config import check_draws

    return lambda name, d: check_draws(name, d.values, d.low, d.high, d.integral, d.nested)


def problems_of(path: str, max_grid: int = MAX_GRID) -> tuple[Optional[dict], list[str]]:
    """(the config, every problem as one line) of a sweep file."""
    try:
        config = load_sweep_file(path)
    except SweepConfigError as exc:
        return None, [str(exc)]
    found: list[Problem] = validate(
        config, check_param=trial_check(config) if isinstance(config, dict) else None, max_grid=max_grid
    )
    return config, [str(p) for p in found]


def load_valid(session: Session, path: str, max_grid: int = MAX_GRID) -> dict:
    """The config of a valid sweep file; otherwise every problem on stderr and exit 2."""
    config, problems = problems_of(path, max_grid)
    for p in problems[1:] if config is None else problems:
        session.err.print(f"{path}: {p}")
    if config is None:
        session.fail(problems[0])
    if problems:
        session.fail(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}; sweep not valid")
    return config


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@max_grid_option
@pass_session
def validate_command(session: Session, files: tuple[str, ...], max_grid: int) -> None:
    """Check sweep YAMLs against W&B's sweep schema and, for sweeps of sweepkit's trial, its keys and
    ranges (exit 2 and one line per problem if not)."""
    bad = 0
    for path in files:
        _, problems = problems_of(path, max_grid)
        for p in problems:
            session.err.print(p if p.startswith(path) else f"{path}: {p}")
        if problems:
            bad += 1
        else:
            click.echo(f"{path}: ok")
    if bad:
        sys.exit(2)
