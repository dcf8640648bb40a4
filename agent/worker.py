"""Run one `TrialSpec` the way `wandb agent` runs a sweep run: a child process.

The protocol is wandb agent's, so any wandb script runs unchanged: the sweep's `command` with
W&B's macros expanded (never through a shell), `WANDB_SWEEP_ID` / `WANDB_RUN_ID` /
`WANDB_SWEEP_PARAM_PATH` set, a new process group, stdin closed, and SIGTERM (then SIGKILL after
a kill delay) to stop it. While the child runs we follow its offline `.wandb` log with wandb's
own reader (plus an optional JSON-lines side channel) so the pruner sees the metric live.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import yaml

from agent.backends.base import TrialSpec
from agent.runreader import Follower
from agent.sweep_config import args_json, expand_command, format_param_file

DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
# wandb-core flushes the offline `.wandb` log every 15 s by default; a live pruner wants it sooner.
# `x_transaction_log_flush_interval` is a documented wandb setting, read from WANDB__* env vars.
FLUSH_ENV = "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL"
DEFAULT_FLUSH_S = "2"
PROGRESS_ENV = "SWEEPKIT_PROGRESS_FILE"
PARAM_FILE = "sweep-params.yaml"
ARGS_JSON_FILE = "args.json"
LOG_FILE = "agent.log"


def kill_delay_default() -> float:
    return float(os.environ.get("WANDB_AGENT_KILL_DELAY", "30"))


@dataclass
class ChildResult:
    exit_code: Optional[int]
    runtime_s: float
    stopped: Optional[str] = None       # why we stopped it: "pruned" | "interrupted" | None
    log_tail: list[str] = field(default_factory=list)

    @property
    def reason(self) -> Optional[str]:
        """The child's own last words (our trial prints a one-line reason on stderr)."""
        for line in reversed(self.log_tail):
            line = line.strip()
            if line and not line.startswith("wandb:"):
                return line[:300]
        return None


def child_env(spec: TrialSpec, base: Optional[dict] = None, *, link_sweep: bool = True) -> dict:
    """wandb agent's env for one trial. `link_sweep=False` leaves WANDB_SWEEP_ID out: W&B's
    server rejects uploaded runs naming a sweep it does not have (the params still arrive, and
    stay locked, through WANDB_SWEEP_PARAM_PATH)."""
    env = dict(os.environ if base is None else base)
    run_dir = str(Path(spec.run_dir).resolve())
    env.pop("WANDB_SWEEP_ID", None)
    if link_sweep:
        env["WANDB_SWEEP_ID"] = spec.sweep_id
    env.update({
        "WANDB_RUN_ID": spec.run_id,
        "WANDB_SWEEP_PARAM_PATH": str(Path(run_dir) / PARAM_FILE),
        "WANDB_DIR": run_dir,
        "SWEEPKIT_RUN_DIR": run_dir,
        PROGRESS_ENV: str(Path(run_dir) / "progress.jsonl"),
    })
    env.setdefault("WANDB_MODE", "offline")
    # `wandb sync` has no --group/--tags: grouping must be in the run itself, set at init time.
    env.setdefault("WANDB_RUN_GROUP", f"sweep-{spec.sweep_id}")
    env.setdefault("WANDB_TAGS", f"sweepkit,sweep-{spec.sweep_id}")
    env.setdefault(FLUSH_ENV, DEFAULT_FLUSH_S)
    return env


def build_argv(spec: TrialSpec, config: dict, env: dict) -> list[str]:
    """The child's argv: the sweep's command with macros expanded; writes the files it names."""
    run_dir = Path(spec.run_dir)
    command = config.get("command") or DEFAULT_COMMAND
    json_file = None
    if "${args_json_file}" in command:
        json_file = str((run_dir / ARGS_JSON_FILE).resolve())
        Path(json_file).write_text(args_json(spec.params))
    # wandb's ${interpreter} is "python" from PATH; the Python running sweepkit is what a
    # venv user means, and PATH may not hold it (cron, CI, IDE launchers).
    return expand_command(command, program=config.get("program"), params=spec.params,
                          args_json_file=json_file, environ=env, interpreter=sys.executable)


def prepare(spec: TrialSpec, config: dict, env_base: Optional[dict] = None, *,
            link_sweep: bool = True) -> tuple[list[str], dict]:
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / PARAM_FILE).write_text(yaml.safe_dump(format_param_file(spec.params), sort_keys=False))
    env = child_env(spec, env_base, link_sweep=link_sweep)
    # with WANDB_SWEEP_ID set, wandb.init ignores project=/entity= (the sweep decides), as online
    for key, var in (("project", "WANDB_PROJECT"), ("entity", "WANDB_ENTITY")):
        if config.get(key):
            env.setdefault(var, str(config[key]))
    return build_argv(spec, config, env), env


