"""What a pool worker tells the launcher, declared once: the `worker-N.json` status file.

The worker (`pool_worker.StatusFile`) rewrites it atomically after every event; the launcher reads
it to draw its view and its summary. Both sides go through `WorkerStatus`, so a field is named in
one place. `format` is the file's version: a reader keeps the fields it knows and ignores the rest,
so an older launcher still reads a newer worker's file.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from agent.states import RunState, count_states, describe_counts
from agent.sweep_config.metric import best

WORKER_STATUS_FORMAT = 1
LINES_KEPT = 20  # the newest trial lines a status file holds


class WorkerStatusError(ValueError):
    """A status file that is not one (torn, not JSON, not an object)."""


@dataclass
class WorkerStatus:
    """One worker's state. `phase` is the worker's own (starting, importing, running, idle, restarting,
    done, exit N); `counts` are its ended trials by run state."""

    pid: int
    phase: str = "starting"
    counts: Counter[RunState] = field(default_factory=Counter)
    metric: Optional[str] = None
    goal: str = "minimize"
    best: Optional[tuple[float, str]] = None  # (value, run id) of its best finished trial
    run_id: Optional[str] = None  # the trial it runs now, or ran last
    since: Optional[float] = None  # when that trial started (epoch seconds)
    last: str = ""  # how its last trial ended, in a few words
    lines: list[str] = field(default_factory=list)  # one line per ended trial, newest last
    # The peak GPU memory its trials measured; None with trials > 0: measured nothing (no GPU).
    peak_gpu_memory_mb: Optional[float] = None
    note: Optional[str] = None  # the agent loop's latest note (waiting for a trial, time spent...)
    warnings: list[str] = field(default_factory=list)  # for the launcher to say, once each (ran cold, ...)
    restart_reason: Optional[str] = None
    format: int = WORKER_STATUS_FORMAT

    @property
    def trials(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        return describe_counts(self.counts, always=(RunState.FINISHED,))

    def record(self, run_id: str, state: RunState, line: str) -> None:
        """One ended trial: counted by its state, its line kept."""
        self.counts[state] += 1
        self.run_id = run_id
        self.lines = (self.lines + [line])[-LINES_KEPT:]

    def to_json(self) -> str:
        data = asdict(self)
        data["counts"] = {s.value: n for s, n in self.counts.items() if n}
        data["best"] = list(self.best) if self.best else None
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, text: str) -> WorkerStatus:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise WorkerStatusError(f"not a worker status file: {exc}") from None
        if not isinstance(data, dict) or "pid" not in data:
            raise WorkerStatusError("not a worker status file: no JSON object with a pid")
        known = {f.name for f in fields(cls)}
        kept: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        counts = kept.get("counts") or {}
        kept["counts"] = count_states(s for s, n in counts.items() for _ in range(int(n)))
        best = kept.get("best")
        kept["best"] = (float(best[0]), str(best[1])) if best else None
        return cls(**kept)


def best_of(bests: list[tuple[float, str]], goal: str) -> Optional[tuple[float, str]]:
    """The best of several workers' (value, run id) bests, by the metric's one rule."""
    return best(bests, lambda b: b[0], {"goal": goal})
