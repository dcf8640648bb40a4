"""`sweepkit report SWEEP_ID`: the comparison report (HTML, Markdown, JSON, CSVs)."""

from __future__ import annotations

from typing import Optional

import click

from agent.backends import BackendError
from agent.cli.session import Session, backend_option, pass_session, storage_option


@click.command()
@click.argument("sweep_id")
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Output folder [default: out/report-<sweep id>].",
)
@click.option("--compare", default=None, help="Parameter whose values the report compares (e.g. model).")
@click.option("--seed-key", default="seed", show_default=True, help="Config key that holds the seed.")
@click.option("--publish", is_flag=True, help="Also publish a W&B Report (needs W&B access).")
@backend_option
@click.option("--project", default=None)
@click.option("--entity", default=None)
@storage_option
@pass_session
def report_command(
    session: Session,
    sweep_id: str,
    out_dir: Optional[str],
    compare: Optional[str],
    seed_key: str,
    publish: bool,
    backend: Optional[str],
    project: Optional[str],
    entity: Optional[str],
    storage: Optional[str],
) -> None:
    """Write report.html/.md/.json and runs/history CSVs for SWEEP_ID."""
    try:
        from analysis.report import ReportError, write_report
    except ImportError as exc:
        session.fail(f"the report needs sweepkit's analysis package ({exc}); reinstall sweepkit", 1)
    b = session.backend(backend or sweep_id, storage=storage, project=project, entity=entity)
    try:
        result = write_report(
            sweep_id,
            backend=b,
            out_dir=out_dir or f"out/report-{sweep_id.split('/')[-1]}",
            compare=compare,
            seed_key=seed_key,
            publish=publish,
            console=session.err,
        )
    except (BackendError, ReportError) as exc:
        session.fail(str(exc))
    click.echo(result.summary)
