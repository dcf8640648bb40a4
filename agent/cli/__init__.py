"""`sweepkit`: validate, create and run W&B-style sweeps, online (W&B) or fully offline (local).

One module per command; what they share (the error console, backend lookup) is a `Session`
built once per invocation and passed down. Exit codes: 0 ok; 1 runs failed (the agent's failure
guard) or a step failed; 2 bad input (config, sweep id, unreachable store); 28 the disk is full; 130 interrupted;
143 preempted (SIGTERM, or SLURM's time-limit warning: the running trial's point is back in the sweep).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from agent.backends import BackendError
from agent.cli.agent import agent_command
from agent.cli.doctor import doctor_command
from agent.cli.report import report_command
from agent.cli.rerun import rerun_command
from agent.cli.retest import retest_command
from agent.cli.session import Session
from agent.cli.status import status_command
from agent.cli.sweep import sweep_command
from agent.cli.sweeps import sweeps_command
from agent.cli.sync import sync_command
from agent.cli.validate import validate_command
from agent.errors import one_line
from agent.paths import DISK_FULL_EXIT, disk_full, disk_full_reason


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sweepkit")
def cli() -> None:
    """W&B-style hyperparameter sweeps, with W&B or fully offline."""


for name, command in (
    ("validate", validate_command),
    ("sweep", sweep_command),
    ("agent", agent_command),
    ("status", status_command),
    ("sweeps", sweeps_command),
    ("sync", sync_command),
    ("report", report_command),
    ("retest", retest_command),
    ("rerun", rerun_command),
    ("doctor", doctor_command),
):
    cli.add_command(command, name)


def main() -> None:
    try:
        cli(prog_name="sweepkit", standalone_mode=True)
    except BackendError as exc:
        Session().fail(str(exc))
    except Exception as exc:  # a bug or an unforeseen environment: one line, traceback on request
        if os.environ.get("SWEEPKIT_DEBUG"):
            raise
        if disk_full(exc):
            where = getattr(exc, "filename", None)
            Session().fail(disk_full_reason(Path(where).parent if where else None), DISK_FULL_EXIT)
        Session().fail(
            f"{type(exc).__name__}: {one_line(exc) if str(exc).strip() else ''} "
            "(set SWEEPKIT_DEBUG=1 for the traceback)",
            1,
        )
