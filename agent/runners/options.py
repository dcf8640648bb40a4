"""The options of `sweepkit agent`, declared once.

This one table gives the `sweepkit agent` command and the pool worker's command their click
options, and turns parsed values back into the argv that the launcher hands each worker (and a
SLURM array hands each task), so an option is never spelled twice. `settings()` picks out what
the engine itself needs. The SLURM options' values are checked in `runners/slurm.py` (one line each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Optional

import click

from agent.backends.base import AgentSettings

BACKEND, ENGINE, LAUNCH, SLURM = "backend", "engine", "launch", "slurm"


@dataclass(frozen=True)
class AgentOption:
    dest: str
    flags: tuple[str, ...]
    help: str
    scope: str
    type: Any = None
    default: Any = None
    envvar: Optional[str] = None
    is_flag: bool = False
    metavar: Optional[str] = None
    show_default: bool = False
    multiple: bool = False


OPTIONS: tuple[AgentOption, ...] = (
    AgentOption(
        "count", ("--count",), "Run at most N trials, then exit (per agent).", ENGINE, type=click.IntRange(min=1)
    ),
    AgentOption(
        "backend",
        ("--backend",),
        "Default: W&B for entity/project/id paths, local otherwise.",
        BACKEND,
        type=click.Choice(["local", "wandb"]),
    ),
    AgentOption("project", ("--project",), "W&B project (W&B sweeps given by id only).", BACKEND),
    AgentOption("entity", ("--entity",), "W&B entity.", BACKEND),
    AgentOption(
        "storage",
        ("--storage",),
        "PostgreSQL/MySQL URL shared by agents on several machines "
        "(default: $SWEEPKIT_STORAGE, else the embedded store under $SWEEPKIT_HOME or ./.sweepkit).",
        BACKEND,
        metavar="URL",
    ),
    AgentOption(
        "heartbeat_timeout",
        ("--heartbeat-timeout",),
        "Seconds without a heartbeat before another agent declares a trial lost and requeues it [default: 60].",
        ENGINE,
        type=float,
        envvar="SWEEPKIT_HEARTBEAT_TIMEOUT",
    ),
    AgentOption(
        "max_consecutive_failures",
        ("--max-consecutive-failures",),
        "Stop after N failed runs in a row [default: $WANDB_AGENT_MAX_INITIAL_FAILURES or 5].",
        ENGINE,
        type=click.IntRange(min=1),
    ),
    AgentOption(
        "kill_delay",
        ("--kill-delay",),
        "Seconds between SIGTERM and SIGKILL for a stopped run [default: $WANDB_AGENT_KILL_DELAY or 30].",
        ENGINE,
        type=float,
    ),
    AgentOption(
        "no_sweep_id",
        ("--no-sweep-id",),
        "Leave WANDB_SWEEP_ID unset in local trials so `sweepkit sync` "
        "can upload them (W&B rejects runs naming a sweep it does not have); params still arrive via "
        "WANDB_SWEEP_PARAM_PATH.",
        ENGINE,
        is_flag=True,
        envvar="SWEEPKIT_NO_SWEEP_ID",
        default=False,
    ),
    AgentOption(
        "verbose",
        ("-v", "--verbose"),
        "Echo each run's output too (always in its agent.log).",
        ENGINE,
        is_flag=True,
        default=False,
    ),
    AgentOption(
        "workers",
        ("--workers",),
        "Run N agents at once on this machine, in one progress view (CPU boxes; GPUs: --gpus).",
        LAUNCH,
        type=click.IntRange(min=1),
    ),
    AgentOption(
        "gpus",
        ("--gpus",),
        "Start --per-gpu agents on each listed GPU, each pinned with CUDA_VISIBLE_DEVICES.",
        LAUNCH,
        metavar="all|0,1,...",
    ),
    AgentOption(
        "per_gpu",
        ("--per-gpu",),
        "Agents per GPU with --gpus; auto fills free GPU memory from the first trial's measured peak.",
        LAUNCH,
        default="1",
        metavar="N|auto",
        show_default=True,
    ),
    AgentOption(
        "warm",
        ("--warm/--cold",),
        "--warm (the default with --workers/--gpus): each agent runs trial after "
        "trial in its own process, imports and caches kept. --cold: a fresh process per trial "
        "(wandb agent's way).",
        LAUNCH,
        default=None,
    ),
    # -- a SLURM job array of agents (runners/slurm.py); each task runs `sweepkit agent` with the options above
    AgentOption(
        "slurm",
        ("--slurm",),
        "Submit N agents as one SLURM job array (sbatch) instead of running here; prints the job id.",
        SLURM,
        type=int,
        metavar="N",
    ),
    AgentOption(
        "slurm_parallel",
        ("--slurm-parallel",),
        "With --slurm: at most M tasks of the array at once (sbatch --array=...%M).",
        SLURM,
        type=int,
        metavar="M",
    ),
    AgentOption("partition", ("--partition",), "With --slurm: the partition (sbatch --partition).", SLURM),
    AgentOption(
        "time",
        ("--time",),
        "With --slurm: each task's time limit, in sbatch's formats (MM, HH:MM:SS, D-HH:MM...).",
        SLURM,
        metavar="LIMIT",
    ),
    AgentOption(
        "gpus_per_task",
        ("--gpus-per-task",),
        "With --slurm: GPUs per task ([type:]N); --per-gpu then packs agents on them.",
        SLURM,
        metavar="[TYPE:]N",
    ),
    AgentOption("cpus_per_task", ("--cpus-per-task",), "With --slurm: CPUs per task.", SLURM, type=int, metavar="N"),
    AgentOption("mem", ("--mem",), "With --slurm: memory per node, e.g. 32G (sbatch --mem).", SLURM, metavar="SIZE"),
    AgentOption("account", ("--account",), "With --slurm: the account to charge (sbatch --account).", SLURM),
    AgentOption("qos", ("--qos",), "With --slurm: the quality of service (sbatch --qos).", SLURM),
    AgentOption(
        "requeue",
        ("--requeue",),
        "With --slurm: let SLURM requeue a preempted or failed-node task (#SBATCH --requeue).",
        SLURM,
        is_flag=True,
        default=False,
    ),
    AgentOption(
        "slurm_opt",
        ("--slurm-opt",),
        "With --slurm: any other sbatch option as KEY=VALUE (e.g. constraint=a100, nodelist=node1); repeatable.",
        SLURM,
        metavar="KEY=VALUE",
        multiple=True,
    ),
)
BY_DEST = {o.dest: o for o in OPTIONS}


def click_options(*scopes: str) -> Callable:
    """A decorator adding every option of `scopes` to a click command, in the table's order."""
    chosen = [o for o in OPTIONS if o.scope in scopes]

    def decorate(fn: Callable) -> Callable:
        for o in reversed(chosen):
            kwargs: dict[str, Any] = {"help": o.help, "default": o.default, "show_default": o.show_default}
            if o.multiple:
                kwargs["multiple"] = True
            if o.is_flag:
                kwargs["is_flag"] = True
            elif o.type is not None:
                kwargs["type"] = o.type
            if o.envvar:
                kwargs["envvar"] = o.envvar
            if o.metavar:
                kwargs["metavar"] = o.metavar
            fn = click.option(*o.flags, o.dest, **kwargs)(fn)
        return fn

    return decorate


def to_argv(values: dict[str, Any], *scopes: str) -> list[str]:
    """The flags that reproduce `values` (as click parsed them) for a command taking `scopes`."""
    out: list[str] = []
    for o in OPTIONS:
        v = values.get(o.dest)
        if o.scope not in scopes or v is None or (o.is_flag and not v) or v == o.default or v == ():
            continue
        if o.multiple:
            out += [a for item in v for a in (o.flags[-1], str(item))]
        elif "/" in o.flags[-1]:  # --warm/--cold
            on, off = o.flags[-1].split("/")
            out.append(on if v else off)
        elif o.is_flag:
            out.append(o.flags[-1])
        else:
            out += [o.flags[-1], str(v)]
    return out


def settings(values: dict[str, Any]) -> AgentSettings:
    """The engine's settings from parsed option values (every AgentSettings field is an option here)."""
    return AgentSettings(**{f.name: values.get(f.name, BY_DEST[f.name].default) for f in fields(AgentSettings)})
