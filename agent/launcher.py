"""Many agents at once: `sweepkit agent SWEEP --gpus all --per-gpu N|auto` or `--workers N`.

A GLUE-sized fine-tune leaves a modern GPU mostly idle (its step time is host and launch bound),
and four such trials at once on one H200 each ran as fast as one alone (FACTS.md anchors), so
the launcher packs N worker processes per GPU, each pinned with CUDA_VISIBLE_DEVICES, each a
full agent of the sweep (any backend: the claim of a trial is the backend's job). Workers run
in their own sessions so a terminal Ctrl-C reaches only the launcher, which SIGTERMs every
worker once (each finishes its W&B run cleanly; the grid point is requeued) and SIGKILLs on a
second Ctrl-C. Each worker writes a small JSON status file; the launcher draws them all in one
rich view. A warm worker that cannot clean up after a trial exits 75 and is started again.

`--per-gpu auto` starts one worker per GPU, waits for the first trial's measured peak GPU
memory (the trial's own `peak_gpu_memory_mb`), then fills each GPU's free memory (pynvml)
with as many more as fit, capped by CPU cores and SWEEPKIT_MAX_PER_GPU (default 8), and says so.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from agent.backends.base import BackendError
from agent.pool_worker import add_agent_options
from agent.warm import RESTART_EXIT

MAX_RESTARTS = 20
MAX_PER_GPU_ENV = "SWEEPKIT_MAX_PER_GPU"
DEFAULT_MAX_PER_GPU = 8        # 8 BERT trials on one H200 gave 5.8x; more mostly adds contention
WORKER_OVERHEAD_MB = 1024.0    # CUDA context + allocator slack beyond a trial's max_memory_allocated
MEMORY_MARGIN = 1.2


class LaunchError(ValueError):
    """A bad --gpus / --per-gpu / --workers combination (one line)."""


# ---- pure helpers (tested directly) ------------------------------------------------------

def parse_gpus(spec: str, available: int) -> list[str]:
    """`all` or `0,1,...` -> device indices; each must exist on this machine."""
    spec = spec.strip().lower()
    if available <= 0:
        raise LaunchError("--gpus needs CUDA GPUs and none are visible; use --workers N on a CPU box")
    if spec == "all":
        return [str(i) for i in range(available)]
    if not re.fullmatch(r"\d+(,\d+)*", spec):
        raise LaunchError(f"--gpus {spec!r}: give `all` or comma-separated indices such as 0,1")
    ids = list(dict.fromkeys(spec.split(",")))
    bad = [i for i in ids if int(i) >= available]
    if bad:
        raise LaunchError(f"--gpus {spec}: no GPU {', '.join(bad)} (this machine has {available}: 0..{available - 1})")
    return ids


def parse_per_gpu(value: str | int) -> Optional[int]:
    """An int >= 1, or None for `auto`."""
    if str(value).strip().lower() == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise LaunchError(f"--per-gpu {value!r}: give a number of workers per GPU, or auto") from None
    if n < 1:
        raise LaunchError(f"--per-gpu {n}: needs at least 1")
    return n


def choose_per_gpu(peak_mb: Optional[float], free_mb: float, *, running: int = 1, cpu_count: int = 1,
                   n_gpus: int = 1, cap: int = DEFAULT_MAX_PER_GPU) -> tuple[int, str]:
    """Workers per GPU from one trial's peak memory and the GPU's free memory (with `running`
    workers already on it). Returns (n, the sentence the launcher prints)."""
    if peak_mb is None:
        return running, "no GPU peak memory was measured (CPU trial?); keeping 1 worker per GPU"
    need = peak_mb * MEMORY_MARGIN + WORKER_OVERHEAD_MB
    by_memory = running + int(max(0.0, free_mb) // need)
    by_cpu = max(1, cpu_count // max(1, n_gpus))
    n = max(1, min(by_memory, by_cpu, cap))
    limit = {by_memory: "GPU memory", by_cpu: "CPU cores", cap: f"the cap ({MAX_PER_GPU_ENV}={cap})"}[n] \
        if n in (by_memory, by_cpu, cap) else "GPU memory"
    return n, (f"per-gpu auto: a trial peaks at {peak_mb:,.0f} MB (+{(MEMORY_MARGIN - 1) * 100:.0f}% and "
               f"{WORKER_OVERHEAD_MB:,.0f} MB per worker = {need:,.0f} MB); {free_mb:,.0f} MB free -> "
               f"{n} workers per GPU (limited by {limit})")


def gpu_memory_mb(index: int) -> tuple[float, float]:
    """(free, total) MB of physical GPU `index` (PCI bus order, as CUDA_DEVICE_ORDER is set)."""
    import pynvml
    pynvml.nvmlInit()
    try:
        info = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index))
        return info.free / 2**20, info.total / 2**20
    finally:
        pynvml.nvmlShutdown()


def cuda_device_count() -> int:
    try:
        import pynvml
        pynvml.nvmlInit()
        try:
            return pynvml.nvmlDeviceGetCount()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML here: ask CUDA itself (slower: imports torch)
        try:
            import torch
            return torch.cuda.device_count()
        except Exception:
            return 0


# ---- the launcher ------------------------------------------------------------------------

@dataclass
class Slot:
    index: int
    gpu: Optional[str]
    log: Path
    status: Path
    proc: Optional[subprocess.Popen] = None
    restarts: int = 0
    exit_code: Optional[int] = None
    info: dict = field(default_factory=dict)
    carried: dict = field(default_factory=dict)   # counts of this slot's earlier (restarted) processes

    def count(self, key: str) -> int:
        return self.info.get(key, 0) + self.carried.get(key, 0)


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return (lines[-1][:200] if lines else "(empty log)") + f"  [{path}]"


def log_dir_for(sweep_id: str) -> Path:
    from agent.backends.local_store import home
    return home() / "agents" / re.sub(r"[^A-Za-z0-9_.-]+", "_", sweep_id.strip("/"))


class Launcher:
    def __init__(self, sweep_id: str, *, gpus: Optional[list[str]], per_gpu: Optional[int], workers: int = 1,
                 warm: bool = True, worker_args: Optional[list[str]] = None, console=None,
                 log_dir: Optional[Path] = None, live: Optional[bool] = None):
        from rich.console import Console
        self.sweep_id, self.gpus, self.per_gpu, self.warm = sweep_id, gpus, per_gpu, warm
        self.worker_args = list(worker_args or [])
        self.console = console or Console(highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self.dir = Path(log_dir or log_dir_for(sweep_id))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.slots: list[Slot] = []
        self.notes: list[str] = []
        self.stopping = 0
        self._stop_at = 0.0
        self.auto_pending = gpus is not None and per_gpu is None
        self._printed: dict[int, int] = {}
        first = per_gpu or 1
        targets = [g for g in gpus for _ in range(first)] if gpus is not None else [None] * workers
        self.planned = len(gpus) * (per_gpu or DEFAULT_MAX_PER_GPU) if gpus is not None else workers
        for g in targets:
            self._add(g)

    # -- workers ---------------------------------------------------------------------------
    def _add(self, gpu: Optional[str]) -> Slot:
        i = len(self.slots)
        slot = Slot(i, gpu, self.dir / f"worker-{i}.log", self.dir / f"worker-{i}.json")
        slot.status.unlink(missing_ok=True)
        self.slots.append(slot)
        return slot

    def _env(self, slot: Slot) -> dict:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        if slot.gpu is not None:
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"   # so index i is nvidia-smi's / pynvml's GPU i
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        # N workers each spawning one thread per core would oversubscribe the CPU N times over.
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, self.planned))))
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env["SWEEPKIT_WORKER"] = str(slot.index)
        return env

    def _start(self, slot: Slot) -> None:
        argv = [sys.executable, "-m", "agent.pool_worker", self.sweep_id, "--status", str(slot.status),
                "--warm" if self.warm else "--cold", *self.worker_args]
        with open(slot.log, "a") as log:
            log.write(f"[launcher] start worker {slot.index} gpu={slot.gpu} restart={slot.restarts}\n")
            log.flush()
            slot.proc = subprocess.Popen(argv, env=self._env(slot), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        slot.exit_code = None

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.console.print(f"[{self.sweep_id}] {text}", markup=False)

    def _signal_all(self, sig: int) -> None:
        import psutil
        for s in self.slots:
            if s.proc is None or s.proc.poll() is not None:
                continue
            targets = [s.proc.pid]
            if sig == signal.SIGKILL:  # also the cold trials the worker started in their own sessions
                try:
                    targets += [c.pid for c in psutil.Process(s.proc.pid).children(recursive=True)]
                except psutil.Error:
                    pass
            for pid in targets:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass

    def _on_sigint(self, *_: Any) -> None:
        self.stopping += 1
        if self.stopping == 1:
            self._stop_at = time.monotonic()
            self._signal_all(signal.SIGTERM)
        else:
            self._signal_all(signal.SIGKILL)

    def _escalate(self) -> None:
        """A worker still alive long after SIGTERM (a trial stuck outside Python) gets SIGKILL."""
        grace = float(os.environ.get("WANDB_AGENT_KILL_DELAY") or 30) + 15
        if self.stopping == 1 and time.monotonic() - self._stop_at > grace:
            self.note(f"workers still running {grace:.0f}s after SIGTERM: SIGKILL")
            self._on_sigint()

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> int:
        where = (f"{len(self.gpus)} GPU(s) [{','.join(self.gpus)}], "
                 f"{'auto' if self.per_gpu is None else self.per_gpu} per GPU" if self.gpus is not None
                 else f"{len(self.slots)} worker(s) on CPU/default device")
        self.note(f"starting {len(self.slots)} {'warm' if self.warm else 'cold'} worker(s): {where}; "
                  f"logs in {self.dir}")
        for s in self.slots:
            self._start(s)
        old = signal.signal(signal.SIGINT, self._on_sigint)
        old_term = signal.signal(signal.SIGTERM, self._on_sigint)
        live = None
        try:
            if self.live:
                from rich.live import Live
                live = Live(self.render(), console=self.console, refresh_per_second=2, transient=False)
                live.__enter__()
            while True:
                self._poll()
                self._escalate()
                if live is not None:
                    live.update(self.render())
                else:
                    self._print_new_lines()
                if all(s.proc is None or s.proc.poll() is not None for s in self.slots) and not self._restartable():
                    break
                time.sleep(0.25)
        finally:
            if live is not None:
                live.update(self.render())
                live.__exit__(None, None, None)
            signal.signal(signal.SIGINT, old)
            signal.signal(signal.SIGTERM, old_term)
        self._read_status()
        if not self.live:
            self._print_new_lines()
        self.console.print(self.summary(), markup=False)
        if self.stopping:
            return 130
        codes = [s.exit_code for s in self.slots if s.exit_code not in (0, None)]
        return max(codes, key=abs) if codes else 0

    def _restartable(self) -> bool:
        return any(s.exit_code == RESTART_EXIT and s.proc is not None and s.proc.poll() is not None
                   for s in self.slots) and not self.stopping

    def _poll(self) -> None:
        self._read_status()
        for s in self.slots:
            if s.proc is None or s.proc.poll() is None or s.exit_code is not None:
                continue
            s.exit_code = s.proc.returncode
            crashed = s.exit_code < 0 and s.exit_code != -signal.SIGTERM
            if s.exit_code not in (0, RESTART_EXIT, 130) and not self.stopping:
                self.note(f"worker {s.index} exited {s.exit_code}: {_last_line(s.log)}")
            if self.stopping or not (s.exit_code == RESTART_EXIT or crashed):
                continue
            if s.restarts >= MAX_RESTARTS:
                self.note(f"worker {s.index} needed {MAX_RESTARTS} restarts; not restarting it again "
                          f"(see {s.log})")
                continue
            s.restarts += 1
            why = s.info.get("restart_reason") or f"exit code {s.exit_code}"
            self.note(f"worker {s.index} restarting ({why})")
            if not self.live:
                self._print_new_lines()
            for key in ("trials", "finished", "failed"):  # the new process starts its status file afresh
                s.carried[key] = s.count(key)
            if s.info.get("best"):
                s.carried["best"] = s.info["best"]
            s.info, self._printed[s.index] = {}, 0
            s.status.unlink(missing_ok=True)
            self._start(s)
        if self.auto_pending and not self.stopping:
            self._maybe_scale()

    def _maybe_scale(self) -> None:
        peak = next((s.info.get("peak_gpu_memory_mb") for s in self.slots
                     if s.info.get("trials", 0) > 0 and "peak_gpu_memory_mb" in s.info), "unset")
        if peak == "unset":
            if all(s.proc is not None and s.proc.poll() is not None for s in self.slots):
                self.auto_pending = False  # the sweep ended before one trial finished
            return
        self.auto_pending = False
        cap = int(os.environ.get(MAX_PER_GPU_ENV) or DEFAULT_MAX_PER_GPU)
        for gpu in self.gpus or []:
            running = sum(1 for s in self.slots if s.gpu == gpu)
            try:
                free, _total = gpu_memory_mb(int(gpu))
            except Exception as exc:  # no NVML: say so and stay at what runs
                self.note(f"per-gpu auto: cannot read GPU {gpu} memory ({exc}); keeping {running} worker(s)")
                continue
            n, why = choose_per_gpu(peak, free, running=running, cpu_count=os.cpu_count() or 1,
                                    n_gpus=len(self.gpus or []), cap=cap)
            self.note(f"GPU {gpu}: {why}")
            if any(s.proc is not None and s.proc.poll() is not None and s.exit_code == 0 for s in self.slots):
                continue  # a worker already found the sweep done: nothing left to pack
            for _ in range(n - running):
                self._start(self._add(gpu))

    def _read_status(self) -> None:
        for s in self.slots:
            try:
                s.info = json.loads(s.status.read_text())
            except (OSError, ValueError):
                pass

    # -- view ------------------------------------------------------------------------------
    def _print_new_lines(self) -> None:
        for s in self.slots:
            lines = s.info.get("lines") or []
            seen = self._printed.get(s.index, 0)
            total = s.info.get("trials", 0)
            for line in lines[len(lines) - min(len(lines), total - seen):]:
                self.console.print(f"w{s.index}{'@gpu' + s.gpu if s.gpu is not None else ''} {line}",
                                   markup=False, soft_wrap=True)
            self._printed[s.index] = total

    def summary(self) -> str:
        done = sum(s.count("finished") for s in self.slots)
        failed = sum(s.count("failed") for s in self.slots)
        restarts = sum(s.restarts for s in self.slots)
        best = [b for s in self.slots for b in (s.info.get("best"), s.carried.get("best")) if b]
        goal = next((s.info.get("goal") for s in self.slots if s.info.get("goal")), "minimize")
        top = (max if goal == "maximize" else min)(best, key=lambda b: b[0]) if best else None
        metric = next((s.info.get("metric") for s in self.slots if s.info.get("metric")), None)
        return (f"sweep {self.sweep_id}: {len(self.slots)} workers, {done} finished, {failed} failed, "
                f"{restarts} restarts" + (f", best {metric}={top[0]:.6g} (run {top[1]})" if top else ""))

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text
        t = Table(box=None, pad_edge=False)
        for col in ("worker", "gpu", "state", "run", "for", "done", "failed", "last", "restarts"):
            t.add_column(col)
        now = time.time()
        for s in self.slots:
            i = s.info
            state = i.get("state", "starting")
            if s.proc is not None and s.proc.poll() is not None:
                state = f"exited {s.proc.returncode}"
            t.add_row(str(s.index), s.gpu if s.gpu is not None else "-", state, i.get("run_id") or "-",
                      f"{now - i['since']:.0f}s" if i.get("since") and i.get("state") == "running" else "",
                      str(s.count("finished")), str(s.count("failed")), i.get("last") or "", str(s.restarts))
        notes = Text("\n".join(self.notes[-3:]))
        return Group(Text(self.summary()), t, notes)


def launch(sweep_id: str, *, workers: Optional[int] = None, gpus: Optional[str] = None, per_gpu: str | int = 1,
           warm: bool = True, count: Optional[int] = None, backend: Optional[str] = None,
           storage: Optional[str] = None, project: Optional[str] = None, entity: Optional[str] = None,
           heartbeat_timeout: Optional[float] = None, max_consecutive_failures: Optional[int] = None,
           kill_delay: Optional[float] = None, verbose: bool = False, no_sweep_id: bool = False, console=None,
           live: Optional[bool] = None) -> int:
    """Run the sweep with several agents at once; returns the exit code (130 after Ctrl-C)."""
    if gpus is not None and workers is not None:
        raise LaunchError("give --gpus (with --per-gpu) or --workers, not both")
    gpu_ids = parse_gpus(gpus, cuda_device_count()) if gpus is not None else None
    n_per = parse_per_gpu(per_gpu)
    if workers is not None and workers < 1:
        raise LaunchError(f"--workers {workers}: needs at least 1")
    from agent.backends import get_backend
    # A bad sweep id or store: one line now, rather than the same error in every worker's log.
    get_backend(backend or sweep_id, storage=storage, project=project, entity=entity).sweep(sweep_id)
    extra: list[str] = []
    for flag, value in (("--count", count), ("--backend", backend), ("--storage", storage),
                        ("--project", project), ("--entity", entity), ("--heartbeat-timeout", heartbeat_timeout),
                        ("--max-consecutive-failures", max_consecutive_failures), ("--kill-delay", kill_delay)):
        if value is not None:
            extra += [flag, str(value)]
    if verbose:
        extra.append("--verbose")
    if no_sweep_id:
        extra.append("--no-sweep-id")
    return Launcher(sweep_id, gpus=gpu_ids, per_gpu=n_per, workers=workers or 1, warm=warm,
                    worker_args=extra, console=console, live=live).run()


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m agent.launcher", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_id")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--gpus")
    ap.add_argument("--per-gpu", default="1")
    add_agent_options(ap)
    args = ap.parse_args(argv)
    try:
        return launch(args.sweep_id, workers=args.workers, gpus=args.gpus, per_gpu=args.per_gpu, warm=args.warm,
                      count=args.count, backend=args.backend, storage=args.storage, project=args.project,
                      entity=args.entity, heartbeat_timeout=args.heartbeat_timeout,
                      max_consecutive_failures=args.max_consecutive_failures, kill_delay=args.kill_delay,
                      verbose=bool(args.verbose), no_sweep_id=args.no_sweep_id)
    except (LaunchError, BackendError) as exc:
        print(f"sweepkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
