"""Synthetic sweeps with a known ground truth, for tests and the report-scale benchmark.

Model b is `gap` below model a on average; seeds add N(0, noise) per run; learning curves
rise towards each run's final value. Shapes match what the trial runner logs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

SWEEP_CONFIG = {
    "method": "grid",
    "metric": {"name": "eval/accuracy", "goal": "maximize"},
    "parameters": {
        "model_name_or_path": {"values": ["tiny-bert", "tiny-distilbert"]},
        "learning_rate": {"values": [1e-5, 3e-5, 1e-4]},
        "per_device_train_batch_size": {"values": [16, 32]},
        "seed": {"values": [1, 2, 3]},
    },
}


def sweep_config(models, lrs, batches, seeds, method: str = "grid") -> dict:
    return {
        "method": method,
        "metric": {"name": "eval/accuracy", "goal": "maximize"},
        "parameters": {
            "model_name_or_path": {"values": list(models)},
            "learning_rate": {"values": list(lrs)},
            "per_device_train_batch_size": {"values": list(batches)},
            "seed": {"values": list(seeds)},
        },
    }


def synthetic_sweep(
    models=("tiny-bert", "tiny-distilbert"),
    lrs=(1e-5, 3e-5, 1e-4),
    batches=(16, 32),
    seeds=(1, 2, 3),
    *,
    gap: float = 0.02,
    noise: float = 0.01,
    steps: int = 20,
    rng: int = 0,
    method: str = "grid",
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(runs, history, sweep_config) for the full grid; ground truth: mean(a - b) == gap."""
    g = np.random.default_rng(rng)
    grid = list(itertools.product(models, lrs, batches, seeds))
    n = len(grid)
    m_idx = np.array([models.index(x[0]) for x in grid])
    lr = np.array([x[1] for x in grid], dtype=float)
    bs = np.array([x[2] for x in grid])
    # A bowl over log-lr that peaks at 3e-5; larger batches are slightly worse.
    base = 0.85 - 0.03 * (np.log10(lr) - np.log10(3e-5)) ** 2 - 0.005 * (bs == max(batches))
    final = base - gap * m_idx + g.normal(0, noise, n)
    speed = np.where(m_idx == 0, 240.0, 444.0) * g.uniform(0.95, 1.05, n)
    runtime = 3668 * 3 / speed
    runs = pd.DataFrame(
        {
            "run_id": [f"r{i:05d}" for i in range(n)],
            "name": [f"run-{i}" for i in range(n)],
            "state": "finished",
            "reason": None,
            "runtime_s": runtime + 12.0,
            "created_at": None,
            "url": None,
            "tags": None,
            "model_name_or_path": [x[0] for x in grid],
            "learning_rate": lr,
            "per_device_train_batch_size": bs,
            "seed": [x[3] for x in grid],
            "eval/accuracy": final,
            "eval/f1": final + 0.03,
            "eval/loss": 1.2 - final,
            "train/train_runtime": runtime,
            "train/train_samples_per_second": speed,
            "num_parameters": np.where(m_idx == 0, 4_386_178, 2_190_000),
            "peak_gpu_memory_mb": np.where(m_idx == 0, 1800.0, 1100.0) + bs * 10.0,
        }
    )
    hist = history_for(runs, steps=steps, rng=g)
    return runs, hist, sweep_config(models, lrs, batches, seeds, method)


def history_for(runs: pd.DataFrame, *, steps: int, rng) -> pd.DataFrame:
    """Vectorised learning curves: each run approaches its final metric exponentially."""
    n = len(runs)
    t = np.arange(1, steps + 1, dtype=float)
    frac = 1 - np.exp(-4 * t / steps)  # (steps,)
    acc = (
        0.5
        + (runs["eval/accuracy"].to_numpy()[:, None] - 0.5) * frac[None, :] / frac[-1]
        + rng.normal(0, 0.002, (n, steps))
    )
    acc[:, -1] = runs["eval/accuracy"].to_numpy()
    loss = 1.2 - acc
    step = np.tile(t * 10, n)
    rid = np.repeat(runs["run_id"].to_numpy(), steps)
    parts = [
        pd.DataFrame({"run_id": rid, "step": step, "metric": name, "value": v.ravel()})
        for name, v in (("eval/accuracy", acc), ("eval/loss", loss), ("eval/f1", acc + 0.03))
    ]
    return pd.concat(parts, ignore_index=True)


def scale_sweep(n_runs: int = 1000, steps: int = 200, rng: int = 0):
    """~n_runs runs on a 2-model lr x batch x seed grid (the benchmark's shape)."""
    lrs = tuple(np.geomspace(1e-5, 3e-4, 5).round(7))
    batches = (8, 16, 32, 64, 128)
    n_seeds = max(1, round(n_runs / (2 * len(lrs) * len(batches))))
    return synthetic_sweep(lrs=lrs, batches=batches, seeds=tuple(range(n_seeds)), steps=steps, rng=rng, method="random")
