"""Pick a backend: `get_backend("local" | "wandb" | SWEEP_ID, storage=None)`.

A sweep id decides by its shape: a W&B path (`entity/project/id`) is W&B's; a bare 8-character
id is local. Everything outside this package talks to `base.Backend` only.
"""
from __future__ import annotations

from typing import Optional

from agent.backends.base import (Backend, BackendError, RunRecord, SweepInfo, TrialFunction,
                                 TrialSpec)

__all__ = ["Backend", "BackendError", "RunRecord", "SweepInfo", "TrialFunction", "TrialSpec",
           "get_backend", "is_wandb_path"]


def is_wandb_path(sweep_id: str) -> bool:
    return "/" in sweep_id.strip("/")


def get_backend(name_or_sweep_id: str = "local", storage: Optional[str] = None, *,
                project: Optional[str] = None, entity: Optional[str] = None) -> Backend:
    """`local` (Optuna store; `storage` = PostgreSQL/MySQL URL or None for the embedded journal),
    `wandb`, or the backend a sweep id belongs to."""
    key = (name_or_sweep_id or "local").strip()
    if key == "wandb" or is_wandb_path(key):
        if storage:
            raise BackendError("--storage applies to local sweeps only; W&B sweeps live on W&B's server")
        from agent.backends.wandb_backend import WandbBackend
        return WandbBackend(project=project, entity=entity)
    from agent.backends.local import LocalBackend
    return LocalBackend(storage=storage)
