"""Which GPUs, and how many workers on each: the launcher's pure choices, and what NVML says.

`--per-gpu auto` starts one worker per GPU, waits for the first trial's measured peak GPU memory
(the trial's own `peak_gpu_memory_mb`), then fills each GPU's free memory with as many more as
fit, capped by CPU cores and SWEEPKIT_MAX_PER_GPU (default 8).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Optional

from agent.paths import write_atomic

MAX_PER_GPU_ENV = "SWEEPKIT_MAX_PER_GPU"
DEFAULT_MAX_PER_GPU = 8  # 8 BERT trials on one H200 gave 5.8x; more mostly adds contention
WORKER_OVERHEAD_MB = 1024.0  # CUDA context + allocator slack beyond a trial's max_memory_allocated
MEMORY_MARGIN = 1.2


class LaunchError(ValueError):
    """A bad --gpus / --per-gpu / --workers combination (one line)."""


def visible_devices(env: Optional[Mapping[str, str]] = None) -> Optional[list[str]]:
    """The devices CUDA_VISIBLE_DEVICES grants this process (a SLURM task's GPUs, say), or None when
    it is unset. Like CUDA, the list ends at the first entry that names no device (-1, NoDevFiles)."""
    value = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    out = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry or entry.startswith("-") or entry == "NoDevFiles":
            break
        out.append(entry)
    return out


def parse_gpus(spec: str, available: int, env: Optional[Mapping[str, str]] = None) -> list[str]:
    """`all` or `0,1,...` -> the devices to pin workers to. Indices are CUDA's: with CUDA_VISIBLE_DEVICES
    set (as SLURM sets it for a task's GPUs) they count within it and `all` is exactly those devices,
    never the rest of the machine; else they are this machine's `available` GPUs."""
    spec = spec.strip().lower()
    visible = visible_devices(env)
    if visible is not None:
        available = len(visible)
    granted = "CUDA_VISIBLE_DEVICES grants" if visible is not None else "this machine has"
    if available <= 0:
        raise LaunchError(f"--gpus needs CUDA GPUs and none are visible ({granted} none); use --workers N on a CPU box")
    if spec == "all":
        ids = [str(i) for i in range(available)]
    elif not re.fullmatch(r"\d+(,\d+)*", spec):
        raise LaunchError(f"--gpus {spec!r}: give `all` or comma-separated indices such as 0,1")
    else:
        ids = list(dict.fromkeys(spec.split(",")))
    bad = [i for i in ids if int(i) >= available]
    if bad:
        raise LaunchError(f"--gpus {spec}: no GPU {', '.join(bad)} ({granted} {available}: 0..{available - 1})")
    return [visible[int(i)] for i in ids] if visible is not None else ids


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


def choose_per_gpu(
    peak_mb: Optional[float],
    free_mb: float,
    *,
    running: int = 1,
    cpu_count: int = 1,
    n_gpus: int = 1,
    cap: int = DEFAULT_MAX_PER_GPU,
) -> tuple[int, str]:
    """Workers per GPU from one trial's peak memory and the GPU's free memory (with `running`
    workers already on it). Returns (n, the sentence the launcher prints)."""
    if peak_mb is None:
        return running, "no GPU peak memory was measured (CPU trial?); keeping 1 worker per GPU"
    need = peak_mb * MEMORY_MARGIN + WORKER_OVERHEAD_MB
    by_memory = running + int(max(0.0, free_mb) // need)
    by_cpu = max(1, cpu_count // max(1, n_gpus))
    n = max(1, min(by_memory, by_cpu, cap))
    limit = (
        {by_memory: "GPU memory", by_cpu: "CPU cores", cap: f"the cap ({MAX_PER_GPU_ENV}={cap})"}[n]
        if n in (by_memory, by_cpu, cap)
        else "GPU memory"
    )
    return n, (
        f"per-gpu auto: a trial peaks at {peak_mb:,.0f} MB (+{(MEMORY_MARGIN - 1) * 100:.0f}% and "
        f"{WORKER_OVERHEAD_MB:,.0f} MB per worker = {need:,.0f} MB); {free_mb:,.0f} MB free -> "
        f"{n} workers per GPU (limited by {limit})"
    )


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


def agents_file(log_dir: Path, gpu: str) -> Path:
    """The file that tells the trials on `gpu` how many agents share it (see GPU_AGENTS_ENV)."""
    return log_dir / f"gpu-{gpu}.agents"


def publish_gpu_agents(log_dir: Path, live_gpus: Iterable[Optional[str]], last: dict[str, int]) -> None:
    """Rewrite each GPU's agent count where it changed (`last` remembers what was written)."""
    counts = Counter(g for g in live_gpus if g is not None)
    for gpu in set(counts) | set(last):
        n = counts.get(gpu, 0)
        if last.get(gpu) != n:
            write_atomic(agents_file(log_dir, gpu), f"{n}\n")
            last[gpu] = n
