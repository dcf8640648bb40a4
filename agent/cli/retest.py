"""`sweepkit retest SWEEP --top K --seeds N`: re-run a sweep's top K configs on N seeds it never used."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click
import yaml

from agent.backends import BackendError
from agent.backends.base import FINISHED
from agent.cli.session import Session, backend_option, entity_option, pass_session, project_option, storage_option
from agent.cli.validate import load_valid
from agent.lineage import superseded
from agent.paths import safe_name, write_atomic
from agent.sweep_config import SweepConfigError
from agent.sweep_config.retest import fresh_seeds, retest_config, top_candidates, used_seeds


@click.command()
@click.argument("sweep_id")
@click.option("--top", "top", type=click.IntRange(min=1), default=3, show_default=True, help="Configs to re-test.")
@click.option(
    "--seeds", type=click.IntRange(min=2), default=3, show_default=True, help="Fresh seeds per config (at least 2)."
)
@click.option("--seed-key", default="seed", show_default=True, help="Config key that holds the seed.")
@click.option(
    "--out",
    "out_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Where to write the re-test's sweep YAML [default: retest-<sweep id>.yaml].",
)
@backend_option
@project_option
@entity_option
@storage_option
@pass_session
def retest_command(
    session: Session,
    sweep_id: str,
    top: int,
    seeds: int,
    seed_key: str,
    out_file: Optional[str],
    backend: Optional[str],
    project: Optional[str],
    entity: Optional[str],
    storage: Optional[str],
) -> None:
    """Create a grid sweep, on SWEEP_ID's backend, of its top configs x fresh seeds; print its id.

    Run it with `sweepkit agent`, then `sweepkit report SWEEP_ID --retest <its id>` sets each
    config's best score in SWEEP_ID against its re-test mean (the optimism of the sweep's best).
    """
    b = session.backend(backend or sweep_id, storage=storage, project=project, entity=entity, sweep_id=sweep_id)
    try:
        info = b.sweep(sweep_id)
        runs = b.runs(sweep_id)
    except BackendError as exc:
        session.fail(str(exc))
    metric = (info.metric or {}).get("name")
    if not metric:
        session.fail(f"sweep {sweep_id} names no metric, so it has no top configs; add `metric:` to its YAML")
    done = [r for r in runs if r.state == FINISHED]
    replaced = superseded({r.id: r.rerun_of for r in runs}, [r.id for r in done])  # a point counts once
    finished = [(r.config, r.summary.get(metric)) for r in done if r.id not in replaced]
    try:
        candidates = top_candidates(info.config, finished, top=top, seed_key=seed_key)
        new_seeds = fresh_seeds(used_seeds(info.config, [r.config for r in runs], seed_key), seeds)
        config = retest_config(info.config, sweep_id, candidates, seeds=new_seeds, seed_key=seed_key)
    except SweepConfigError as exc:
        session.fail(str(exc))
    if len(candidates) < top:
        session.err.print(f"sweep {sweep_id} has only {len(candidates)} finished config(s); re-testing those")
    path = Path(out_file or f"retest-{safe_name(sweep_id)}.yaml")
    write_atomic(path, yaml.safe_dump(config, sort_keys=False, default_flow_style=None))
    config = load_valid(session, str(path))  # the same checks as `sweepkit sweep FILE`
    retest_id = session.create_sweep(b, config, project=project, entity=entity)
    session.err.print(
        f"wrote {path}: {len(candidates)} config(s) x {seeds} seeds ({seed_key} = "
        f"{', '.join(map(str, new_seeds))}); run it with: sweepkit agent {retest_id}"
        + (f" --storage {storage}" if storage else "")
        + f", then: sweepkit report {sweep_id} --retest {retest_id}"
    )
    click.echo(retest_id)
