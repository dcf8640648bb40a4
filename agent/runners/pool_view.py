"""What the launcher shows of its workers: each worker's slot (its process, what its status file
said, what its earlier processes ran), the one-line summary, the live table and new trial lines."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from agent.runners.worker_status import WorkerStatus, best_of
from agent.states import PAUSED_NOTE, RunState, describe_counts


@dataclass
class Slot:
    index: int
    gpu: Optional[str]
    log: Path
    status: Path
    proc: Optional[subprocess.Popen] = None
    restarts: int = 0
    exit_code: Optional[int] = None
    info: Optional[WorkerStatus] = None  # what its worker's status file said last
    # what this slot's earlier (restarted) processes ran: trials by state, and their best
    carried: Counter[RunState] = field(default_factory=Counter)
    carried_best: Optional[tuple[float, str]] = None
    printed: int = 0  # trial lines of its current process already printed

    @property
    def counts(self) -> Counter[RunState]:
        return self.carried + (self.info.counts if self.info else Counter())

    @property
    def trials(self) -> int:
        return sum(self.counts.values())

    def bests(self) -> list[tuple[float, str]]:
        return [b for b in (self.info and self.info.best, self.carried_best) if b]

    def restarted(self, goal: str) -> None:
        """Its process starts afresh: what the old one ran is carried, its lines are all printed."""
        self.carried, self.carried_best = self.counts, best_of(self.bests(), goal)
        self.info, self.printed = None, 0

    def new_lines(self) -> list[str]:
        """Trial lines not printed yet, each labelled with the worker (and its GPU)."""
        lines = self.info.lines if self.info else []
        total = self.info.trials if self.info else 0
        fresh = lines[len(lines) - min(len(lines), total - self.printed) :]
        self.printed = total
        label = f"w{self.index}{'@gpu' + self.gpu if self.gpu is not None else ''}"
        return [f"{label} {line}" for line in fresh]


def waiting_paused(slots: Sequence[Slot]) -> int:
    """How many live workers wait on a paused sweep (what each said last)."""
    return sum(1 for s in slots if s.info is not None and s.info.note == PAUSED_NOTE and s.exit_code is None)


def last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return (lines[-1][:200] if lines else "(empty log)") + f"  [{path}]"


def pool_goal(slots: Sequence[Slot]) -> str:
    return next((s.info.goal for s in slots if s.info), "minimize")


def pool_summary(sweep_id: str, slots: Sequence[Slot]) -> str:
    """'sweep S: 2 workers, 1 finished, 2 pruned, 0 restarts, best m=...': every state as itself."""
    counts = sum((s.counts for s in slots), Counter())
    restarts = sum(s.restarts for s in slots)
    top = best_of([b for s in slots for b in s.bests()], pool_goal(slots))
    metric = next((s.info.metric for s in slots if s.info and s.info.metric), None)
    described = describe_counts(counts, always=(RunState.FINISHED,))
    best = f", best {metric}={top[0]:.6g} (run {top[1]})" if top and metric else ""
    return f"sweep {sweep_id}: {len(slots)} workers, {described}, {restarts} restarts{best}"


def pool_table(sweep_id: str, slots: Sequence[Slot], notes: Sequence[str]) -> Any:
    """The live view: the summary, one row per worker, the latest notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(box=None, pad_edge=False)
    for col in ("worker", "gpu", "state", "run", "for", "trials", "last", "restarts"):
        t.add_column(col)
    now = time.time()
    for s in slots:
        i = s.info or WorkerStatus(pid=0)
        phase = i.phase
        if s.proc is not None and s.proc.poll() is not None:
            phase = f"exited {s.proc.returncode}"
        t.add_row(
            str(s.index),
            s.gpu if s.gpu is not None else "-",
            phase,
            i.run_id or "-",
            f"{now - i.since:.0f}s" if i.since and i.phase == "running" else "",
            describe_counts(s.counts) if s.trials else "",
            i.last,
            str(s.restarts),
        )
    return Group(Text(pool_summary(sweep_id, slots)), t, Text("\n".join(notes)))
