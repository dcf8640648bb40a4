"""Run one trial the way `wandb agent` runs a sweep run: a child process.

The protocol is wandb agent's, so any wandb script runs unchanged: the sweep's `command` with
W&B's macros expanded (never through a shell), `WANDB_SWEEP_ID` / `WANDB_RUN_ID` /
`WANDB_SWEEP_PARAM_PATH` set, a new process group, stdin closed, and SIGTERM (then SIGKILL after
a kill delay) to stop it. When the engine wants the metric live, the child's `.wandb` log is
followed with wandb's own reader (plus an optional JSON-lines side channel).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import yaml

from agent.backends.base import TrialControl, TrialOutcome, TrialSpec
from agent.paths import write_atomic
from agent.runlog import Follower
from agent.runners.feed import MetricFeed
from agent.sweep_config import args_json, expand_command, format_param_file

PROGRESS_ENV = "SWEEPKIT_PROGRESS_FILE"
# wandb samples system metrics every 15 s by default: two points for a 30 s trial. A documented
# wandb setting (x_stats_sampling_interval), read from the environment like every WANDB__* one.
STATS_ENV, STATS_DEFAULT_S = "WANDB__STATS_SAMPLING_INTERVAL", "2"
PARAM_FILE = "sweep-params.yaml"
ARGS_JSON_FILE = "args.json"
LOG_FILE = "agent.log"
# A scheduler signals every process of a task at once, so a trial may die of its SIGTERM a moment
# before the agent's own handler has run: the agent waits this long for that stop to show.
LATE_STOP_S = 2.0
_TERMINATED = (-signal.SIGTERM, 128 + signal.SIGTERM)
# Set by wandb in any process that has used it: the address of that process's wandb-core. A child
# that inherits it joins the parent's service (and dies with it, or loses its run log) instead
# of starting its own. wandb agent drops it for its children too.
WANDB_SERVICE_ENV = "WANDB_SERVICE"


def own_process_env(base: Optional[dict] = None) -> dict:
    """A copy of `base` (default os.environ) for a process that must run its own wandb service."""
    env = dict(os.environ if base is None else base)
    env.pop(WANDB_SERVICE_ENV, None)
    return env


def kill_delay_default() -> float:
    return float(os.environ.get("WANDB_AGENT_KILL_DELAY", "30"))


def child_env(spec: TrialSpec, base: Optional[dict] = None) -> dict:
    """wandb agent's env for one trial, over the backend's defaults (`spec.env`) and the user's own.

    `spec.link_sweep=False` leaves WANDB_SWEEP_ID out: W&B's server rejects uploaded runs naming a
    sweep it does not have (the params still arrive, and stay locked, through WANDB_SWEEP_PARAM_PATH).
    """
    env = {STATS_ENV: STATS_DEFAULT_S, **spec.env, **own_process_env(base)}
    run_dir = str(Path(spec.run_dir).resolve())
    env.pop("WANDB_SWEEP_ID", None)
    if spec.link_sweep:
        env["WANDB_SWEEP_ID"] = spec.sweep_id
    env.update(
        {
            "WANDB_RUN_ID": spec.run_id,
            "WANDB_SWEEP_PARAM_PATH": str(Path(run_dir) / PARAM_FILE),
            "WANDB_DIR": run_dir,
            "SWEEPKIT_RUN_DIR": run_dir,
            PROGRESS_ENV: str(Path(run_dir) / "progress.jsonl"),
        }
    )
    return env


def build_argv(spec: TrialSpec, config: dict, env: dict) -> list[str]:
    """The child's argv: the sweep's command with macros expanded; writes the files it names."""
    run_dir = Path(spec.run_dir)
    command = config.get("command")
    json_file = None
    if command and "${args_json_file}" in command:
        json_file = str((run_dir / ARGS_JSON_FILE).resolve())
        write_atomic(json_file, args_json(spec.params))
    # wandb's ${interpreter} is "python" from PATH; the Python running sweepkit is what a
    # venv user means, and PATH may not hold it (cron, CI, IDE launchers).
    return expand_command(
        command,
        program=config.get("program"),
        params=spec.params,
        args_json_file=json_file,
        environ=env,
        interpreter=sys.executable,
    )


def prepare(spec: TrialSpec, config: dict, env_base: Optional[dict] = None) -> tuple[list[str], dict]:
    """Write the trial's param file; return its argv and environment (what `wandb agent` would use)."""
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / PARAM_FILE, yaml.safe_dump(format_param_file(spec.params), sort_keys=False))
    env = child_env(spec, env_base)
    return build_argv(spec, config, env), env


