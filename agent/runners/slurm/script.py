"""The sbatch script of a `--slurm N` array: rendered by a pure function, readable, resubmittable.

The file carries everything a task needs, so `sbatch FILE` by hand works as the first submission
did: every `#SBATCH` line, the environment the agent reads (SWEEPKIT_HOME, the shared store's URL,
PYTHONPATH) written out, the absolute interpreter, and `exec` of the agent, which makes the agent
the task's own process: SLURM's signals reach it with no shell in between.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from agent.paths import safe_name
from agent.runners import options
from agent.runners.signals import TIME_WARNING_ENV
from agent.runners.slurm.request import SlurmRequest

# USR1 comes this long before the time limit: the agent stops its trial (it gets up to the kill delay,
# 30 s by default, to finish its W&B run), records it preempted and puts its point back.
WARNING_LEAD_S = 120
_USR1_AT = re.compile(r"(?:B:)?(?:USR1|SIGUSR1|10)@(\d+)", re.IGNORECASE)
# Variables the tasks need as the submitting shell had them (never secrets: W&B's key comes from
# ~/.netrc or the job's environment).
CARRIED_ENV = (
    "SWEEPKIT_CACHE",
    "WANDB_MODE",
    "WANDB_PROJECT",
    "WANDB_ENTITY",
    "WANDB_BASE_URL",
    "WANDB_SILENT",
    "WANDB_AGENT_KILL_DELAY",
    "WANDB_AGENT_MAX_INITIAL_FAILURES",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
)


@dataclass(frozen=True)
class ArrayScript:
    sweep_id: str
    request: SlurmRequest
    command: list[str]  # what each task execs
    workdir: str  # absolute: relative `program:` paths resolve here, as where the agent was asked for
    log_dir: str  # absolute: each task's output goes to <log_dir>/<job>_<task>.out
    env: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # the command line that wrote the script (no secrets)


def job_name(sweep_id: str) -> str:
    """The array's name in squeue, one per sweep (how `status` finds a job resubmitted by hand)."""
    return f"sweepkit-{safe_name(sweep_id)}"


def warning_lead_s(time_s: Optional[int]) -> int:
    """Seconds before the time limit that USR1 comes: WARNING_LEAD_S, or half a shorter limit."""
    return WARNING_LEAD_S if time_s is None else max(1, min(WARNING_LEAD_S, time_s // 2))


def task_command(python: str, sweep_id: str, values: Mapping[str, Any]) -> list[str]:
    """What each task runs: `sweepkit agent SWEEP` with the agent's own options (the store's URL
    travels in the environment instead, never on a command line). `--per-gpu` without `--gpus`
    means the GPUs SLURM gave the task."""
    passed = {k: v for k, v in values.items() if k != "storage"}
    if str(passed.get("per_gpu") or "1") != "1" and passed.get("gpus") is None:
        passed["gpus"] = "all"
    argv = options.to_argv(passed, options.BACKEND, options.ENGINE, options.LAUNCH)
    return [python, "-m", "agent.cli", "agent", sweep_id, *argv]


def directives(script: ArrayScript) -> dict[str, Optional[str]]:
    """Every `#SBATCH` option in order: ours first, the user's after (a user's key replaces ours)."""
    r = script.request
    out: dict[str, Optional[str]] = {
        "job-name": job_name(script.sweep_id),
        "array": f"0-{r.tasks - 1}" + (f"%{r.parallel}" if r.parallel else ""),
        "output": f"{script.log_dir}/%A_%a.out",
        "chdir": script.workdir,
        "signal": f"B:USR1@{warning_lead_s(r.time_s)}",
    }
    out.update(r.directives)
    return out


def time_warning_s(script: ArrayScript) -> Optional[int]:
    """How many seconds before the time limit USR1 comes, as the script's `--signal` asks (a user's
    own `--slurm-opt signal=...` included); None when it asks for another signal."""
    m = _USR1_AT.fullmatch(str(directives(script).get("signal") or ""))
    return int(m[1]) if m else None


def _directive(key: str, value: Optional[str]) -> str:
    if value is None:
        return f"#SBATCH --{key}"
    # sbatch splits an #SBATCH line on blanks unless the value is double-quoted
    return f'#SBATCH --{key}="{value}"' if any(c.isspace() for c in value) else f"#SBATCH --{key}={value}"


def render(script: ArrayScript) -> str:
    """The sbatch file's text."""
    r = script.request
    lead = time_warning_s(script)
    env = {**script.env, **({TIME_WARNING_ENV: str(lead)} if lead is not None else {})}
    lines = [
        "#!/bin/bash",
        f"# {r.tasks} sweepkit agent(s) of sweep {script.sweep_id}, one per task of this SLURM job array.",
    ]
    if script.origin:
        lines.append(f"# Written by: {script.origin}")
    lines += [
        "# Submit it again as it is with `sbatch <this file>`; `sweepkit status "
        f"{script.sweep_id}` shows its tasks beside the runs.",
        "# Each task runs one agent until the sweep is done (or --count trials); the sweep's store hands",
        "# every agent different trials.",
        *(_directive(k, v) for k, v in directives(script).items()),
        "",
        "set -eu",
        *(f"export {k}={shlex.quote(v)}" for k, v in env.items()),
        'echo "sweepkit: task ${SLURM_ARRAY_TASK_ID:-0} of job ${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-?}} '
        'on $(hostname), restart ${SLURM_RESTART_COUNT:-0}"',
        "# exec: the agent becomes the task's own process, so SLURM's signals reach it directly.",
        "#  SIGTERM (scancel, preemption, the time limit)"
        + (f", or USR1 {lead} s before the time limit:" if lead is not None else ":"),
        "#    the agent stops its trial, records it preempted, puts its point back in the sweep at once",
        "#    and exits (143); with --requeue, a task SLURM starts again goes on with the sweep.",
        "exec " + shlex.join(script.command),
        "",
    ]
    return "\n".join(lines)
