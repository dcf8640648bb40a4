"""`sweepkit sync`: upload a local sweep's offline runs to W&B with `wandb sync`.

`wandb sync` takes the project and entity but has no --group or --tags; the local backend
therefore sets `WANDB_RUN_GROUP=sweep-<id>` and `WANDB_TAGS=sweepkit,sweep-<id>` for each trial,
so the group and tags are already inside every run's log and travel with it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from typing import Optional

from agent import runlog
from agent.backends.base import RunRecord

CHUNK = 50  # run dirs per `wandb sync` call: keeps argv short and a failure's blast radius small


def wandb_cli() -> str:
    return shutil.which("wandb") or os.path.join(os.path.dirname(sys.executable), "wandb")


def offline_run_dirs(runs: Iterable[RunRecord]) -> list[str]:
    """Each run's `offline-run-*` dir (the one holding its `.wandb` log), creation order."""
    out = []
    for r in runs:
        f = runlog.find_run_file(r.run_dir) if r.run_dir else None
        if f is not None:
            out.append(str(f.parent))
    return out


def sync_commands(
    run_dirs: list[str],
    *,
    project: str,
    entity: Optional[str] = None,
    include_synced: bool = False,
    wandb: Optional[str] = None,
) -> list[list[str]]:
    """The `wandb sync` argv lists that upload `run_dirs` into `entity/project`."""
    base = [wandb or wandb_cli(), "sync", "--project", project]
    if entity:
        base += ["--entity", entity]
    base += ["--include-synced"] if include_synced else ["--no-include-synced"]
    return [base + run_dirs[i : i + CHUNK] for i in range(0, len(run_dirs), CHUNK)]


def default_project(config: dict) -> str:
    return config.get("project") or os.environ.get("WANDB_PROJECT") or "sweepkit"
