"""The scheduler's signals to an agent, and the reason each one gives its running trial.

- SIGTERM: the system wants the agent gone (SLURM's `scancel`, preemption, the time limit; a
  Kubernetes pod deleted). Reason: "preempted: SIGTERM from the scheduler (job 123_4)".
- SIGUSR1: SLURM's warning before the time limit (`#SBATCH --signal=B:USR1@N`; the script says N
  in `SWEEPKIT_TIME_WARNING_S`). Reason: "preempted: time limit in 120 s".

Either way the agent stops its trial, records it `preempted`, puts its point back at once and
exits 143 (`agent.backends.stopping`). SIGINT (Ctrl-C, a person) is the agent loop's own.
Inside the launcher's workers the reason comes from the launcher, through a stop file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from agent.backends.stopping import INTERRUPTED, StopRequest, preempted

TIME_WARNING_ENV = "SWEEPKIT_TIME_WARNING_S"  # set by the array's script: how early USR1 comes
STOP_FILE_ENV = "SWEEPKIT_STOP_FILE"  # set by the launcher for its workers: why it stopped them
SCHEDULER_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def scheduler_task(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """`123_4` (an array task), `123` (a job), or None outside a SLURM job."""
    env = os.environ if env is None else env
    if env.get("SLURM_ARRAY_JOB_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '0')}"
    return env.get("SLURM_JOB_ID") or None


def reason_for(sig: int, env: Optional[Mapping[str, str]] = None) -> str:
    """The stop reason a scheduler signal gives the running trial."""
    env = os.environ if env is None else env
    if sig == signal.SIGUSR1:
        lead = env.get(TIME_WARNING_ENV, "")
        return preempted(f"time limit in {lead} s" if lead.isdigit() else "the time-limit warning (SIGUSR1)")
    task = scheduler_task(env)
    return preempted(f"SIGTERM from the scheduler (job {task})" if task else "SIGTERM")


def stop_on_scheduler_signals(stop: StopRequest) -> None:
    """SIGTERM and SIGUSR1 request a preemption stop of this agent (main thread only: elsewhere
    Python cannot install handlers, and the caller's own stays)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SCHEDULER_SIGNALS:
        signal.signal(sig, lambda signum, _frame: stop.request(reason_for(signum)))


def stop_file_reason(path: Optional[str]) -> Optional[str]:
    """What the launcher wrote before it stopped its workers, if it did."""
    if not path:
        return None
    with contextlib.suppress(OSError):
        return Path(path).read_text(encoding="utf-8").strip() or None
    return None


def worker_stop_reason(env: Optional[Mapping[str, str]] = None) -> str:
    """Why a launcher's worker got SIGTERM: the launcher's word (its stop file) if it gave one; else,
    inside a SLURM job, the scheduler signalled every process of the task at once; else the
    launcher passed a Ctrl-C on (or died)."""
    env = os.environ if env is None else env
    said = stop_file_reason(env.get(STOP_FILE_ENV))
    if said:
        return said
    return reason_for(signal.SIGTERM, env) if scheduler_task(env) else INTERRUPTED


def write_stop_file(path: Path, reason: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(reason + "\n", encoding="utf-8")
