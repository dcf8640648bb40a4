"""`sweepkit sweep --pause|--resume|--stop|--cancel SWEEP`: set a sweep's state, W&B's meaning.

pause: agents take no new run and wait (running runs go on); resume: they take runs again; stop:
running runs finish, nothing new starts, agents exit 0; cancel: running runs are killed now, agents
exit 0. Exit 0 when the state is set; 2 for bad input or a change the sweep's state does not allow
(resuming a sweep with nothing left, pausing a cancelled one), in one line.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from typing import Any, Optional

import click

from agent.backends import BackendError
from agent.cli.session import Session
from agent.states import SweepState

# Each flag and the state it sets, declared once.
STATES = {
    "pause": SweepState.PAUSED,
    "resume": SweepState.RUNNING,
    "stop": SweepState.STOPPED,
    "cancel": SweepState.CANCELLED,
}
_HELP = {
    "pause": "Pause SWEEP: its agents take no new run and wait; running runs go on.",
    "resume": "Resume SWEEP (paused, stopped or cancelled): it hands out runs again.",
    "stop": "Stop SWEEP: running runs finish, no new run starts, its agents exit (0).",
    "cancel": "Cancel SWEEP: running runs are killed now (recorded as killed), its agents exit (0).",
}


def state_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--pause, --resume, --stop and --cancel, each taking the SWEEP it applies to."""
    for flag in reversed(STATES):
        command = click.option(f"--{flag}", flag, default=None, metavar="SWEEP", help=_HELP[flag])(command)
    return command


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "?"
    return f"{user}@{socket.gethostname()}"


def set_state(
    session: Session,
    flags: dict[str, Optional[str]],
    *,
    others: dict[str, Any],
    backend: Optional[str],
    storage: Optional[str],
    project: Optional[str],
    entity: Optional[str],
) -> None:
    """Check the flags (one line, exit 2), set the state, say what the sweep's agents will do."""
    given = [f for f, v in flags.items() if v]
    if not given:
        session.fail("give a sweep FILE to create a sweep, or --pause/--resume/--stop/--cancel SWEEP")
    if len(given) > 1:
        session.fail(f"--{given[0]} and --{given[1]} cannot be given together: pick one state for the sweep")
    flag, sweep_id = given[0], str(flags[given[0]])
    clash = [name for name, v in others.items() if v]
    if clash:
        session.fail(f"--{flag} SWEEP sets an existing sweep's state: drop {', '.join(clash)}")
    b = session.backend(backend or sweep_id, storage=storage, project=project, entity=entity, sweep_id=sweep_id)
    state = STATES[flag]
    try:
        said = b.set_sweep_state(sweep_id, state, why=f"`sweepkit sweep --{flag}` by {_who()}")
    except BackendError as exc:
        session.fail(str(exc))
    click.echo(f"{b.name} sweep {sweep_id} is {state.value}: {said}")
