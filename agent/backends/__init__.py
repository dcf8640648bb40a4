"""The one seam between W&B and offline: `get_backend("local" | "wandb" | SWEEP_ID, storage=None)`.

A sweep id decides by its shape: a W&B path (`entity/project/id`) is W&B's; a bare 8-character
id is local. Everything outside this package talks to `base.Backend` only.
"""

from __future__ import annotations

from typing import Optional

from agent.backends.base import (
    AgentSettings,
    Backend,
    BackendError,
    ProgressSink,
    RunHistory,
    RunRecord,
    SweepInfo,
    SyncPlan,
    TrialControl,
    TrialOutcome,
    TrialRunner,
    TrialSpec,
)

__all__ = [
    "AgentSettings",
    "Backend",
    "BackendError",
    "ProgressSink",
    "RunHistory",
    "RunRecord",
    "SweepInfo",
    "SyncPlan",
    "TrialControl",
    "TrialOutcome",
    "TrialRunner",
    "TrialSpec",
    "get_backend",
]


def get_backend(
    name_or_sweep_id: str = "local",
    storage: Optional[str] = None,
    *,
    project: Optional[str] = None,
    entity: Optional[str] = None,
) -> Backend:
    """`local` (Optuna store; `storage` = PostgreSQL/MySQL URL, else $SWEEPKIT_STORAGE or the embedded
    journal), `wandb`, or the backend a sweep id belongs to."""
    from agent.backends.wandb.api import is_wandb_path

    key = (name_or_sweep_id or "local").strip()
    if key == "wandb" or is_wandb_path(key):
        if storage:
            raise BackendError("--storage applies to local sweeps only; W&B sweeps live on W&B's server")
        from agent.backends.wandb import WandbBackend

        return WandbBackend(project=project, entity=entity)
    from agent.backends.local import LocalBackend

    return LocalBackend(storage=storage)
