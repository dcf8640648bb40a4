"""SLURM's side: run its commands, submit a script, remember the job, read back its tasks' states.

A submitted array's id goes into `jobs.jsonl` beside its script, so `sweepkit status` finds it;
a job resubmitted by hand is found by its name while SLURM still lists it. Task states come from
`scontrol show job` (pending, running, and ended tasks for MinJobAge, 300 s by default), and from
`sacct` once scontrol has forgotten them, where accounting is on; where it is off, a forgotten
job says so rather than guess.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from agent.runners.slurm.request import SlurmError

JOBS_FILE = "jobs.jsonl"
TIMEOUT_S = 60
BUCKETS = ("pending", "running", "done", "failed")
_PENDING = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED"}
_RUNNING = {"RUNNING", "CONFIGURING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "STOPPED"}


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """A SLURM client command; SlurmError (one line) when it is missing, hangs, or (check) fails."""
    if shutil.which(argv[0]) is None:
        raise SlurmError(f"{argv[0]} not found: --slurm needs SLURM's client commands (run it where sbatch works)")
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer in {TIMEOUT_S} s: is slurmctld up? (scontrol ping)") from None
    if check and res.returncode != 0:
        raise SlurmError(f"{' '.join(argv[:2])} failed: {last_line(res.stderr) or f'exit {res.returncode}'}")
    return res


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def scontrol_text(*args: str) -> str:
    """scontrol's output, or '' where it fails (the caller treats that as 'SLURM did not say')."""
    try:
        return run("scontrol", *args, check=False).stdout
    except SlurmError:
        return ""


def submit(script: Path) -> str:
    """`sbatch --parsable SCRIPT` -> the job id."""
    res = run("sbatch", "--parsable", str(script), check=False)
    if res.returncode != 0:
        raise SlurmError(f"sbatch refused {script}: {last_line(res.stderr) or f'exit {res.returncode}'}")
    job_id = res.stdout.strip().split(";")[0]  # "<id>[;<cluster>]"
    if not job_id.isdigit():
        raise SlurmError(f"sbatch gave no job id for {script} (it said {res.stdout.strip()!r})")
    return job_id


def record(folder: Path, job_id: str, script: Path, tasks: int) -> None:
    entry = {"job_id": job_id, "script": str(script), "tasks": tasks, "submitted_at": time.time()}
    with open(folder / JOBS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def recorded(folder: Path) -> list[dict]:
    """The jobs submitted for this sweep, oldest first (a torn last line is skipped)."""
    out = []
    try:
        lines = (folder / JOBS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


@dataclass
class TaskState:
    job_id: str  # the array's job id
    task: str  # the task index, or a pending range such as "4-7%2"
    state: str  # SLURM's JobState
    count: int = 1  # tasks this row stands for (a pending range stands for several)
    node: str = ""
    exit_code: str = ""
    reason: str = ""
    restarts: int = 0

    @property
    def bucket(self) -> str:
        if self.state in _PENDING:
            return "pending"
        if self.state in _RUNNING:
            return "running"
        return "done" if self.state == "COMPLETED" else "failed"


@dataclass
class JobView:
    job_id: str
    tasks: list[TaskState] = field(default_factory=list)
    submitted: Optional[int] = None  # tasks submitted (from the record; None: found by name)
    script: Optional[str] = None
    source: str = "scontrol"  # where the states came from: scontrol | sacct | none
    note: str = ""

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(BUCKETS, 0)
        for t in self.tasks:
            out[t.bucket] += t.count
        missing = (self.submitted or 0) - sum(out.values())
        if missing > 0:
            out["unknown"] = missing
        return out

    def to_json(self) -> dict:
        return {
            "job_id": self.job_id,
            "script": self.script,
            "submitted": self.submitted,
            "source": self.source,
            "note": self.note,
            "counts": self.counts(),
            "tasks": [{**asdict(t), "bucket": t.bucket} for t in self.tasks],
        }


def range_size(spec: str) -> int:
    """How many task ids an array range names: '3', '0-7%2', '1,4-6', '0-9:3'."""
    n = 0
    for part in spec.split("%")[0].strip("[]").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part.strip())
        if m:
            lo, hi, step = int(m[1]), int(m[2] or m[1]), int(m[3] or 1)
            n += len(range(lo, hi + 1, step))
    return n


def parse_scontrol(text: str) -> list[TaskState]:
    """`scontrol show job -o ID` output (one line per task record) -> the tasks."""
    out = []
    for line in text.splitlines():
        fields: dict[str, str] = {}
        key = None
        for tok in line.split(" "):
            if "=" in tok and re.match(r"[A-Za-z/:]+=", tok):
                key, _, value = tok.partition("=")
                fields[key] = value
            elif key and tok:  # a value with a blank in it (a path, a reason)
                fields[key] += " " + tok
        if "JobState" not in fields:
            continue
        task = fields.get("ArrayTaskId", "")
        out.append(
            TaskState(
                job_id=fields.get("ArrayJobId") or fields.get("JobId", ""),
                task=task,
                state=fields["JobState"],
                count=range_size(task) if task else 1,
                node=fields.get("NodeList", "") if fields.get("NodeList") not in ("(null)", "") else "",
                exit_code=fields.get("ExitCode", ""),
                reason=fields.get("Reason", "") if fields.get("Reason") != "None" else "",
                restarts=int(fields.get("Restarts", "0") or 0),
            )
        )
    return out


def parse_sacct(text: str) -> list[TaskState]:
    """`sacct -X -n -P -o JobID,State,ExitCode,NodeList` output -> the tasks."""
    out = []
    for line in text.splitlines():
        cols = line.strip().split("|")
        if len(cols) < 4 or not cols[0]:
            continue
        job, _, task = cols[0].partition("_")
        task = task.strip("[]")
        out.append(
            TaskState(
                job_id=job,
                task=task,
                state=cols[1].split()[0] if cols[1] else "UNKNOWN",  # "CANCELLED by 0"
                count=range_size(task) if task else 1,
                node=cols[3] if cols[3] != "None assigned" else "",
                exit_code=cols[2],
            )
        )
    return out


def read_job(job_id: str, *, submitted: Optional[int] = None, script: Optional[str] = None) -> JobView:
    """The array's tasks as SLURM knows them now."""
    view = JobView(job_id, submitted=submitted, script=script)
    res = run("scontrol", "show", "job", "-o", job_id, check=False)
    view.tasks = parse_scontrol(res.stdout) if res.returncode == 0 else []
    if view.tasks:
        return view
    try:  # accounting, where it is on, keeps what scontrol forgets
        acct = run("sacct", "-j", job_id, "-X", "-n", "-P", "-o", "JobID,State,ExitCode,NodeList", check=False)
    except SlurmError:
        acct = None
    view.tasks = parse_sacct(acct.stdout) if acct is not None and acct.returncode == 0 else []
    if view.tasks:
        view.source = "sacct"
        return view
    view.source = "none"
    view.note = "no longer known to SLURM (it ended a while ago and accounting, sacct, is off here)"
    return view


def named_jobs(name: str) -> list[str]:
    """The array job ids SLURM lists under `name` for this user (a script resubmitted by hand)."""
    try:
        res = run("squeue", "--me", "-h", "-t", "all", "-n", name, "-o", "%F", check=False)
    except SlurmError:
        return []
    return list(dict.fromkeys(ln.strip() for ln in res.stdout.splitlines() if ln.strip().isdigit()))
