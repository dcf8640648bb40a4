"""The one interface behind which W&B and the offline (local Optuna) backends differ.

Everything outside `agent/backends/` talks to a `Backend` and never asks which one it holds: what
a caller needs to know (can trials be pruned in-process, can the runs be synced) is a method
here. Run data has one shape whichever backend produced it (`RunRecord`, `RunHistory`), so
`status`, `report` and the analysis code never care where a run came from.

The engine does not know how trials run: `run_agent` gets a `TrialRunner` (a child process, or a
warm in-process trial) and a `ProgressSink` (a terminal view, or a worker's status file).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Protocol

from agent.backends.stopping import StopRequest
from agent.states import TERMINAL_STATES, RunState, SweepState

# The run states by name, for callers outside the backends that test for one; the backends
# themselves write `RunState.X`.
RUNNING, FINISHED, FAILED, CRASHED, KILLED, PRUNED, PREEMPTED = (
    RunState.RUNNING,
    RunState.FINISHED,
    RunState.FAILED,
    RunState.CRASHED,
    RunState.KILLED,
    RunState.PRUNED,
    RunState.PREEMPTED,
)


class BackendError(RuntimeError):
    """A one-line, user-facing error (bad sweep id, unreachable store...)."""


@dataclass
class TrialSpec:
    """One trial handed out by a sweep: what a child process or warm worker must run."""

    sweep_id: str
    run_id: str
    params: dict[str, Any]  # nested exactly as wandb.config will hold them
    run_dir: str  # where the trial writes (its wandb/ dir lives under it)
    number: int = 0  # 0-based trial number within the sweep
    # Environment defaults this backend wants for the trial (WANDB_MODE, group, tags...): the
    # runner applies them under the user's own environment, never over it.
    env: dict[str, str] = field(default_factory=dict)
    link_sweep: bool = True  # set WANDB_SWEEP_ID (False: `--no-sweep-id`, for runs to sync later)
    # In-process trials: wandb's process-wide setup was already made for this very run (wandb.agent
    # does that before each job); otherwise the runner must reset it so wandb re-reads the env.
    wandb_ready: bool = False


@dataclass
class RunRecord:
    """One run of a sweep, the same shape from every backend (and `status --json`)."""

    id: str
    state: str
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    runtime_s: Optional[float] = None
    reason: Optional[str] = None  # why it failed / was pruned
    run_dir: Optional[str] = None  # where the run's files are on this machine, if anywhere
    url: Optional[str] = None  # online: the W&B run page
    created_at: Optional[str] = None
    ended_at: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    # Changes whenever the run's data may have changed (None: unknown, never cache it).
    data_key: Optional[str] = None
    # The same point run again (`agent.lineage`): the run this one re-runs, and the run that re-ran it.
    rerun_of: Optional[str] = None
    rerun_by: Optional[str] = None
    prior: Optional[str] = None  # a warm start's run: the id of the earlier sweep it ran in

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class RunHistory:
    """What a run logged: metric rows and system-metric rows (W&B names), and its final summary."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # wandb.log rows, with `_step`
    system: list[dict[str, Any]] = field(default_factory=list)  # `system.*` keys, `_timestamp` where known
    summary: dict[str, Any] = field(default_factory=dict)  # the run's own final summary, when the backend reads it
    console: list[str] = field(default_factory=list)  # the console output, where the backend has it


@dataclass
class SweepInfo:
    id: str
    backend: str  # for display: "local" or "wandb"
    config: dict[str, Any]  # the sweep YAML as a dict
    state: str = SweepState.RUNNING
    name: str = ""
    created_at: Optional[str] = None
    path: Optional[str] = None  # "entity/project/sweep_id" online; store path offline

    @property
    def metric(self) -> Optional[dict]:
        return self.config.get("metric")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IncompleteSweep:
    """A sweep whose creation never finished: listed by no one, refused by every reader, removed by
    `sweepkit doctor ID --repair`."""

    id: str
    abandoned: bool  # its `sweepkit sweep` is gone (else it may still be writing it)
    storage: Optional[str] = None  # the database it is in (password masked): the repair needs --storage


@dataclass
class AgentSettings:
    """How an agent runs trials; each field is one `sweepkit agent` option (agent/runners/options.py)."""

    count: Optional[int] = None
    heartbeat_timeout: Optional[float] = None
    max_consecutive_failures: Optional[int] = None
    kill_delay: Optional[float] = None
    verbose: bool = False
    no_sweep_id: bool = False


