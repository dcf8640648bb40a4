"""One process of the launcher's pool: an agent of the sweep that tells the launcher how it is doing.

Warm (default): trial after trial in this process through `WarmTrials`, one `run_agent(count=1)`
at a time so the worker can stop between trials to be replaced (exit 75) when it cannot clean up.
Cold: the backend's own agent loop, a child process per trial. Either way the worker writes a
small JSON status file (`WorkerStatus`) that the launcher's single view reads, and stops at a safe
point on SIGTERM (`StopSignal`), or by itself if the launcher dies.

    python -m agent.pool_worker SWEEP_ID --status FILE [--warm|--cold] [agent options]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from agent.warm import RESTART_EXIT


class WorkerStatus:
    """What a worker tells the launcher, as one JSON file rewritten atomically."""

    def __init__(self, path: Optional[str], metric: Optional[str], goal: str):
        self.path = Path(path) if path else None
        self.data: dict[str, Any] = {"pid": os.getpid(), "state": "starting", "trials": 0, "finished": 0,
                                     "failed": 0, "metric": metric, "goal": goal, "lines": []}
        self.write()

    def write(self, **updates: Any) -> None:
        self.data.update(updates)
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, default=str))
        os.replace(tmp, self.path)

    def started(self, spec) -> None:
        self.write(state="running", run_id=spec.run_id, since=time.time())

    def finished(self, spec, state: str, value: Optional[float], reason: Optional[str]) -> None:
        d = self.data
        d["trials"] += 1
        d["finished" if state == "finished" else "failed"] += 1
        metric, goal = d["metric"], d["goal"]
        if value is not None and state == "finished" and (
                not d.get("best") or (value > d["best"][0] if goal == "maximize" else value < d["best"][0])):
            d["best"] = [value, spec.run_id]
        peak = _peak_from(spec.run_dir)
        if peak is not None or "peak_gpu_memory_mb" not in d:
            d["peak_gpu_memory_mb"] = peak
        last = f"{state}" + (f" {metric}={value:.4g}" if value is not None and metric else "")
        line = (f"run {spec.run_id} #{spec.number} {last} in {time.time() - d.get('since', time.time()):.1f}s"
                + (f" ({reason})" if reason else ""))
        d["lines"] = (d["lines"] + [line])[-20:]
        self.write(state="idle", last=last)

    def note(self, text: str) -> None:
        self.write(note=text)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _peak_from(run_dir: str) -> Optional[float]:
    try:
        return json.loads((Path(run_dir) / "trial_result.json").read_text()).get("peak_gpu_memory_mb")
    except (OSError, ValueError):
        return None


class StopSignal:
    """SIGTERM in a worker, stopping it at a safe point.

    Cold: becomes SIGINT, which the engine's agent loop turns into a clean stop of its child.
    Warm, between trials: KeyboardInterrupt at once (the agent loop is only claiming or waiting).
    Warm, inside a trial: never an exception mid-import; instead SIGTERM is re-sent every second
    until run_trial's own handler (installed once the trial is set up) stops the training loop.
    """

    def __init__(self):
        self.requested = self.in_trial = self.cold = False
        self._repeating = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handler)

    def _handler(self, *_: Any) -> None:
        self.requested = True
        if self.cold:
            os.kill(os.getpid(), signal.SIGINT)
        elif not self.in_trial:
            raise KeyboardInterrupt
        elif not self._repeating:
            self._repeating = True
            threading.Thread(target=self._repeat, daemon=True).start()

    def _repeat(self) -> None:
        while self.in_trial:
            time.sleep(1.0)
            if self.in_trial:
                os.kill(os.getpid(), signal.SIGTERM)
        self._repeating = False


def run_worker(backend, sweep_id: str, *, warm: bool, count: Optional[int], status: WorkerStatus,
               max_failures: int, stop: Optional[StopSignal] = None, **options: Any) -> int:
    """One worker's life: warm (trial after trial in-process) or cold (a child per trial)."""
    from agent.warm import WarmTrials, WarmUnsupported, preload
    stop = stop or StopSignal()
    config = backend.sweep(sweep_id).config
    fn = None
    if warm:
        try:
            # only the local engine prunes an in-process trial cooperatively (W&B's agent raises into it)
            fn = WarmTrials(config, link_sweep=options.get("link_sweep", True),
                            prunes_in_process=getattr(backend, "name", "") == "local")
        except WarmUnsupported as exc:
            print(f"[worker] {exc}; running cold", flush=True)
            status.note(str(exc))
    if fn is None:
        stop.cold = True
        return backend.run_agent(sweep_id, count=count, progress=status, **options)

    metric = (config.get("metric") or {}).get("name")
    status.write(state="importing")
    print(f"[worker] imports took {preload():.1f}s", flush=True)

    def traced(spec, **kw):  # kw: `report=` from the local engine under hyperband
        stop.in_trial = True
        status.started(spec)
        try:
            if stop.requested:
                raise KeyboardInterrupt
            metrics = fn(spec, **kw)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                stop.requested = True  # run_trial's own handler consumed the SIGTERM: stop after this
            status.finished(spec, "killed" if isinstance(exc, KeyboardInterrupt) else "failed", None,
                            None if isinstance(exc, KeyboardInterrupt) else str(exc)[:200])
            raise
        finally:
            stop.in_trial = False
        status.finished(spec, fn.last_status or "finished", (metrics or {}).get(metric), None)
        return metrics

    traced.reports_metrics = fn.reports_metrics

    ran = fails = 0
    while count is None or ran < count:
        if stop.requested:
            return 130
        before = fn.calls
        code = backend.run_agent(sweep_id, count=1, function=traced, **options)
        if code != 0 or fn.calls == before:
            return code
        ran += 1
        fails = fails + 1 if fn.last_status not in ("finished", "pruned") else 0
        if fails >= max_failures:
            print(f"[worker] stopping: {fails} runs failed in a row; fix the trial (see the runs' agent.log)",
                  flush=True)
            return 1
        if fn.restart_reason and not stop.requested:
            status.write(state="restarting", restart_reason=fn.restart_reason)
            print(f"[worker] restarting: {fn.restart_reason}", flush=True)
            return RESTART_EXIT
    return 0


