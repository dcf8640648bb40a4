"""The one seam between W&B and offline: `get_backend("local" | "wandb" | SWEEP_ID, storage=None)`.

A sweep id decides by its shape: a W&B path (`entity/project/id`) is W&B's; a bare 8-character
id ([a-z0-9]) is local; anything else (`../x`, `/abs/path`) is refused before any file is opened.
Everything outside this package talks to `base.Backend` only.
"""

from __future__ import annotations

from typing import Optional

from agent.backends.base import (
    AgentSettings,
    Backend,
    BackendError,
    IncompleteSweep,
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
from agent.paths import BadId, checked_id

__all__ = [
    "AgentSettings",
    "Backend",
    "BackendError",
    "IncompleteSweep",
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
    sweep_id: Optional[str] = None,
) -> Backend:
    """`local` (Optuna store; `storage` = PostgreSQL/MySQL URL, else $SWEEPKIT_STORAGE or the embedded
    journal), `wandb`, or the backend a sweep id belongs to. `sweep_id`, when given, must have that
    backend's form (BackendError if not), so a command refuses `--backend local ../x` before it opens
    anything."""
    from agent.backends.wandb.api import is_wandb_path, split_path

    key = (name_or_sweep_id or "local").strip()
    wandb = key == "wandb" or is_wandb_path(key)
    for ident in (key if key not in ("local", "wandb") else None, sweep_id):
        if ident is None:
            continue
        if wandb:
            split_path(ident)
            continue
        try:
            checked_id(ident)  # a local id names a folder of the store: nothing else may reach a path
        except BadId as exc:
            raise BackendError(str(exc)) from None
    if wandb:
        if storage:
            raise BackendError("--storage applies to local sweeps only; W&B sweeps live on W&B's server")
        from agent.backends.wandb import WandbBackend

        return WandbBackend(project=project, entity=entity)
    from agent.backends.local import LocalBackend

    return LocalBackend(storage=storage)