@dataclass
class TrialOutcome:
    """How one trial ended, as its runner saw it (the backend turns it into a run state)."""

    exit_code: Optional[int]  # 0 ok, >0 failed, <0 killed by that signal, None: could not start
    runtime_s: float
    stopped: Optional[str] = None  # why it was stopped: "interrupted", "preempted: ...", or a prune reason
    reason: Optional[str] = None  # the trial's own last words (our trial: a one-line reason)
    summary: dict[str, Any] = field(default_factory=dict)  # final metrics the runner already knows
    log_complete: bool = True  # False: the run's log will get no exit record (do not wait for one)


@dataclass
class TrialControl:
    """What the engine hands a runner for one trial."""

    # Each logged row (W&B names, from the given source): how the engine sees the metric live.
    # None: the engine does not need rows (no pruning), so runners need not follow the run.
    on_row: Optional[Callable[[str, dict], None]] = None
    stop_reason: Callable[[], Optional[str]] = lambda: None  # not None: stop the trial now, for this reason
    kill_now: Callable[[], bool] = lambda: False  # a second Ctrl-C: no grace period


class TrialRunner(Protocol):
    """Runs one trial to its end: a child process, or the trial function in this process."""

    in_process: bool

    def __call__(self, spec: TrialSpec, config: dict, control: TrialControl) -> TrialOutcome: ...


class ProgressSink(Protocol):
    """Where an agent says how it is doing: a terminal view, or a pool worker's status file."""

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: Any) -> Any: ...

    def started(self, spec: TrialSpec) -> None: ...

    def finished(self, spec: TrialSpec, state: str, value: Optional[float], reason: Optional[str]) -> None: ...

    def note(self, text: str) -> None: ...


@dataclass
class SyncPlan:
    """What `sweepkit sync` will do: upload commands to run, warnings to show first, then the W&B sweep
    that will hold the uploaded runs (`sweep_note` says which, or why none)."""

    commands: list[list[str]]
    warnings: list[str] = field(default_factory=list)
    runs: int = 0
    run_ids: list[str] = field(default_factory=list)  # the uploaded runs the W&B sweep will hold
    project: Optional[str] = None
    entity: Optional[str] = None
    sweep_note: str = ""


@dataclass
class PriorRun:
    """A finished run of an earlier sweep that seeds a new one (`sweepkit sweep FILE --prior`)."""

    sweep_id: str
    run: RunRecord
    params: dict[str, Any]  # its swept values, nested as the new sweep nests them
    value: Optional[float]  # the new sweep's metric, as the run logged it


@dataclass
class Rerun:
    """What `rerun` queued: (run id, params) per point, and the runs it passed over, in words."""

    queued: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)


@dataclass
class Extended:
    """What `sweep --extend` changed: each change in words, and how many new grid points it queued."""

    changes: list[str] = field(default_factory=list)
    new_points: int = 0


