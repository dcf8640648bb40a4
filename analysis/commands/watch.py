"""`sweepkit report SWEEP --watch`: keep the report folder current while agents run.

Every `every` seconds (the refresh): list the runs again, read only the runs whose data changed,
rewrite their run pages and `live.js`, which the open page loads and draws in place. The report
itself (statistics, figures, report.md) is rebuilt when runs have ended since the last build, at
most every `report_every` seconds (less often where a rebuild is slow, so refreshes keep their
pace), and once more when the sweep ends, or on Ctrl-C, so the folder always ends as a complete
report. Every file is written to a temporary name and renamed: a browser never loads half a page.
`serve` also serves the folder on 127.0.0.1 only.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.backends.base import Backend
from agent.states import RunState, person_set_state, sweep_ended
from analysis.commands.report import ReportResult, report_from_source
from analysis.render import live
from analysis.render.documents import write_html, write_plotly_asset
from analysis.render.outputs import new_stamp, write_run_pages
from analysis.report.data import ReportError
from analysis.tables import tidy
from analysis.tables.sources import RunSource

# A rebuild holds up the refreshes: the next one waits at least this many times the last one's duration.
REBUILD_GAP_FACTOR = 3.0
WAITING = "No run has finished with a value of the metric yet; this page fills in as runs end."


@dataclass
class Refresh:
    """One refresh, measured: what it read and what it cost."""

    runs: int
    read: int
    seconds: float
    report: bool
    done: bool


class Watcher:
    def __init__(
        self,
        backend: Backend,
        sweep_id: str,
        out_dir: str | Path,
        *,
        every: float = 5.0,
        report_every: float = 30.0,
        compare: str | None = None,
        seed_key: str = "seed",
        cache_dir: str | Path | None = None,
    ):
        self.source = RunSource(backend, sweep_id, cache_dir=cache_dir)
        self.sweep_id, self.out = sweep_id, Path(out_dir)
        self.every, self.report_every = every, report_every
        self.compare, self.seed_key = compare, seed_key
        self.stamp = new_stamp()
        self._reported_ends: int | None = None
        self._reported_at = 0.0
        self._build_s = 0.0  # the last rebuild's duration
        self.refreshes: list[Refresh] = []
        self._curves: dict = {}  # each run's thinned curve, kept while its rows stay the same

    def _payload(self, *, final: bool) -> dict:
        runs = tidy.sanitize_runs(self.source.runs_table())
        info = self.source.sweep_info()
        return live.payload(
            self.sweep_id,
            info.config,
            runs,
            self.source.history_table(),
            every=self.every,
            stamp=self.stamp,
            watch=True,
            final=final,
            state=person_set_state(info.state),
        )

    def _write_report(self, *, final: bool, current: dict | None = None) -> ReportResult | None:
        """The report (or, with nothing to report yet, the progress page) under a new stamp.

        `current`: this refresh's live payload, reused rather than computed again."""
        self.stamp = new_stamp()
        data = {**current, "stamp": self.stamp} if current is not None else self._payload(final=final)
        try:
            return report_from_source(
                self.source,
                self.sweep_id,
                out_dir=self.out,
                compare=self.compare,
                seed_key=self.seed_key,
                live_data=data,
            )
        except ReportError as exc:
            write_html(None, self.out / "report.html", data, waiting=f"{WAITING} ({exc})" if final else WAITING)
            live.write_live(self.out, data)
            if final:
                raise
            return None

    def _rebuild_gap(self) -> float:
        """Seconds between rebuilds: report_every, stretched on a slow or loaded machine."""
        return max(self.report_every, REBUILD_GAP_FACTOR * self._build_s)

    def refresh(self) -> Refresh:
        t0 = time.monotonic()
        fresh = self.source.refresh()
        info, records = self.source.sweep_info(), self.source.records
        write_run_pages(self.source, self.out, only=fresh)
        ends = sum(r.terminal for r in records)
        # finished, or stopped or cancelled by a person, and nothing left running
        done = sweep_ended(info.state) and not any(r.state == RunState.RUNNING for r in records)
        # live.js first, always: the open page shows a run that just ended now, in place, rather
        # than after a rebuild (seconds under load) or the final build.
        current = self._payload(final=False)
        live.write_live(self.out, current)
        rebuilt = False
        if (
            not done
            and ends != self._reported_ends
            and (self._reported_ends is None or time.monotonic() - self._reported_at >= self._rebuild_gap())
        ):
            t_build = time.monotonic()
            self._write_report(final=False, current=current)
            self._reported_ends, self._reported_at, rebuilt = ends, time.monotonic(), True
            self._build_s = self._reported_at - t_build
        step = Refresh(len(records), len(fresh), time.monotonic() - t0, rebuilt, done)
        self.refreshes.append(step)
        return step

    def run(self, *, note: Callable[[str], None] = lambda s: None) -> ReportResult | None:
        """Refresh until the sweep ends (or Ctrl-C); then write the final report and return it."""
        self.out.mkdir(parents=True, exist_ok=True)
        write_plotly_asset(self.out)
        try:
            while True:
                step = self.refresh()
                note(
                    f"{step.runs} runs, {step.read} read, {step.seconds:.2f} s"
                    + (" · report rebuilt" if step.report else "")
                )
                if step.done:
                    break
                time.sleep(max(0.0, self.every - step.seconds))
        except KeyboardInterrupt:
            note("interrupted: writing the report of what has run so far")
        finally:
            result = self._write_report(final=True)
            self.source.write_cache()
        return result


def serve(out_dir: str | Path, port: int = 0) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve the report folder on 127.0.0.1 only, from a background thread; returns (server, its URL)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=str(out_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/report.html"
