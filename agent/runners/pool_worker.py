"""One process of the launcher's pool: an agent of the sweep that tells the launcher how it is doing.

Warm (default): trial after trial in this process through `WarmRunner`, one `run_agent(count=1)`
at a time so the worker can stop between trials to be replaced (exit 75) when it cannot clean up.
Cold: the backend's own agent loop, a child process per trial. Either way the worker keeps its
`WorkerStatus` in a small JSON file (`StatusFile`, the agent's progress sink) that the launcher's
single view reads, and stops at a safe point on SIGTERM (`StopSignal`), or by itself if the launcher dies.
The stop's reason is the launcher's (a Ctrl-C: the trial is killed; the scheduler's signal: it is
preempted and its point goes back at once), read from the stop file it writes before signalling.

    python -m agent.runners.pool_worker SWEEP_ID --status FILE [--warm|--cold] [agent options]
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import click

from agent.backends import AgentSettings, Backend, BackendError, TrialControl, TrialOutcome, TrialRunner, TrialSpec
from agent.backends.failures import FailureGuard
from agent.backends.stopping import INTERRUPTED, StopRequest, exit_code_for
from agent.paths import write_atomic
from agent.runners import options
from agent.runners.child import ChildRunner
from agent.runners.signals import worker_stop_reason
from agent.runners.warm import RESTART_EXIT, WarmRunner, WarmUnsupported, preload
from agent.runners.worker_status import WorkerStatus
from agent.states import RunState, parse_state
from agent.sweep_config.metric import is_better
from agent.trial.result import TrialResult, TrialResultError


class StatusFile:
    """A `ProgressSink` that keeps the worker's `WorkerStatus` in its JSON file, rewritten atomically."""

    def __init__(self, path: Optional[str], metric: Optional[str], goal: str):
        self.path = Path(path) if path else None
        self.status = WorkerStatus(pid=os.getpid(), metric=metric, goal=goal)
        self.last_state: Optional[RunState] = None  # how the backend recorded the last trial
        self.last_reason: Optional[str] = None
        self.write()

    def write(self, **updates: Any) -> None:
        for key, value in updates.items():
            setattr(self.status, key, value)
        if self.path is not None:
            write_atomic(self.path, self.status.to_json())

    def started(self, spec: TrialSpec) -> None:
        self.write(phase="running", run_id=spec.run_id, since=time.time(), note=None)  # no longer waiting

    def finished(self, spec: TrialSpec, state: str, value: Optional[float], reason: Optional[str]) -> None:
        st = self.status
        ended = parse_state(state)
        self.last_state, self.last_reason = ended, reason
        better = value is not None and is_better(value, st.best and st.best[0], {"goal": st.goal})
        if better and value is not None and ended is RunState.FINISHED:
            st.best = (value, spec.run_id)
        peak = _peak_from(spec.run_dir)
        if peak is not None or st.trials == 0:  # a trial that measured nothing keeps an earlier peak
            st.peak_gpu_memory_mb = peak
        last = ended.value + (f" {st.metric}={value:.4g}" if value is not None and st.metric else "")
        took = time.time() - (st.since or time.time())
        line = f"run {spec.run_id} #{spec.number} {last} in {took:.1f}s" + (f" ({reason[:200]})" if reason else "")
        st.record(spec.run_id, ended, line)
        self.write(phase="idle", last=last)

    def note(self, text: str) -> None:
        self.write(note=text)

    def warn(self, text: str) -> None:
        """A note the launcher shows (once), beside this worker's log."""
        print(f"[worker] {text}", flush=True)
        self.write(note=text, warnings=[*self.status.warnings, text])

    def __enter__(self) -> StatusFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _peak_from(run_dir: str) -> Optional[float]:
    try:
        return TrialResult.read(run_dir).peak_gpu_memory_mb
    except (OSError, TrialResultError):
        return None


class StopSignal:
    """SIGTERM in a worker: a stop request (with the launcher's reason, else the scheduler's) that the
    agent loop acts on at a safe point.

    Cold, and warm between trials: the loop stops its child, or claims nothing more.
    Warm, inside a trial: never an exception mid-import; instead SIGTERM is re-sent every second
    until run_trial's own handler (installed once the trial is set up) stops the training loop.
    """

    def __init__(self, request: Optional[StopRequest] = None):
        self.request = request or StopRequest()
        self.in_trial = self.cold = False
        self._repeating = False

    @property
    def requested(self) -> bool:
        return self.request.requested

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handler)

    def _handler(self, *_: Any) -> None:
        self.request.request(worker_stop_reason())
        if not self.cold and self.in_trial and not self._repeating:
            self._repeating = True
            threading.Thread(target=self._repeat, daemon=True).start()

    def _repeat(self) -> None:
        while self.in_trial:
            time.sleep(1.0)
            if self.in_trial:
                os.kill(os.getpid(), signal.SIGTERM)
        self._repeating = False


