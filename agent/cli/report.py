"""`sweepkit report SWEEP_ID`: the comparison report (HTML, Markdown, JSON, CSVs, a page per run),
once, or kept current while the sweep runs (`--watch`)."""

from __future__ import annotations

import sys
from typing import Optional

import click

from agent.backends import BackendError
from agent.cli.session import Session, backend_option, entity_option, pass_session, project_option, storage_option
from agent.paths import report_dir


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
@click.option(
    "--metric",
    default=None,
    metavar="NAME",
    help="Rank runs by this logged key instead of the sweep's metric.name (no new sweep needed).",
)
@click.option(
    "--goal",
    type=click.Choice(["maximize", "minimize"]),
    default=None,
    help="With --metric: which way is better [default: the sweep's goal for its own metric, else from the name: "
    "a loss is minimized].",
)
@click.option(
    "--retest",
    default=None,
    metavar="RETEST_ID",
    help="A re-test of SWEEP_ID (sweepkit retest): add each config's sweep best against its re-test mean.",
)
@click.option("--publish", is_flag=True, help="Also publish a W&B Report (needs W&B access).")
@click.option(
    "--watch",
    is_flag=True,
    help="Keep the folder current while agents run; the open report.html "
    "updates itself (no server needed); the final report is written when the sweep ends, or on Ctrl-C.",
)
@click.option(
    "--every",
    type=click.FloatRange(min=1.0),
    default=5.0,
    show_default=True,
    help="With --watch: seconds between refreshes.",
)
@click.option(
    "--report-every",
    type=click.FloatRange(min=5.0),
    default=30.0,
    show_default=True,
    help="With --watch: rebuild the statistics at most this often, when runs have ended (less often where a "
    "rebuild is slow).",
)
@click.option("--serve", is_flag=True, help="With --watch: also serve the folder on http://127.0.0.1.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port for --serve [default: any free one].")
@backend_option
@project_option
@entity_option
@storage_option
@pass_session
def report_command(
    session: Session,
    sweep_id: str,
    out_dir: Optional[str],
    compare: Optional[str],
    seed_key: str,
    metric: Optional[str],
    goal: Optional[str],
    retest: Optional[str],
    publish: bool,
    watch: bool,
    every: float,
    report_every: float,
    serve: bool,
    port: int,
    backend: Optional[str],
    project: Optional[str],
    entity: Optional[str],
    storage: Optional[str],
) -> None:
    """Write report.html/.md/.json, runs/history CSVs and runs/<id>.html for SWEEP_ID."""
    try:
        from analysis.commands.report import ReportError, write_report
        from analysis.commands.watch import Watcher
        from analysis.commands.watch import serve as serve_folder
    except ImportError as exc:
        session.fail(f"the report needs sweepkit's analysis package ({exc}); reinstall sweepkit", 1)
    if (serve or port) and not watch:
        session.fail("--serve and --port go with --watch")
    if retest and watch:
        session.fail("--retest goes with a one-off report, not --watch; report the re-test once it has run")
    if (metric or goal) and watch:
        session.fail(
            "--metric and --goal go with a one-off report, not --watch (the live page follows the sweep's metric)"
        )
    b = session.backend(backend or sweep_id, storage=storage, project=project, entity=entity, sweep_id=sweep_id)
    if retest:  # a bad re-test id fails here, before the sweep's runs are read
        try:
            b.sweep(retest)
        except BackendError as exc:
            session.fail(f"--retest {retest}: {exc}")
    out = out_dir or str(report_dir(sweep_id))
    try:
        if not watch:
            result = write_report(
                sweep_id,
                backend=b,
                out_dir=out,
                compare=compare,
                seed_key=seed_key,
                publish=publish,
                console=session.err,
                retest=retest,
                metric=metric,
                goal=goal,
            )
            click.echo(result.summary)
            return
        watcher = Watcher(b, sweep_id, out, every=every, report_every=report_every, compare=compare, seed_key=seed_key)
        watcher.out.mkdir(parents=True, exist_ok=True)
        session.err.print(
            f"watching sweep {sweep_id}: open {watcher.out.resolve() / 'report.html'} (it refreshes "
            f"itself every {every:g} s); Ctrl-C writes the final report"
        )
        server = None
        if serve:
            server, url = serve_folder(watcher.out, port)
            session.err.print(f"serving the report on {url} (127.0.0.1 only)")
        try:
            last = watcher.run(note=lambda text: session.err.print(f"[{sweep_id}] {text}"))
        finally:
            if server is not None:
                server.shutdown()
        if last is not None:
            click.echo(last.summary)
    except (BackendError, ReportError) as exc:
        session.fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