def last_words(tail: list[str]) -> Optional[str]:
    """The child's own last line (our trial prints a one-line reason on stderr), wandb's chatter aside."""
    for line in reversed(tail):
        line = line.strip()
        if line and not line.startswith("wandb:"):
            return line[:300]
    return None


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
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _late_stop(control: TrialControl) -> Optional[str]:
    """The stop that SIGTERMed the trial along with its agent, if it shows within LATE_STOP_S."""
    deadline = time.monotonic() + LATE_STOP_S
    while True:
        why = control.stop_reason()
        if why is not None or time.monotonic() > deadline:
            return why
        time.sleep(0.05)


class ChildRunner:
    """A `TrialRunner`: each trial is the sweep's command in a fresh process."""

    in_process = False

    def __init__(
        self,
        *,
        kill_delay: Optional[float] = None,
        echo: bool = False,
        env_base: Optional[dict[str, str]] = None,
        say: Optional[Callable[[str], None]] = None,
    ):
        self.kill_delay = kill_delay_default() if kill_delay is None else kill_delay
        self.echo, self.env_base = echo, env_base
        self.say = say or (lambda text: print(f"sweepkit: {text}", file=sys.stderr, flush=True))

    def __call__(self, spec: TrialSpec, config: dict, control: TrialControl) -> TrialOutcome:
        """Run the trial's command to completion; `control.stop_reason()` returning a reason SIGTERMs
        it, and SIGKILL follows after the kill delay, or at once when `control.kill_now()`."""
        argv, env = prepare(spec, config, self.env_base)
        run_dir = Path(spec.run_dir)
        tail: list[str] = []
        start = time.monotonic()
        with (run_dir / LOG_FILE).open("a") as log:
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    text=True,
                    errors="replace",
                    bufsize=1,
                    preexec_fn=_die_with_agent(),
                )
            except OSError as exc:
                return TrialOutcome(None, time.monotonic() - start, reason=f"cannot start {argv[0]!r}: {exc}")

            def tee() -> None:
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    log.flush()
                    tail.append(line)
                    del tail[:-20]
                    if self.echo:
                        sys.stdout.write(line)

            teeing = threading.Thread(target=tee, daemon=True)
            teeing.start()
            feed = None
            if control.on_row is not None:
                feed = MetricFeed(
                    Follower(run_dir), Path(env[PROGRESS_ENV]), control.on_row, say=self._say_for(spec, run_dir)
                )
                feed.start()
            stopped = self._wait(proc, control, log)
            runtime = time.monotonic() - start
            teeing.join(timeout=5)
            if feed is not None:
                feed.stop()
        code = proc.returncode
        # a child killed by a signal never wrote its exit record: do not wait for one
        return TrialOutcome(
            code, runtime, stopped=stopped, reason=last_words(tail), log_complete=code is not None and code >= 0
        )

    def _say_for(self, spec: TrialSpec, run_dir: Path) -> Callable[[str], None]:
        """What the run's feed has to say goes to the agent's console and the run's agent.log."""

        def say(text: str) -> None:
            self.say(f"run {spec.run_id}: {text}")
            with contextlib.suppress(OSError), (run_dir / LOG_FILE).open("a") as log:
                log.write(f"[sweepkit] {text}\n")

        return say

    def _wait(self, proc: subprocess.Popen, control: TrialControl, log) -> Optional[str]:
        stopped: Optional[str] = None
        term_at: Optional[float] = None
        while proc.poll() is None:
            if stopped is None:
                stopped = control.stop_reason()
                if stopped is not None:
                    log.write(f"[sweepkit] stopping run ({stopped}): SIGTERM\n")
                    log.flush()
                    _signal_group(proc, signal.SIGTERM)
                    term_at = time.monotonic()
            elif term_at is not None and (time.monotonic() - term_at > self.kill_delay or control.kill_now()):
                log.write(f"[sweepkit] still alive {time.monotonic() - term_at:.0f}s after SIGTERM: SIGKILL\n")
                log.flush()
                _signal_group(proc, signal.SIGKILL)
                term_at = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        if stopped is None and proc.returncode in _TERMINATED:
            stopped = _late_stop(control)
        return stopped
