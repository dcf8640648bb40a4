"""`sweepkit agent SWEEP --slurm N`: N agents of a sweep as one SLURM job array.

sweepkit writes the sbatch script itself (`script.render`, a pure function) rather than going
through submitit: the script is a plain file a person can read, edit and `sbatch` again, and each
task runs the ordinary `sweepkit agent` command, so nothing is pickled and the task needs only
sweepkit installed where it runs. Parts: `request` (the options, checked), `script` (the file),
`placement` (may this array share the embedded journal?), `jobs` (sbatch, squeue, scontrol, sacct).

Files, per sweep, under `$SWEEPKIT_HOME/agents/<sweep>/slurm/`: `<timestamp>.sbatch` (each submitted
script), `jobs.jsonl` (the job ids submitted, so `sweepkit status` finds them), `<job>_<task>.out`
(each task's output).
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from agent.backends.base import Backend
from agent.paths import home, safe_name
from agent.runners import options
from agent.runners.gpus import LaunchError, parse_per_gpu
from agent.runners.slurm.jobs import JobView, named_jobs, read_job, record, recorded, scontrol_text, submit
from agent.runners.slurm.placement import journal_refusal, placement_of
from agent.runners.slurm.request import SlurmError, SlurmRequest, request_from, wants_slurm
from agent.runners.slurm.script import CARRIED_ENV, ArrayScript, job_name, render, task_command

__all__ = [
    "SlurmError",
    "Submitted",
    "check",
    "describe",
    "jobs_of",
    "submit_array",
    "task_label",
    "wants_slurm",
    "write_array",
]


def slurm_dir(sweep_id: str) -> Path:
    return home() / "agents" / safe_name(sweep_id) / "slurm"


def task_label(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """`slurm-<job>_<task>` inside a SLURM task, else None: tasks sharing SWEEPKIT_HOME keep their
    own launcher files apart with it."""
    env = os.environ if env is None else env
    if env.get("SLURM_ARRAY_JOB_ID"):
        return f"slurm-{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '0')}"
    return f"slurm-{env['SLURM_JOB_ID']}" if env.get("SLURM_JOB_ID") else None


_SCOPES = (options.BACKEND, options.ENGINE, options.LAUNCH, options.SLURM)


@dataclass(frozen=True)
class Submitted:
    job_id: str
    tasks: int
    script: Path
    log_dir: Path


def check(values: Mapping[str, Any]) -> SlurmRequest:
    """The request from `sweepkit agent`'s options, and the launcher's rules for the task's own options
    (checked here, before submitting, rather than failing in every task's log). One-line errors."""
    request = request_from(dict(values))
    if values.get("gpus") is not None and values.get("workers") is not None:
        raise LaunchError("give --gpus (with --per-gpu) or --workers, not both")
    parse_per_gpu(values.get("per_gpu") or "1")
    return request


def _task_env(storage: Optional[str], env: Mapping[str, str]) -> dict[str, str]:
    out = {"SWEEPKIT_HOME": str(home().resolve())}
    root = Path(__file__).resolve().parents[3]  # the folder holding the `agent` package
    # A checkout (or an editable install) goes first on the path, so the tasks run this very code.
    own = [] if root.name in ("site-packages", "dist-packages") else [str(root)]
    paths = own + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in own]
    if paths:
        out["PYTHONPATH"] = os.pathsep.join(paths)
    if storage:
        out["SWEEPKIT_STORAGE"] = storage
    out.update({k: env[k] for k in CARRIED_ENV if env.get(k)})
    return out


def _script_path(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = folder / f"{stamp}.sbatch", 1
    while path.exists():
        n += 1
        path = folder / f"{stamp}-{n}.sbatch"
    return path


def write_array(
    sweep_id: str,
    values: Mapping[str, Any],
    *,
    host_bound: Optional[str] = None,
    python: str = sys.executable,
    env: Optional[Mapping[str, str]] = None,
) -> tuple[Path, SlurmRequest]:
    """Check the request (one-line SlurmError/LaunchError) and write the array's sbatch script.
    `host_bound`: the sweep's store when only agents on this host may share it (`Backend.host_bound_store`)."""
    env = os.environ if env is None else env
    request = check(values)
    if host_bound is not None:
        placement = placement_of(request, scontrol_text, env)
        refusal = journal_refusal(sweep_id, host_bound, placement)
        if refusal:
            raise SlurmError(refusal)
        # pin what was checked, so the script resubmitted by hand (another SBATCH_PARTITION...) stays here
        request = replace(request, directives={**request.directives, "nodelist": placement.host})
    folder = slurm_dir(sweep_id).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    storage = values.get("storage") or env.get("SWEEPKIT_STORAGE") or None
    shown = options.to_argv({k: v for k, v in values.items() if k != "storage"}, *_SCOPES)
    script = ArrayScript(
        sweep_id=sweep_id,
        request=request,
        command=task_command(python, sweep_id, values),
        workdir=str(Path.cwd()),
        log_dir=str(folder),
        env=_task_env(storage, env),
        origin=" ".join(["sweepkit", "agent", sweep_id, *shown]),
    )
    path = _script_path(folder)
    path.write_text(render(script), encoding="utf-8")
    if storage and urlsplit(storage).password:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)  # it holds the store's password
    return path, request


def submit_array(sweep_id: str, values: Mapping[str, Any], backend: Backend) -> Submitted:
    """Write the sweep's array script, sbatch it and record the job id beside it."""
    info = backend.sweep(sweep_id)
    path, request = write_array(sweep_id, values, host_bound=backend.host_bound_store(info))
    job_id = submit(path)
    record(path.parent, job_id, path, request.tasks)
    return Submitted(job_id, request.tasks, path, path.parent)


def jobs_of(sweep_id: str) -> list[JobView]:
    """The SLURM arrays of this sweep (submitted from this SWEEPKIT_HOME) and their tasks' states."""
    folder = slurm_dir(sweep_id)
    if not folder.is_dir():
        return []
    entries = recorded(folder)
    try:
        views = [read_job(str(e["job_id"]), submitted=e.get("tasks"), script=e.get("script")) for e in entries]
        known = {str(e["job_id"]) for e in entries}
        views += [read_job(j) for j in named_jobs(job_name(sweep_id)) if j not in known]
    except SlurmError as exc:
        return [
            JobView(str(e["job_id"]), submitted=e.get("tasks"), script=e.get("script"), source="none", note=str(exc))
            for e in entries
        ]
    return views


def describe(view: JobView, *, most: int = 5) -> list[str]:
    """A job's lines for `sweepkit status`: its counts, then the tasks that failed."""
    size = f"{view.submitted} tasks" if view.submitted else "submitted by hand"
    head = f"slurm job {view.job_id} ({size})"
    if view.source == "none":
        return [f"{head}: {view.note}"]
    counts = view.counts()
    lines = [f"{head}: " + ", ".join(f"{n} {bucket}" for bucket, n in counts.items())]
    failed = [t for t in view.tasks if t.bucket == "failed"]
    for t in failed[:most]:
        lines.append(
            f"  task {t.task}: {t.state}"
            + (f" exit {t.exit_code}" if t.exit_code else "")
            + (f" on {t.node}" if t.node else "")
            + (f" ({t.reason})" if t.reason else "")
        )
    if len(failed) > most:
        lines.append(f"  ... and {len(failed) - most} more failed task(s)")
    if view.script:
        lines.append(f"  script: {view.script}; output: {Path(view.script).parent}/{view.job_id}_<task>.out")
    return lines
