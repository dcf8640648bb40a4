"""The one interface behind which W&B and the offline (local Optuna) backends differ.

Everything outside `agent/backends/` talks to a `Backend`; nothing else branches on which one.
Run data has one shape whichever backend produced it (`RunRecord`), so `status`, `report`
and the analysis code never care where a run came from.
"""
from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

# Run states, W&B's vocabulary (the local backend maps Optuna's onto these).
RUNNING, FINISHED, FAILED, CRASHED, KILLED, PRUNED = (
    "running", "finished", "failed", "crashed", "killed", "pruned")
TERMINAL_STATES = {FINISHED, FAILED, CRASHED, KILLED, PRUNED}


class BackendError(RuntimeError):
    """A one-line, user-facing error (bad sweep id, unreachable store...)."""


@dataclass
class TrialSpec:
    """One trial handed out by a sweep: what a child process or warm worker must run."""

    sweep_id: str
    run_id: str
    params: dict[str, Any]          # nested exactly as wandb.config will hold them
    run_dir: str                    # where the trial writes (its wandb/ dir lives under it)
    number: int = 0                 # 0-based trial number within the sweep


@dataclass
class RunRecord:
    """One run of a sweep, the same shape from every backend (and `status --json`)."""

    id: str
    state: str
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    runtime_s: Optional[float] = None
    reason: Optional[str] = None     # why it failed / was pruned
    run_dir: Optional[str] = None    # offline: the dir holding the run's .wandb log
    url: Optional[str] = None        # online: the W&B run page
    created_at: Optional[str] = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class SweepInfo:
    id: str
    backend: str
    config: dict[str, Any]           # the sweep YAML as a dict
    state: str = "running"           # running | finished
    name: str = ""
    created_at: Optional[str] = None
    path: Optional[str] = None       # "entity/project/sweep_id" online; store path offline

    @property
    def metric(self) -> Optional[dict]:
        return self.config.get("metric")

    def to_json(self) -> dict:
        return asdict(self)


# A function that runs one trial in-process (warm worker) and returns its final metrics.
TrialFunction = Callable[[TrialSpec], dict]


class Backend(abc.ABC):
    """Create a sweep, run agents against it, and list its runs."""

    name: str

    @abc.abstractmethod
    def create_sweep(self, config: dict, *, project: str | None = None,
                     entity: str | None = None) -> str:
        """Register a (validated) sweep config; return the id users pass to `agent`."""

    @abc.abstractmethod
    def sweep(self, sweep_id: str) -> SweepInfo:
        """Sweep metadata; raises BackendError with a one-line reason for a bad id."""

    @abc.abstractmethod
    def runs(self, sweep_id: str) -> list[RunRecord]:
        """Every run of the sweep, in creation order."""

    @abc.abstractmethod
    def run_agent(self, sweep_id: str, *, count: int | None = None,
                  function: TrialFunction | None = None, **options: Any) -> int:
        """Pull trials until the sweep is done (or `count` trials ran); return an exit code.

        Without `function`, each trial is the sweep's `command` in a child process
        (wandb agent's protocol). With it, trials run in this process (warm worker).
        """
