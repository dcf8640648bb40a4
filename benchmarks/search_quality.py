"""Search quality of bayes: sweepkit's engine against W&B's own GP bayes, TPE and random search.

Three synthetic objectives with known optima, each searched 10 times with 30 runs per search:

- `lr_bowl`: a log-scaled learning-rate bowl with warmup and weight decay, plus observation noise;
- `model_choice`: a categorical model choice with a per-model learning-rate optimum and batch size;
- `branin`: the classic 2-D Branin function (optimum 0.397887).

sweepkit's bayes runs through the real local engine (claims, the sampler it builds, the store);
"TPE" is Optuna's TPESampler with the settings the engine used before (multivariate, group,
constant liar, 5 random startup trials); W&B's bayes is its engine's `next_run(method: bayes)` (the
`sweeps` package, installed in the test venv only); random search is W&B's sampler as sweepkit
reproduces it. Prints the best-so-far curves (mean regret over the repeats, with its standard
error) and, per objective, how the engine and TPE compare with W&B's bayes at the last run.
Asserts nothing.

    python -m benchmarks.search_quality [--repeats 10] [--runs 30] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
import warnings

import numpy as np

OBJECTIVES = {
    "lr_bowl": {
        "parameters": {
            "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
            "warmup_ratio": {"min": 0.0, "max": 0.3},
            "weight_decay": {"min": 0.0, "max": 0.1},
        },
        "optimum": 0.0,
    },
    "model_choice": {
        "parameters": {
            "model": {"values": ["small", "base", "large"]},
            "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
            "batch_size": {"values": [8, 16, 32, 64]},
        },
        "optimum": 0.0,
    },
    "branin": {"parameters": {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}}, "optimum": 0.397887},
}
MODEL = {"small": (0.30, -3.0), "base": (0.0, -3.7), "large": (0.10, -4.3)}  # offset, best log10 lr


def loss(name: str, p: dict, rng: np.random.Generator) -> float:
    """The objective's noiseless value plus observation noise (what a run would log)."""
    return truth(name, p) + (rng.normal(0, 0.05) if name != "branin" else 0.0)


