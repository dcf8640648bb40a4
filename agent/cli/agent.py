"""`sweepkit agent SWEEP_ID`: run the sweep's trials here, one agent or a pool of them, or submit
N agents as a SLURM job array (`--slurm N`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from agent.backends import BackendError
from agent.backends.stopping import INTERRUPTED_EXIT, PREEMPTED_EXIT
from agent.cli.session import Session, pass_session
from agent.runners import options


@click.command()
@click.argument("sweep_id")
@options.click_options(options.BACKEND, options.ENGINE, options.LAUNCH, options.SLURM)
@pass_session
def agent_command(session: Session, sweep_id: str, **values: Any) -> None:
    """Pull trials of SWEEP_ID and run them until the sweep is done (or --count trials ran, per agent)."""
    b = session.backend(
        values["backend"] or sweep_id,
        storage=values["storage"],
        project=values["project"],
        entity=values["entity"],
        sweep_id=sweep_id,
    )
    from agent.backends.stopping import StopRequest
    from agent.runners import slurm
    from agent.runners.signals import stop_on_scheduler_signals

    if slurm.wants_slurm(values):
        submit_slurm(session, sweep_id, values)
        return
    stop = StopRequest()
    stop_on_scheduler_signals(stop)  # SIGTERM, the time-limit warning: the trial is preempted, its point goes back
    if values["workers"] or values["gpus"] or values["warm"] or values["per_gpu"] != "1":
        from agent.runners.launcher import LaunchError, launch

        try:
            code = launch(sweep_id, values, stop=stop)
        except (LaunchError, BackendError) as exc:
            session.fail(str(exc))
        sys.exit(code)
    from agent.runners.child import ChildRunner
    from agent.runners.progress import AgentProgress

    settings = options.settings(values)
    try:
        config = b.sweep(sweep_id).config
        metric = config.get("metric") or {}
        constants = frozenset(
            k for k, v in (config.get("parameters") or {}).items() if isinstance(v, dict) and "value" in v
        )
        progress = AgentProgress(sweep_id, metric.get("name"), metric.get("goal", "minimize"), constants=constants)
        code = b.run_agent(
            sweep_id,
            runner=ChildRunner(kill_delay=settings.kill_delay, echo=settings.verbose, say=progress.note),
            progress=progress,
            settings=settings,
            stop=stop,
        )
    except BackendError as exc:
        session.fail(str(exc))
    if code == INTERRUPTED_EXIT:
        session.err.print("interrupted: the running trial was stopped and recorded as killed (its point is requeued)")
    elif code == PREEMPTED_EXIT:
        session.err.print(f"{stop.reason}: the running trial was stopped and recorded as preempted; its point is back")
    sys.exit(code)


def submit_slurm(session: Session, sweep_id: str, values: dict[str, Any]) -> None:
    """`--slurm N`: write the array's sbatch script, submit it, print where things are and the job id."""
    from agent.runners.gpus import LaunchError
    from agent.runners.slurm import SlurmError, check, submit_array

    try:  # bad options first, before any store or server is asked
        check(values)
    except (SlurmError, LaunchError) as exc:
        session.fail(str(exc))
    b = session.backend(
        values["backend"] or sweep_id,
        storage=values["storage"],
        project=values["project"],
        entity=values["entity"],
        sweep_id=sweep_id,
    )
    try:
        done = submit_array(sweep_id, values, b)
    except (SlurmError, LaunchError, BackendError) as exc:
        session.fail(str(exc))
    session.err.print(
        f"submitted {done.tasks} agent(s) of sweep {sweep_id} as SLURM job array {done.job_id}; "
        f"script: {done.script} (sbatch it again as it is); output: {done.log_dir}/{done.job_id}_<task>.out; "
        f"follow with: sweepkit status {sweep_id}"
    )
    click.echo(done.job_id)