class Backend(abc.ABC):
    """Create a sweep, run agents against it, list its runs and read what they logged."""

    name: str
    listing_is_costly = False  # True: every read is a network call, so readers should cache what they can

    @abc.abstractmethod
    def create_sweep(
        self,
        config: dict,
        *,
        project: str | None = None,
        entity: str | None = None,
        prior: Sequence[PriorRun] = (),
        skip_done: bool = True,
    ) -> str:
        """Register a (validated) sweep config; return the id users pass to `agent`.

        `prior`: earlier sweeps' finished runs that fit the new space; the sweep holds them apart
        (`RunRecord.prior`), bayes learns from them, and a grid skips the points they ran unless
        not `skip_done`."""

    def prior_runs_of(self, sweep_id: str) -> tuple[SweepInfo, list[RunRecord]]:
        """An earlier sweep a new one may warm-start from: its info and runs; BackendError when this
        backend cannot seed from it."""
        return self.sweep(sweep_id), self.runs(sweep_id)

    def rerun(self, sweep_id: str, *, states: Sequence[str], run_ids: Sequence[str] = ()) -> Rerun:
        """Queue the points of the given runs (or of every run in `states`) to run again in the same
        sweep, with the same params; BackendError (one line) when it cannot."""
        raise BackendError(f"{self.name} sweeps cannot re-run runs")

    def extend_sweep(self, sweep_id: str, config: dict) -> Extended:
        """Make `config` (valid, and an extension of the sweep's config) the sweep's config."""
        raise BackendError(f"{self.name} sweeps cannot be extended")

    def set_sweep_state(self, sweep_id: str, state: SweepState, why: Optional[str] = None) -> str:
        """Pause (PAUSED), resume (RUNNING), stop (STOPPED) or cancel (CANCELLED) the sweep, as a person
        asks with `sweepkit sweep --pause|--resume|--stop|--cancel`; what its agents will do, in words.
        BackendError (one line) when that makes no sense now (resuming a sweep with nothing left...)."""
        raise BackendError(f"{self.name} sweeps cannot be paused, resumed, stopped or cancelled")

    @abc.abstractmethod
    def sweep(self, sweep_id: str) -> SweepInfo:
        """Sweep metadata; raises BackendError with a one-line reason for a bad id."""

    @abc.abstractmethod
    def list_sweeps(self) -> list[SweepInfo]:
        """The sweeps this backend can see (local: this store; W&B: the project's)."""

    def incomplete_sweeps(self) -> list[IncompleteSweep]:
        """Sweeps an interrupted `sweep` left half-made (never in `list_sweeps`); none on W&B's server."""
        return []

    @abc.abstractmethod
    def runs(self, sweep_id: str) -> list[RunRecord]:
        """Every run of the sweep, in creation order."""

    @abc.abstractmethod
    def history(self, sweep_id: str, run: RunRecord, keys: Optional[list[str]] = None) -> RunHistory:
        """What one run logged (metric rows, system metrics, console); `keys` narrows the metric rows."""

    @abc.abstractmethod
    def run_agent(
        self,
        sweep_id: str,
        *,
        runner: TrialRunner,
        progress: ProgressSink,
        settings: Optional[AgentSettings] = None,
        stop: Optional[StopRequest] = None,
    ) -> int:
        """Pull trials until the sweep is done (or `settings.count` trials ran); return an exit code.
        `stop`: set (from a signal handler) to stop the agent and its running trial (`stopping.py`).

        0 done; 1 the failure guard stopped the agent; 130 interrupted; 143 preempted.
        """

    def in_process_limit(self, config: dict) -> Optional[str]:
        """Why this sweep's trials cannot run in-process (warm) on this backend, or None."""
        return None

    def trial_env(self, sweep_id: str, config: dict) -> dict[str, str]:
        """Environment defaults for this backend's trials (see `TrialSpec.env`)."""
        return {}

    @abc.abstractmethod
    def host_bound_store(self, info: SweepInfo) -> Optional[str]:
        """Where the sweep's store lives when only agents on this host may share it (a file-locked
        journal or SQLite: file locks do not hold across hosts), or None when agents anywhere may (a
        database server, W&B's). Each backend knows its own stores."""

    def sync_plan(
        self, sweep_id: str, *, project: Optional[str], entity: Optional[str], include_synced: bool = False
    ) -> SyncPlan:
        """How to upload this sweep's runs to W&B; BackendError when there is nothing to sync."""
        raise BackendError(f"{sweep_id} lives on W&B already; `sweepkit sync` uploads offline sweeps")

    def finish_sync(self, sweep_id: str, plan: SyncPlan) -> str:
        """After `plan`'s uploads: make the uploaded runs a W&B sweep, once; the line to show.
        By default there is no sweep to make: `plan.sweep_note` says so."""
        return plan.sweep_note

    def doctor(self, sweep_id: str, *, repair: bool = False) -> list[str]:
        """Problems in the sweep's store, one line each (with what `repair` fixed); [] when sound."""
        raise BackendError(
            f"{sweep_id} lives on W&B, whose server keeps its store; `sweepkit doctor` checks offline sweeps"
        )

    def store_format(self, sweep_id: str) -> Optional[str]:
        """Which format the sweep's store has, in words (`doctor` reports it); None: not ours to say."""
        return None

    def publish_report(
        self,
        info: SweepInfo,
        *,
        title: str,
        summary_markdown: str,
        params: list[str],
        metric: str,
        compare: Optional[str],
        save: bool = True,
    ) -> tuple[Optional[str], str]:
        """Publish the report summary beside the backend's own panels: (url or None, one-line note)."""
        return None, "Not published: this is an offline sweep (publishing needs a W&B sweep)."