def _watch_parent(ppid: int) -> None:
    """A worker whose launcher died (SIGKILL, OOM killer) stops itself as if Ctrl-C'd."""
    while os.getppid() == ppid:
        time.sleep(2.0)
    os.kill(os.getpid(), signal.SIGTERM)


def worker_main(args: argparse.Namespace) -> int:
    from agent.backends import BackendError, get_backend
    warm = args.warm
    stop = StopSignal()
    stop.cold = not warm
    stop.install()
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        backend = get_backend(args.backend or args.sweep_id, storage=args.storage, project=args.project,
                              entity=args.entity)
        config = backend.sweep(args.sweep_id).config
        metric = config.get("metric") or {}
        status = WorkerStatus(args.status, metric.get("name"), metric.get("goal", "minimize"))
        options = {k: v for k, v in (("heartbeat_timeout", args.heartbeat_timeout),
                                     ("kill_delay", args.kill_delay), ("verbose", args.verbose)) if v is not None}
        if args.no_sweep_id:
            options["link_sweep"] = False
        max_failures = args.max_consecutive_failures or int(os.environ.get("WANDB_AGENT_MAX_INITIAL_FAILURES") or 5)
        code = run_worker(backend, args.sweep_id, warm=warm, count=args.count, status=status,
                          max_failures=max_failures, stop=stop, max_consecutive_failures=args.max_consecutive_failures,
                          **options)
    except BackendError as exc:
        print(f"sweepkit worker: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    status.write(state="done" if code == 0 else f"exit {code}")
    return code


def add_agent_options(ap: argparse.ArgumentParser) -> None:
    """The agent options a worker takes; the launcher takes the same ones and passes them on."""
    ap.add_argument("--warm", dest="warm", action="store_true", default=True)
    ap.add_argument("--cold", dest="warm", action="store_false")
    ap.add_argument("--count", type=int)
    ap.add_argument("--backend", choices=("local", "wandb"))
    ap.add_argument("--storage")
    ap.add_argument("--project")
    ap.add_argument("--entity")
    ap.add_argument("--heartbeat-timeout", type=float)
    ap.add_argument("--max-consecutive-failures", type=int)
    ap.add_argument("--kill-delay", type=float)
    ap.add_argument("--verbose", action="store_true", default=None)
    ap.add_argument("--no-sweep-id", action="store_true")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m agent.pool_worker", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_id")
    ap.add_argument("--status")
    add_agent_options(ap)
    return worker_main(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
