"""`sweepkit sync`: upload a local sweep's offline runs to W&B with `wandb sync`.

`wandb sync` takes the project and entity but has no --group or --tags; our agent therefore
sets `WANDB_RUN_GROUP=sweep-<id>` and `WANDB_TAGS=sweepkit,sweep-<id>` in each child, so the
group and tags are already inside every run's log and travel with it.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Iterable, Optional

from agent.backends.base import RunRecord

CHUNK = 50  # run dirs per `wandb sync` call: keeps argv short and a failure's blast radius small


def wandb_cli() -> str:
    return shutil.which("wandb") or os.path.join(os.path.dirname(sys.executable), "wandb")


def offline_run_dirs(runs: Iterable[RunRecord]) -> list[str]:
    """Each run's `offline-run-*` dir (the one holding its `.wandb` log), creation order."""
    from agent.runreader import find_run_file
    out = []
    for r in runs:
        if not r.run_dir:
            continue
        f = find_run_file(r.run_dir)
        if f is not None:
            out.append(str(f.parent))
    return out


def sync_commands(run_dirs: list[str], *, project: str, entity: Optional[str] = None,
                  include_synced: bool = False, wandb: Optional[str] = None) -> list[list[str]]:
    """The `wandb sync` argv lists that upload `run_dirs` into `entity/project`."""
    base = [wandb or wandb_cli(), "sync", "--project", project]
    if entity:
        base += ["--entity", entity]
    base += ["--include-synced"] if include_synced else ["--no-include-synced"]
    return [base + run_dirs[i:i + CHUNK] for i in range(0, len(run_dirs), CHUNK)]


def default_project(config: dict) -> str:
    return config.get("project") or os.environ.get("WANDB_PROJECT") or "sweepkit"


def missing_dirs(run_dirs: list[str]) -> list[str]:
    return [d for d in run_dirs if not Path(d).is_dir()]