class _StopAware:
    """A runner that tells the StopSignal when a trial is inside the runner."""

    in_process = True

    def __init__(self, runner: TrialRunner, stop: StopSignal):
        self.runner, self.stop = runner, stop

    def __call__(self, spec: TrialSpec, config: dict, control: TrialControl) -> TrialOutcome:
        self.stop.in_trial = True
        try:
            ended = self.runner(spec, config, control)
        finally:
            self.stop.in_trial = False
        if ended.stopped == INTERRUPTED and not self.stop.requested:
            self.stop.request.request(worker_stop_reason())  # run_trial's own handler took the SIGTERM
        return ended


def warm_unsupported(backend: Backend, config: dict) -> Optional[str]:
    """Why this sweep's trials cannot run warm here, or None."""
    try:
        WarmRunner.check(config)
    except WarmUnsupported as exc:
        return str(exc)
    return backend.in_process_limit(config)


def run_worker(
    backend: Backend,
    sweep_id: str,
    *,
    warm: bool,
    status: StatusFile,
    settings: AgentSettings,
    stop: Optional[StopSignal] = None,
) -> int:
    """One worker's life: warm (trial after trial in-process) or cold (a child per trial)."""
    stop = stop or StopSignal()
    config = backend.sweep(sweep_id).config
    why = warm_unsupported(backend, config) if warm else None
    if why:
        status.warn(f"running cold: {why}")
    if not warm or why:
        stop.cold = True
        return backend.run_agent(
            sweep_id,
            runner=ChildRunner(kill_delay=settings.kill_delay, echo=settings.verbose, say=status.warn),
            progress=status,
            settings=settings,
            stop=stop.request,
        )
    status.write(phase="importing")
    print(f"[worker] imports took {preload():.1f}s", flush=True)
    runner = WarmRunner()
    one = dataclasses.replace(settings, count=1)
    guard = FailureGuard(settings.max_consecutive_failures)  # run_agent(count=1) cannot keep count across trials
    ran = 0
    while settings.count is None or ran < settings.count:
        if stop.requested:
            return exit_code_for(stop.request.reason)
        before = runner.calls
        code = backend.run_agent(
            sweep_id, runner=_StopAware(runner, stop), progress=status, settings=one, stop=stop.request
        )
        if code != 0 or runner.calls == before:
            return code
        ran += 1
        why = guard.record(status.last_state or RunState.FAILED, status.last_reason)
        if why:
            status.warn(why)
            return 1
        if runner.restart_reason and not stop.requested:
            status.write(phase="restarting", restart_reason=runner.restart_reason)
            print(f"[worker] restarting: {runner.restart_reason}", flush=True)
            return RESTART_EXIT
    return 0


def _watch_parent(ppid: int) -> None:
    """A worker whose launcher died (SIGKILL, OOM killer) stops itself as if Ctrl-C'd."""
    while os.getppid() == ppid:
        time.sleep(2.0)
    os.kill(os.getpid(), signal.SIGTERM)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("sweep_id")
@click.option("--status", "status_file", default=None, help="The JSON status file the launcher reads.")
@options.click_options(options.BACKEND, options.ENGINE)
@click.option("--warm/--cold", default=True)
def main(sweep_id: str, status_file: Optional[str], warm: bool, **values: Any) -> None:
    """One warm (or cold) agent of SWEEP_ID in the launcher's pool."""
    from agent.backends import get_backend

    stop = StopSignal()
    stop.cold = not warm
    stop.install()
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        backend = get_backend(
            values["backend"] or sweep_id,
            storage=values["storage"],
            project=values["project"],
            entity=values["entity"],
            sweep_id=sweep_id,
        )
        metric = backend.sweep(sweep_id).config.get("metric") or {}
        status = StatusFile(status_file, metric.get("name"), metric.get("goal", "minimize"))
        code = run_worker(backend, sweep_id, warm=warm, status=status, settings=options.settings(values), stop=stop)
    except BackendError as exc:
        print(f"sweepkit worker: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    status.write(phase="done" if code == 0 else f"exit {code}")
    sys.exit(code)


if __name__ == "__main__":
    main(prog_name="python -m agent.runners.pool_worker")
