"""`sweepkit doctor SWEEP_ID [--repair]`: check a local sweep's store; fix what is safe, with a backup."""

from __future__ import annotations

from typing import Optional

import click

from agent.backends import BackendError
from agent.cli.session import Session, pass_session, storage_option


@click.command()
@click.argument("sweep_id")
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what is safe: drop torn journal records (the original kept as journal.log.bak-*), remove a "
    "stale lock, mark orphaned runs crashed (grid points requeued), move stray run dirs aside.",
)
@storage_option
@pass_session
def doctor_command(session: Session, sweep_id: str, repair: bool, storage: Optional[str]) -> None:
    """Check SWEEP_ID's store: torn records, stale locks, orphaned leases, run dirs without a record and
    records without a run dir. One line per finding; exit 1 while any is left unfixed."""
    backend = session.backend(sweep_id, storage=storage, sweep_id=sweep_id)
    try:
        findings = backend.doctor(sweep_id, repair=repair)
    except BackendError as exc:
        session.fail(str(exc))
    for line in findings:
        click.echo(line)
    left = [line for line in findings if " -> fixed: " not in line]
    if not findings:
        about = backend.store_format(sweep_id)
        click.echo(f"{sweep_id}: the store is sound" + (f" ({about})" if about else ""))
    elif left:
        hint = "" if repair else "; `sweepkit doctor " + sweep_id + " --repair` fixes what is safe"
        session.err.print(f"sweepkit: {len(left)} finding(s) left{hint}")
        raise SystemExit(1)