def truth(name: str, p: dict) -> float:
    if name == "lr_bowl":
        return (
            0.5 * (math.log10(p["learning_rate"]) + 3.5) ** 2
            + 4 * (p["warmup_ratio"] - 0.1) ** 2
            + 20 * (p["weight_decay"] - 0.01) ** 2
        )
    if name == "model_choice":
        offset, best_lr = MODEL[p["model"]]
        return (
            offset + 0.4 * (math.log10(p["learning_rate"]) - best_lr) ** 2 + 0.05 * abs(math.log2(p["batch_size"]) - 4)
        )
    x1, x2 = p["x1"], p["x2"]
    a, b, c, r, s, t = 1, 5.1 / (4 * math.pi**2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def config_for(name: str, method: str) -> dict:
    return {
        "method": method,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": OBJECTIVES[name]["parameters"],
        "program": "objective.py",
    }


def search_sweepkit(name: str, runs: int, seed: int) -> list[float]:
    """TPE through sweepkit's local engine, every trial in this process."""
    from agent.backends.base import AgentSettings, TrialOutcome
    from agent.backends.local import LocalBackend

    rng = np.random.default_rng(seed)
    seen: list[float] = []

    class Objective:
        in_process = True

        def __call__(self, spec, config, control):
            value = loss(name, spec.params, rng)
            seen.append(truth(name, spec.params))
            return TrialOutcome(0, 0.0, summary={"loss": value})

    class Quiet:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def started(self, spec):
            pass

        def finished(self, *a):
            pass

        def note(self, text):
            pass

    backend = LocalBackend()
    sweep_id = backend.create_sweep(config_for(name, "bayes"))  # the engine's sampler draws fresh entropy
    backend.run_agent(sweep_id, runner=Objective(), progress=Quiet(), settings=AgentSettings(count=runs))
    return seen


def search_tpe(name: str, runs: int, seed: int) -> list[float]:
    import optuna

    from agent.backends.local.space import suggest

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.TPESampler(
            multivariate=True, group=True, constant_liar=True, n_startup_trials=5, seed=seed
        )
    study, seen = optuna.create_study(direction="minimize", sampler=sampler), []
    for _ in range(runs):
        trial = study.ask()
        params = suggest(trial, OBJECTIVES[name]["parameters"])
        seen.append(truth(name, params))
        study.tell(trial, loss(name, params, rng))
    return seen


def search_wandb_bayes(name: str, runs: int, seed: int) -> list[float]:
    import random

    from sweeps import RunState, SweepRun, next_run

    random.seed(seed)
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    config, done, seen = config_for(name, "bayes"), [], []
    for i in range(runs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            suggestion = next_run(config, done)
        params = {k: v["value"] for k, v in suggestion.config.items()}
        value = loss(name, params, rng)
        seen.append(truth(name, params))
        done.append(
            SweepRun(
                name=str(i),
                state=RunState.finished,
                config=suggestion.config,
                history=[{"loss": value}],
                summary_metrics={"loss": value},
            )
        )
    return seen


def search_random(name: str, runs: int, seed: int) -> list[float]:
    from agent.sweep_config import sample_random

    rng = np.random.default_rng(seed)
    return [truth(name, sample_random(OBJECTIVES[name]["parameters"], rng)) for _ in range(runs)]


WAYS = {
    "sweepkit bayes": search_sweepkit,
    "TPE (before)": search_tpe,
    "W&B bayes (GP)": search_wandb_bayes,
    "random": search_random,
}


def regret_curve(seen: list[float], optimum: float) -> np.ndarray:
    return np.minimum.accumulate(np.asarray(seen)) - optimum


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    os.environ["SWEEPKIT_HOME"] = tempfile.mkdtemp(prefix="sweepkit-search-quality-")
    checkpoints = [n for n in (5, 10, 20, 30, 50, 100) if n <= args.runs]
    results: dict = {"repeats": args.repeats, "runs": args.runs, "objectives": {}}
    for name, spec in OBJECTIVES.items():
        results["objectives"][name] = {}
        print(
            f"\n{name} (optimum {spec['optimum']}): mean regret of the best run so far (± s.e., {args.repeats} repeats)"
        )
        print(f"{'way':18s} " + " ".join(f"{'n=' + str(n):>15s}" for n in checkpoints) + "   s/search")
        for way, fn in WAYS.items():
            t0 = time.perf_counter()
            curves = np.array(
                [regret_curve(fn(name, args.runs, 1000 + r), spec["optimum"]) for r in range(args.repeats)]
            )
            took = (time.perf_counter() - t0) / args.repeats
            mean, se = curves.mean(axis=0), curves.std(axis=0, ddof=1) / math.sqrt(args.repeats)
            results["objectives"][name][way] = {"mean": mean.tolist(), "se": se.tolist(), "s_per_search": took}
            print(
                f"{way:18s} "
                + " ".join(f"{mean[n - 1]:8.4f} ±{se[n - 1]:6.4f}" for n in checkpoints)
                + f"   {took:6.2f}"
            )
        wandb = results["objectives"][name]["W&B bayes (GP)"]
        for way in ("sweepkit bayes", "TPE (before)"):
            ours = results["objectives"][name][way]
            diff = ours["mean"][-1] - wandb["mean"][-1]
            se = math.hypot(ours["se"][-1], wandb["se"][-1])
            verdict = "at least as good as W&B's bayes" if diff <= 2 * se else "worse than W&B's bayes"
            results["objectives"][name][way]["verdict"] = verdict
            print(f"  at n={args.runs}: {way} - W&B regret = {diff:+.4f} (2 s.e. = {2 * se:.4f}): {verdict}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
