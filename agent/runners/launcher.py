"""Many agents at once: `sweepkit agent SWEEP --gpus all --per-gpu N|auto` or `--workers N`.

A GLUE-sized fine-tune leaves a modern GPU mostly idle (its step time is host and launch bound),
and four BERT-base trials at once on one H200 each ran nearly as fast as one alone, so
the launcher packs N worker processes per GPU, each pinned with CUDA_VISIBLE_DEVICES, each a
full agent of the sweep (any backend: the claim of a trial is the backend's job). Workers run
in their own sessions so a terminal Ctrl-C reaches only the launcher, which SIGTERMs every
worker once (each finishes its W&B run cleanly; the grid point is requeued) and SIGKILLs on a
second Ctrl-C. The scheduler's SIGTERM or time-limit warning reaches the launcher the same way
(inside a SLURM task SIGTERM reaches every worker too): the workers' trials are preempted, their
points go back at once. The launcher writes why it stopped them into a stop file first, so each
worker records its trial as killed or preempted. Each worker writes a small JSON status file; the
launcher draws them all in one rich view. A warm worker that cannot clean up after a trial exits
75 and is started again.

`--per-gpu auto` starts one worker per GPU, waits for the first trial's measured peak GPU
memory (the trial's own `peak_gpu_memory_mb`), then fills each GPU's free memory (pynvml)
with as many more as fit, capped by CPU cores and SWEEPKIT_MAX_PER_GPU (default 8), and says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

from agent.backends.stopping import INTERRUPTED, PREEMPT_GRACE_S, StopRequest, exit_code_for, is_preemption
from agent.paths import home, safe_name
from agent.runners import options
from agent.runners.child import own_process_env
from agent.runners.gpus import (
    DEFAULT_MAX_PER_GPU,
    MAX_PER_GPU_ENV,
    LaunchError,
    agents_file,
    choose_per_gpu,
    cuda_device_count,
    gpu_memory_mb,
    parse_gpus,
    parse_per_gpu,
    publish_gpu_agents,
)
from agent.runners.pool_view import Slot, last_line, pool_goal, pool_summary, pool_table, waiting_paused
from agent.runners.signals import SCHEDULER_SIGNALS, STOP_FILE_ENV, reason_for, write_stop_file
from agent.runners.warm import RESTART_EXIT
from agent.runners.worker_status import WorkerStatus, WorkerStatusError
from agent.states import PAUSED_NOTE
from agent.trial.result import GPU_AGENTS_ENV

MAX_RESTARTS = 20


def log_dir_for(sweep_id: str) -> Path:
    from agent.runners.slurm import task_label

    # The tasks of a SLURM array share SWEEPKIT_HOME: each keeps its workers' files in its own folder.
    label = task_label()
    return home() / "agents" / safe_name(sweep_id) / (label or "")


class Launcher:
    def __init__(
        self,
        sweep_id: str,
        *,
        gpus: Optional[list[str]],
        per_gpu: Optional[int],
        workers: int = 1,
        warm: bool = True,
        cold_reason: Optional[str] = None,
        worker_args: Optional[list[str]] = None,
        console=None,
        log_dir: Optional[Path] = None,
        live: Optional[bool] = None,
        stop: Optional[StopRequest] = None,
    ):
        from rich.console import Console

        self.sweep_id, self.gpus, self.per_gpu, self.warm = sweep_id, gpus, per_gpu, warm and not cold_reason
        self.cold_reason = cold_reason  # why trials run cold although warm workers were asked for
        self.worker_args = list(worker_args or [])
        self.console = console or Console(highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self.dir = Path(log_dir or log_dir_for(sweep_id))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.slots: list[Slot] = []
        self.notes: list[str] = []
        self.stopping = 0
        self._said_paused = False
        self._stop_at = 0.0
        self.request = stop or StopRequest()  # why the workers were stopped
        self.stop_file = self.dir / "stop"
        self.stop_file.unlink(missing_ok=True)  # a task SLURM started again reuses this folder
        self.auto_pending = gpus is not None and per_gpu is None
        self._agents_written: dict[str, int] = {}
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
        env = own_process_env()
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        if slot.gpu is not None:
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # so index i is nvidia-smi's / pynvml's GPU i
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
            env[GPU_AGENTS_ENV] = str(agents_file(self.dir, slot.gpu))
        # N workers each spawning one thread per core would oversubscribe the CPU N times over.
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, self.planned))))
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env["SWEEPKIT_WORKER"] = str(slot.index)
        env[STOP_FILE_ENV] = str(self.stop_file)
        return env

    def _start(self, slot: Slot) -> None:
        argv = [
            sys.executable,
            "-m",
            "agent.runners.pool_worker",
            self.sweep_id,
            "--status",
            str(slot.status),
            "--warm" if self.warm else "--cold",
            *self.worker_args,
        ]
        with open(slot.log, "a") as log:
            log.write(f"[launcher] start worker {slot.index} gpu={slot.gpu} restart={slot.restarts}\n")
            log.flush()
            slot.proc = subprocess.Popen(
                argv,
                env=self._env(slot),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        slot.exit_code = None
        self._publish_agents()

    def _publish_agents(self) -> None:
        live = (s.gpu for s in self.slots if s.proc is not None and s.proc.poll() is None)
        publish_gpu_agents(self.dir, live, self._agents_written)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.console.print(f"[{self.sweep_id}] {text}", markup=False, soft_wrap=True)  # one line, for grep too

    def _signal_all(self, sig: int) -> None:
        import psutil

        for s in self.slots:
            if s.proc is None or s.proc.poll() is not None:
                continue
            targets = [s.proc.pid]
            if sig == signal.SIGKILL:  # also the cold trials the worker started in their own sessions
                with contextlib.suppress(psutil.Error):
                    targets += [c.pid for c in psutil.Process(s.proc.pid).children(recursive=True)]
            for pid in targets:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)

    def _stop(self, reason: str) -> None:
        """Stop every worker (SIGTERM, after writing why); a second stop SIGKILLs them."""
        self.request.request(reason)
        self.stopping += 1
        if self.stopping == 1:
            write_stop_file(self.stop_file, str(self.request.reason))
            self._stop_at = time.monotonic()
            self._signal_all(signal.SIGTERM)
        else:
            self._signal_all(signal.SIGKILL)

    def _on_sigint(self, *_: Any) -> None:
        self._stop(INTERRUPTED)

    def _on_scheduler(self, signum: int, _frame: Any) -> None:
        if not self.stopping:  # a later one (USR1, then the limit's SIGTERM) only repeats the first
            self._stop(reason_for(signum))

    def _escalate(self) -> None:
        """A worker still alive long after SIGTERM (a trial stuck outside Python) gets SIGKILL; soon
        after a preemption, whose SIGKILL from the scheduler is coming anyway."""
        kill_delay = float(os.environ.get("WANDB_AGENT_KILL_DELAY") or 30)
        grace = (min(kill_delay, PREEMPT_GRACE_S) if is_preemption(self.request.reason) else kill_delay) + 15
        if self.stopping == 1 and time.monotonic() - self._stop_at > grace:
            self.note(f"workers still running {grace:.0f}s after SIGTERM: SIGKILL")
            self._stop(str(self.request.reason))

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> int:
        where = (
            f"{len(self.gpus)} GPU(s) [{','.join(self.gpus)}], "
            f"{'auto' if self.per_gpu is None else self.per_gpu} per GPU"
            if self.gpus is not None
            else f"{len(self.slots)} worker(s) on CPU/default device"
        )
        old = signal.signal(signal.SIGINT, self._on_sigint)
        old_scheduler = {sig: signal.signal(sig, self._on_scheduler) for sig in SCHEDULER_SIGNALS}
        if self.request.requested:  # it came before the workers started: none starts
            self.note(f"not starting: {self.request.reason}")
            signal.signal(signal.SIGINT, old)
            for sig, handler in old_scheduler.items():
                signal.signal(sig, handler)
            return exit_code_for(self.request.reason)
        said = (
            f"running trials cold, in {len(self.slots)} parallel agent(s) ({where}): {self.cold_reason}"
            if self.cold_reason
            else f"starting {len(self.slots)} {'warm' if self.warm else 'cold'} worker(s): {where}"
        )
        self.note(f"{said}; logs in {self.dir}")
        for s in self.slots:
            self._start(s)
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
            for sig, handler in old_scheduler.items():
                signal.signal(sig, handler)
        self._read_status()
        if not self.live:
            self._print_new_lines()
        self.console.print(self.summary(), markup=False)
        if self.stopping:
            return exit_code_for(self.request.reason)
        codes = [s.exit_code for s in self.slots if s.exit_code not in (0, None)]
        return max(codes, key=abs) if codes else 0

    def _restartable(self) -> bool:
        return (
            any(s.exit_code == RESTART_EXIT and s.proc is not None and s.proc.poll() is not None for s in self.slots)
            and not self.stopping
        )

    def _poll(self) -> None:
        self._read_status()
        self._publish_agents()
        for s in self.slots:
            if s.proc is None or s.proc.poll() is None or s.exit_code is not None:
                continue
            s.exit_code = s.proc.returncode
            crashed = s.exit_code < 0 and s.exit_code != -signal.SIGTERM
            if s.exit_code not in (0, RESTART_EXIT, 130) and not self.stopping:
                self.note(f"worker {s.index} exited {s.exit_code}: {last_line(s.log)}")
            if self.stopping or not (s.exit_code == RESTART_EXIT or crashed):
                continue
            if s.restarts >= MAX_RESTARTS:
                self.note(f"worker {s.index} needed {MAX_RESTARTS} restarts; not restarting it again (see {s.log})")
                continue
            s.restarts += 1
            why = (s.info and s.info.restart_reason) or f"exit code {s.exit_code}"
            self.note(f"worker {s.index} restarting ({why})")
            if not self.live:
                self._print_new_lines()
            s.restarted(pool_goal(self.slots))
            s.status.unlink(missing_ok=True)
            self._start(s)
        if self.auto_pending and not self.stopping:
            self._maybe_scale()
        paused = waiting_paused(self.slots)
        if paused and not self._said_paused:  # once per pause, not once per worker
            if not self.live:
                self._print_new_lines()  # the trials that ended before it, first
            self.note(f"{PAUSED_NOTE} ({paused} worker(s); `sweepkit sweep --resume {self.sweep_id}` lets them go on)")
        self._said_paused = bool(paused)

    def _maybe_scale(self) -> None:
        measured = [s.info for s in self.slots if s.info is not None and s.info.trials > 0]
        if not measured:
            if all(s.proc is not None and s.proc.poll() is not None for s in self.slots):
                self.auto_pending = False  # the sweep ended before one trial finished
            return
        self.auto_pending = False
        peak = measured[0].peak_gpu_memory_mb
        cap = int(os.environ.get(MAX_PER_GPU_ENV) or DEFAULT_MAX_PER_GPU)
        for gpu in self.gpus or []:
            running = sum(1 for s in self.slots if s.gpu == gpu)
            try:
                free, _total = gpu_memory_mb(int(gpu))
            except Exception as exc:  # no NVML: say so and stay at what runs
                self.note(f"per-gpu auto: cannot read GPU {gpu} memory ({exc}); keeping {running} worker(s)")
                continue
            n, why = choose_per_gpu(
                peak, free, running=running, cpu_count=os.cpu_count() or 1, n_gpus=len(self.gpus or []), cap=cap
            )
            self.note(f"GPU {gpu}: {why}")
            if any(s.proc is not None and s.proc.poll() is not None and s.exit_code == 0 for s in self.slots):
                continue  # a worker already found the sweep done: nothing left to pack
            for _ in range(n - running):
                self._start(self._add(gpu))

    def _read_status(self) -> None:
        for s in self.slots:
            with contextlib.suppress(OSError, WorkerStatusError):  # not written yet, or being replaced
                info = WorkerStatus.from_json(s.status.read_text())
                for text in info.warnings[len(s.info.warnings) if s.info else 0 :]:
                    self.note(f"worker {s.index}: {text}")
                s.info = info

    # -- view ------------------------------------------------------------------------------
    def _print_new_lines(self) -> None:
        for s in self.slots:
            for line in s.new_lines():
                self.console.print(line, markup=False, soft_wrap=True)

    def summary(self) -> str:
        return pool_summary(self.sweep_id, self.slots)

    def render(self) -> Any:
        return pool_table(self.sweep_id, self.slots, self.notes[-3:])


def launch(
    sweep_id: str,
    values: dict[str, Any],
    *,
    console=None,
    live: Optional[bool] = None,
    stop: Optional[StopRequest] = None,
) -> int:
    """Run the sweep with several agents at once; `values` are `sweepkit agent`'s parsed options.
    Returns the exit code (130 after Ctrl-C, 143 after the scheduler's stop)."""
    gpus, workers = values.get("gpus"), values.get("workers")
    if gpus is not None and workers is not None:
        raise LaunchError("give --gpus (with --per-gpu) or --workers, not both")
    if str(values.get("per_gpu") or "1") != "1" and gpus is None:
        raise LaunchError("--per-gpu applies to --gpus; on a CPU box use --workers N")
    gpu_ids = parse_gpus(gpus, cuda_device_count()) if gpus is not None else None
    n_per = parse_per_gpu(values.get("per_gpu") or "1")
    from agent.backends import get_backend
    from agent.runners.pool_worker import warm_unsupported

    # A bad sweep id or store: one line now, rather than the same error in every worker's log.
    backend = get_backend(
        values.get("backend") or sweep_id,
        storage=values.get("storage"),
        project=values.get("project"),
        entity=values.get("entity"),
    )
    warm = values.get("warm") is not False
    # Said once, here, before any work: not as many workers' warnings once they have started.
    cold_reason = warm_unsupported(backend, backend.sweep(sweep_id).config) if warm else None
    worker_args = options.to_argv(values, options.BACKEND, options.ENGINE)
    return Launcher(
        sweep_id,
        gpus=gpu_ids,
        per_gpu=n_per,
        workers=workers or 1,
        warm=warm,
        cold_reason=cold_reason,
        worker_args=worker_args,
        console=console,
        live=live,
        stop=stop,
    ).run()