class MetricFeed:
    """Turns a child's logged rows into (iteration, value) of the sweep metric.

    Two sources: the run's `.wandb` history (wandb's reader, lags by the flush interval) and
    `$SWEEPKIT_PROGRESS_FILE` (JSON lines, immediate). Whichever yields the metric first is used
    alone, so no iteration is counted twice. An iteration is the number of times the metric was
    logged (W&B's hyperband definition), 0-based here.
    """

    def __init__(self, metric: str, on_value: Callable[[int, float], None]):
        self.metric = metric
        self.on_value = on_value
        self._source: Optional[str] = None
        self._n = 0
        self._lock = threading.Lock()

    def row(self, source: str, row: dict) -> None:
        value = row.get(self.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            return
        with self._lock:
            if self._source is None:
                self._source = source
            if source != self._source:
                return
            step, self._n = self._n, self._n + 1
        self.on_value(step, float(value))


def _follow_records(run_dir: Path, feed: MetricFeed, follower: Follower) -> None:
    try:
        for rec in follower.records():
            if rec.get("type") == "history":
                item = rec.get("history", {}).get("item")
                if isinstance(item, dict):
                    feed.row("history", item)
    except Exception:  # the side channel must never take the agent down
        pass


def _tail_progress(path: Path, feed: MetricFeed, done: threading.Event) -> None:
    pos = 0
    while True:
        finished = done.is_set()
        if path.is_file():
            with path.open() as fh:
                fh.seek(pos)
                while True:
                    line = fh.readline()
                    if not line.endswith("\n"):
                        break  # partial line: read it whole next time
                    pos += len(line.encode())
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(row, dict):
                        feed.row("progress", row)
        if finished:
            return
        done.wait(0.2)


def _die_with_agent() -> Optional[Callable[[], None]]:
    """Linux: the child gets SIGTERM if the agent dies (SIGKILL, OOM), so a lost agent's trial
    stops instead of running on unobserved while its grid point is requeued elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG; looked up before fork


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_child(spec: TrialSpec, config: dict, *, on_value: Optional[Callable[[int, float], None]] = None,
              should_stop: Callable[[], Optional[str]] = lambda: None,
              kill_delay: Optional[float] = None, echo: bool = False,
              env_base: Optional[dict] = None, link_sweep: bool = True,
              kill_now: Callable[[], bool] = lambda: False) -> ChildResult:
    """Run the trial's command to completion; `should_stop()` returning a reason SIGTERMs it,
    and SIGKILL follows after `kill_delay`, or at once when `kill_now()` (a second Ctrl-C)."""
    kill_delay = kill_delay_default() if kill_delay is None else kill_delay
    argv, env = prepare(spec, config, env_base, link_sweep=link_sweep)
    run_dir = Path(spec.run_dir)
    log_path = run_dir / LOG_FILE
    tail: list[str] = []
    start = time.monotonic()
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        try:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True, text=True,
                                    errors="replace", bufsize=1, preexec_fn=_die_with_agent())
        except OSError as exc:
            return ChildResult(None, time.monotonic() - start, log_tail=[f"cannot start {argv[0]!r}: {exc}"])

        def tee() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                tail.append(line)
                del tail[:-20]
                if echo:
                    sys.stdout.write(line)

        threads = [threading.Thread(target=tee, daemon=True)]
        follower = Follower(run_dir)
        done = threading.Event()
        metric = (config.get("metric") or {}).get("name")
        if on_value is not None and metric:
            feed = MetricFeed(metric, on_value)
            threads.append(threading.Thread(target=_follow_records, args=(run_dir, feed, follower), daemon=True))
            threads.append(threading.Thread(target=_tail_progress,
                                            args=(Path(env[PROGRESS_ENV]), feed, done), daemon=True))
        for t in threads:
            t.start()

        stopped: Optional[str] = None
        term_at: Optional[float] = None
        while proc.poll() is None:
            if stopped is None:
                stopped = should_stop()
                if stopped is not None:
                    log.write(f"[sweepkit] stopping run ({stopped}): SIGTERM\n")
                    _signal_group(proc, signal.SIGTERM)
                    term_at = time.monotonic()
            elif term_at is not None and (time.monotonic() - term_at > kill_delay or kill_now()):
                log.write(f"[sweepkit] still alive {time.monotonic() - term_at:.0f}s after SIGTERM: SIGKILL\n")
                _signal_group(proc, signal.SIGKILL)
                term_at = None
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        runtime = time.monotonic() - start
        threads[0].join(timeout=5)
        done.set()
        # let the reader drain what the child flushed at exit, then stop it
        for t in threads[2:]:
            t.join(timeout=2)
        follower.close()
        if len(threads) > 1:
            threads[1].join(timeout=2)
    return ChildResult(proc.returncode, runtime, stopped, tail)
