"""`sweepkit rerun SWEEP [--state failed,crashed,killed] [--runs ID,...]`: run points of a sweep again."""

from __future__ import annotations

from typing import Optional

import click

from agent.backends import BackendError
from agent.cli.session import Session, backend_option, pass_session, storage_option
from agent.states import RunState
from agent.sweep_config import dotted

DEFAULT_STATES = (RunState.FAILED, RunState.CRASHED, RunState.KILLED)
ENDED = [s.value for s in RunState if s.terminal]


def split_list(value: Optional[str]) -> list[str]:
    """ "a, b,,c" -> ["a", "b", "c"]: a comma-separated option's items."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_states(session: Session, value: Optional[str]) -> list[str]:
    """The run states `--state` names; one line and exit 2 for any other word."""
    states = split_list(value) or [s.value for s in DEFAULT_STATES]
    for s in states:
        if s == RunState.RUNNING:
            session.fail("--state running: runs still running cannot be re-run; wait for them to end")
        if s not in ENDED:
            session.fail(f"--state {s!r} is not a run state; choose from {', '.join(ENDED)}")
    return states


@click.command()
@click.argument("sweep_id")
@click.option(
    "--state",
    "state_list",
    default=None,
    metavar="STATE,...",
    help="Re-run every run in these states whose point was not run again yet [default: failed,crashed,killed].",
)
@click.option("--runs", "run_list", default=None, metavar="ID,...", help="Re-run these runs, whatever their state.")
@backend_option
@storage_option
@pass_session
def rerun_command(
    session: Session,
    sweep_id: str,
    state_list: Optional[str],
    run_list: Optional[str],
    backend: Optional[str],
    storage: Optional[str],
) -> None:
    """Queue points of SWEEP_ID to run again, as new runs of the same sweep with the same params.

    The earlier runs stay in its history, linked to their re-runs (`rerun_of`, `rerun_by` in
    `status --json`); the report counts each point once, with its latest finished run. A finished
    sweep runs again: start agents with the line this prints."""
    if state_list and run_list:
        session.fail("pass --runs or --state, not both (--runs re-runs the named runs whatever their state)")
    states = parse_states(session, state_list)
    b = session.backend(backend or sweep_id, storage=storage, sweep_id=sweep_id)
    try:
        done = b.rerun(sweep_id, states=states, run_ids=split_list(run_list))
    except BackendError as exc:
        session.fail(str(exc))
    for run_id, params in done.queued:
        shown = ", ".join(f"{k}={v}" for k, v in dotted(params).items())
        session.err.print(f"queued again: the point of run {run_id} ({shown})")
    for note in done.passed:
        session.err.print(f"passed over: {note}")
    session.err.print(
        f"queued {len(done.queued)} re-run(s) in sweep {sweep_id}; run them with: sweepkit agent {sweep_id}"
        + (f" --storage {storage}" if storage else "")
    )
    click.echo(sweep_id)
