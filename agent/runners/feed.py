"""The live metric feed of a child trial: the rows it logs, read while it runs, for the engine's pruner.

Two sources: the run's `.wandb` log, followed with wandb's own reader (it lags by wandb's flush
interval), and an optional JSON-lines progress file (immediate). A read that fails is retried: the
reader is started again and the rows already delivered are skipped, so no iteration counts twice.
After `retries` failures in a row a source gives up, and the feed says so once, with the reason, on
the agent's console and in the run's agent.log: without rows, early termination cannot prune the run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional, Protocol

from agent.errors import one_line

OnRow = Callable[[str, dict[str, Any]], None]
RETRIES = 5
FIRST_PAUSE_S = 0.2  # then doubled after each failure in a row


class RecordSource(Protocol):
    """A run's records as they are written (`agent.runlog.Follower`)."""

    def records(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class MetricFeed:
    """Delivers a running child's rows to `on_row` from both sources, each on its own thread."""

    def __init__(
        self,
        records: RecordSource,
        progress_file: Path,
        on_row: OnRow,
        *,
        say: Callable[[str], None],
        retries: int = RETRIES,
        first_pause_s: float = FIRST_PAUSE_S,
    ):
        self.source, self.progress_file, self.on_row = records, progress_file, on_row
        self.say, self.retries, self.first_pause_s = say, retries, first_pause_s
        self.lost: Optional[str] = None  # why the feed stopped early, once it did
        self._pos = 0  # bytes of the progress file already read
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._follow_history, daemon=True),
            threading.Thread(target=self._tail_progress, daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """The child ended: drain what it flushed at exit, then stop both readers."""
        self._done.set()
        self._threads[1].join(timeout=2)
        self.source.close()
        self._threads[0].join(timeout=2)

    # -- the sources ---------------------------------------------------------------------------
    def _follow_history(self) -> None:
        what = "the run's .wandb log"
        delivered, failures = 0, 0
        last: BaseException = RuntimeError("no read yet")
        while True:
            seen = records = 0
            try:
                for rec in self.source.records():
                    records += 1
                    item = rec.get("history", {}).get("item") if rec.get("type") == "history" else None
                    if not isinstance(item, dict):
                        continue
                    seen += 1
                    if seen > delivered:  # a restarted reader begins at the log's start again
                        delivered = seen
                        self.on_row("history", item)
                        failures = 0
            except Exception as exc:  # a reader that broke, a record it could not parse, a row refused
                failures += 1
                last = exc
                if self._retry(what, exc, failures):
                    continue
                return
            if failures and not records:  # closed while its reader was still failing
                self._lose(what, failures, last)
            return

    def _tail_progress(self) -> None:
        failures = 0
        while True:
            finished = self._done.is_set()
            try:
                self._read_progress()
            except Exception as exc:  # an I/O error, or the engine could not take a row
                failures += 1
                if self._retry(f"the progress file {self.progress_file}", exc, failures):
                    continue
                return
            failures = 0
            if finished:
                return
            self._done.wait(0.2)

    def _read_progress(self) -> None:
        if not self.progress_file.is_file():
            return
        with self.progress_file.open("rb") as fh:
            fh.seek(self._pos)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # a partial line: read it whole next time
                self._pos += len(raw)  # before delivering: a row the engine refused is not sent twice
                try:
                    row = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    self.on_row("progress", row)

    def _retry(self, what: str, exc: BaseException, failures: int) -> bool:
        """After a failed read: wait and return True to read again, or give up (saying why) and return
        False. Once the child has ended there is no time to wait: retries follow at once."""
        if failures > self.retries:
            self._lose(what, failures, exc)
            return False
        if not self._done.is_set():
            self._done.wait(self.first_pause_s * 2 ** (failures - 1))
        return True

    def _lose(self, what: str, failures: int, exc: BaseException) -> None:
        why = f"{what}: {failures} failures in a row, the last {type(exc).__name__}: {one_line(exc)}"
        with self._lock:
            if self.lost is not None:
                return
            self.lost = why
        self.say(f"live metric feed stopped ({why}); early termination cannot prune this run")
