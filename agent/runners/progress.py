"""What an agent shows while it works: its trials by state, those running, and the best metric so far.

On a terminal: one rich Live line, redrawn in place. Otherwise (CI logs, pipes): exactly one
line per finished trial and one per note, so logs stay greppable and short. Either way the agent
ends with its summary line, every state counted as itself ("1 finished, 2 pruned, 1 killed").
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, Optional

from rich.console import Console
from rich.live import Live
from rich.text import Text

from agent.backends.base import TrialSpec
from agent.states import RunState, describe_counts, parse_state
from agent.sweep_config import dotted
from agent.sweep_config.metric import is_better


class AgentProgress:
    def __init__(
        self,
        sweep_id: str,
        metric: Optional[str],
        goal: str = "minimize",
        console: Optional[Console] = None,
        live: Optional[bool] = None,
        constants: frozenset[str] = frozenset(),
    ):
        self.sweep_id, self.metric, self.goal = sweep_id, metric, goal
        self.constants = constants  # `value:` parameters: the same in every line, so left out
        self.console = console or Console(file=sys.stdout)
        self.live_mode = self.console.is_terminal if live is None else live
        self.counts: Counter[RunState] = Counter()
        self.running: dict[str, float] = {}
        self.best: Optional[tuple[float, str]] = None
        self.last_note = ""
        self._live: Optional[Live] = None
        self._t0 = time.monotonic()

    # -- context ---------------------------------------------------------------------------
    def __enter__(self) -> AgentProgress:
        if self.live_mode:
            self._live = Live(
                self._render(), console=self.console, refresh_per_second=4, transient=False, get_renderable=self._render
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None  # its last frame, left on screen, is the summary
        else:
            self.console.print(f"[{self.sweep_id}] {self.summary()}", highlight=False, markup=False, soft_wrap=True)

    # -- events ----------------------------------------------------------------------------
    def started(self, spec: TrialSpec) -> None:
        self.running[spec.run_id] = time.monotonic()

    def finished(self, spec: TrialSpec, state: str, value: Optional[float], reason: Optional[str]) -> None:
        t0 = self.running.pop(spec.run_id, time.monotonic())
        ended = parse_state(state)
        self.counts[ended] += 1
        if (
            value is not None
            and ended is RunState.FINISHED
            and is_better(value, self.best and self.best[0], {"goal": self.goal})
        ):
            self.best = (value, spec.run_id)
        line = self.trial_line(spec, state, value, reason, time.monotonic() - t0)
        if self._live is not None:
            self._live.console.print(line, highlight=False, markup=False)
        else:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.last_note = text
        if self._live is None:
            self.console.print(f"[{self.sweep_id}] {text}", highlight=False, markup=False, soft_wrap=True)

    # -- rendering -------------------------------------------------------------------------
    def trial_line(
        self, spec: TrialSpec, state: str, value: Optional[float], reason: Optional[str], seconds: float
    ) -> str:
        params = " ".join(f"{k}={v}" for k, v in dotted(spec.params).items() if k not in self.constants)
        metric = f" {self.metric}={value:.6g}" if value is not None and self.metric else ""
        why = f" ({reason})" if reason else ""
        return f"[{self.sweep_id}] run {spec.run_id} #{spec.number} {state} in {seconds:.1f}s{metric}{why} | {params}"

    def summary(self) -> str:
        best = f" | best {self.metric}={self.best[0]:.6g} (run {self.best[1]})" if self.best and self.metric else ""
        running = f", {len(self.running)} running" if self.running else ""
        counts = describe_counts(self.counts, always=(RunState.FINISHED,))
        return f"{counts}{running}{best} | {time.monotonic() - self._t0:.0f}s"

    def _render(self) -> Text:
        note = f"  {self.last_note}" if self.last_note else ""
        return Text(f"sweep {self.sweep_id}: {self.summary()}{note}")
