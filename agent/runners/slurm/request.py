"""What a `sweepkit agent SWEEP --slurm N ...` asks of SLURM, checked: pure functions, one line per mistake.

The options are declared in `runners/options.py` (the SLURM scope); here their values become the
`#SBATCH` directives of the array, in sbatch's own long-option names, so a reader of the written
script sees exactly what sbatch sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from agent.runners import options


class SlurmError(ValueError):
    """A bad SLURM request, or SLURM refusing or failing one (one line, naming the fix)."""


# Declared option -> the sbatch option it sets.
DIRECTIVE_OF = {
    "partition": "partition",
    "time": "time",
    "gpus_per_task": "gpus-per-task",
    "cpus_per_task": "cpus-per-task",
    "mem": "mem",
    "account": "account",
    "qos": "qos",
}
TIME_FORMATS = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. 2:00:00), or UNLIMITED"
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")
_MEM = re.compile(r"\d+[KMGT]?", re.IGNORECASE)
_GPUS = re.compile(r"(?:[A-Za-z0-9_.-]+:)?\d+")
_KEY = re.compile(r"[a-z][a-z0-9-]+")


@dataclass(frozen=True)
class SlurmRequest:
    tasks: int
    parallel: Optional[int]
    directives: dict[str, Optional[str]]  # sbatch long option -> its value (None: a flag such as requeue)
    time_s: Optional[int]  # the time limit in seconds; None: none given (the partition's)

    @property
    def partition(self) -> Optional[str]:
        return self.directives.get("partition")

    @property
    def nodelist(self) -> Optional[str]:
        return self.directives.get("nodelist")


def time_limit_s(text: str) -> Optional[int]:
    """sbatch's --time in seconds; None for no limit (UNLIMITED, INFINITE or 0, as sbatch reads them)."""
    t = text.strip()
    if t.upper() in ("UNLIMITED", "INFINITE"):
        return None
    m = _TIME.fullmatch(t)
    if not m:
        raise SlurmError(f"--time {text!r}: give {TIME_FORMATS}")
    days, a, b, c = m.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = ((int(days) * 24 + int(a)) * 60 + int(b or 0)) * 60 + int(c or 0)
    elif c is not None:  # HH:MM:SS
        seconds = (int(a) * 60 + int(b)) * 60 + int(c)
    elif b is not None:  # MM:SS
        seconds = int(a) * 60 + int(b)
    else:  # MM
        seconds = int(a) * 60
    return seconds or None


def slurm_opt(text: str) -> tuple[str, str]:
    """One `--slurm-opt KEY=VALUE` as (sbatch long option, value)."""
    key, eq, value = text.partition("=")
    key = key.strip().lstrip("-")
    if not eq or not _KEY.fullmatch(key):
        raise SlurmError(
            f"--slurm-opt {text!r}: give KEY=VALUE, an sbatch long option and its value (e.g. constraint=a100)"
        )
    if "\n" in value or '"' in value:
        raise SlurmError(f"--slurm-opt {text!r}: a value cannot hold a newline or a double quote")
    if key == "array":
        raise SlurmError("--slurm-opt array=...: the array is --slurm N (with --slurm-parallel M for %M)")
    declared = {v: k for k, v in DIRECTIVE_OF.items()} | {"requeue": "requeue"}
    if key in declared:
        flag = options.BY_DEST[declared[key]].flags[-1]
        raise SlurmError(f"--slurm-opt {key}=...: use {flag} (declared once, checked there)")
    return key, value.strip()


def _given(value: Any) -> bool:
    return value is not None and value is not False and value != ()


def wants_slurm(values: dict[str, Any]) -> bool:
    """Was any SLURM option given? (Each is checked against --slurm N by `request_from`.)"""
    return any(_given(values.get(o.dest)) for o in options.OPTIONS if o.scope == options.SLURM)


def request_from(values: dict[str, Any]) -> SlurmRequest:
    """`sweepkit agent`'s parsed SLURM options as a request; SlurmError (one line) for a bad one."""
    n = values.get("slurm")
    if n is None:
        given = next(o.flags[-1] for o in options.OPTIONS if o.scope == options.SLURM and _given(values.get(o.dest)))
        raise SlurmError(f"{given} applies to --slurm N (a SLURM job array of N agents); add --slurm N")
    if n < 1:
        raise SlurmError(f"--slurm {n}: give the number of agents (array tasks) to submit, at least 1")
    parallel = values.get("slurm_parallel")
    if parallel is not None and parallel < 1:
        raise SlurmError(f"--slurm-parallel {parallel}: give how many tasks may run at once, at least 1")
    cpus = values.get("cpus_per_task")
    if cpus is not None and cpus < 1:
        raise SlurmError(f"--cpus-per-task {cpus}: give at least 1")
    mem, gpus = values.get("mem"), values.get("gpus_per_task")
    if mem is not None and not _MEM.fullmatch(str(mem).strip()):
        raise SlurmError(f"--mem {mem!r}: give a size with an optional unit K, M, G or T (e.g. 32G)")
    if gpus is not None and not _GPUS.fullmatch(str(gpus).strip()):
        raise SlurmError(f"--gpus-per-task {gpus!r}: give a count, or TYPE:COUNT (e.g. 1 or a100:2)")
    seconds = time_limit_s(values["time"]) if values.get("time") is not None else None
    directives: dict[str, Optional[str]] = {
        DIRECTIVE_OF[dest]: str(values[dest]).strip() for dest in DIRECTIVE_OF if values.get(dest) is not None
    }
    if values.get("requeue"):
        directives["requeue"] = None
    for text in values.get("slurm_opt") or ():
        key, value = slurm_opt(text)
        directives[key] = value
    return SlurmRequest(tasks=n, parallel=parallel, directives=directives, time_s=seconds)


def max_nodes(spec: Optional[str]) -> int:
    """The most nodes one task may span under sbatch's --nodes (N, MIN-MAX or a list of sizes)."""
    if not spec:
        return 1
    sizes = [int(x) for x in re.findall(r"\d+", spec)]
    return max(sizes) if sizes else 1
