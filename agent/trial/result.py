"""What a trial leaves behind: `<output_dir>/trial_result.json`, and its exit code."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from agent.paths import DISK_FULL_EXIT, write_atomic
from agent.states import RunState, parse_state

RESULT_FILE = "trial_result.json"
RESULT_FORMAT = 1  # trial_result.json's version: a reader keeps the fields it knows, ignores newer ones
EXIT = {RunState.FINISHED: 0, RunState.FAILED: 1, RunState.KILLED: 143, RunState.PRUNED: 0}
# The launcher keeps, per GPU, a file holding how many agents share that GPU; a trial reads it to
# record its share of the GPU (1 / agents), which turns its wall time into GPU-hours.
GPU_AGENTS_ENV = "SWEEPKIT_GPU_AGENTS_FILE"


def gpu_agents() -> Optional[int]:
    """Agents sharing this process's GPU now, from the launcher's file (None: not launched packed)."""
    path = os.environ.get(GPU_AGENTS_ENV)
    if not path:
        return None
    try:
        n = int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None
    return n if n > 0 else None


class TrialResultError(ValueError):
    """A trial_result.json that cannot be read as one: one line naming the file."""


@dataclass
class TrialResult:
    """The contents of `<output_dir>/trial_result.json` (docs/ARCHITECTURE.md), the one record every
    reader of that file goes through (`TrialResult.read`)."""

    status: RunState  # finished | failed | killed | pruned
    reason: Optional[str] = None
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    global_step: int = 0
    runtime_s: float = 0.0
    train_runtime_s: Optional[float] = None
    num_parameters: Optional[int] = None
    peak_gpu_memory_mb: Optional[float] = None
    gpu_share: Optional[float] = None  # 1 / (agents on its GPU, averaged over the trial's start and end)
    run_id: Optional[str] = None
    output_dir: Optional[str] = None
    data_cache: Optional[str] = None  # miss | disk | memory: where the tokenized data came from
    disk_full: bool = False  # failed because a write found no space: the agent stops (exit 28)
    phases_s: dict[str, float] = field(default_factory=dict)  # where the wall time went (set-up, train, ...)
    format: int = RESULT_FORMAT

    def __post_init__(self) -> None:
        self.status = parse_state(self.status)

    @property
    def exit_code(self) -> int:
        if self.disk_full and self.status is RunState.FAILED:
            return DISK_FULL_EXIT
        return EXIT.get(self.status, 1)

    def write(self, output_dir: str | os.PathLike[str]) -> Path:
        text = json.dumps(asdict(self), indent=2, default=str) + "\n"
        return write_atomic(Path(output_dir) / RESULT_FILE, text)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> TrialResult:
        """The result in `path` (the file, or the output dir holding it). OSError when it is not
        there; TrialResultError, naming the file, when it is not a trial result."""
        file = Path(path)
        if file.is_dir() or file.name != RESULT_FILE:
            file = file / RESULT_FILE
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise TrialResultError(f"{file}: not JSON ({exc})") from None
        if not isinstance(data, dict) or "status" not in data:
            raise TrialResultError(f"{file}: not a trial result (no status)")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, ValueError) as exc:
            raise TrialResultError(f"{file}: {exc}") from None


@contextlib.contextmanager
def phase(result: TrialResult, name: str) -> Iterator[None]:
    """Adds the block's wall time to `result.phases_s[name]`."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        result.phases_s[name] = round(result.phases_s.get(name, 0.0) + time.perf_counter() - t0, 4)


class TrialFailure(RuntimeError):
    """A trial that must end as failed with this one-line reason."""


class TrialKilled(BaseException):
    """SIGTERM outside the training loop; BaseException so no `except Exception` swallows it."""
