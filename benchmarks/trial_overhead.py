"""Time a trial spends outside Trainer's train and eval loops, warm against cold, in one run.

overhead = the agent's wall time for the trial - the trial's own `train_runtime` (which holds the
training loop and its in-loop evaluations). Both ways run the same grid points through the local
engine: cold = a child process per trial (wandb agent's protocol), warm = `WarmTrials` in this
process. The first warm trial also pays imports and cache fills, so it is shown apart.

    python -m benchmarks.trial_overhead [--trials 4] [--synthetic DIR --arch distilbert-base] [--out FILE]
    python -m benchmarks.trial_overhead --warm-ab --trials 6     # warm set-up before/after, one run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from agent.trial.result import TrialResult, TrialResultError

ROOT = Path(__file__).resolve().parent.parent


def grid(trials: int, fixed: list[str]) -> dict:
    return {
        "name": "overhead",
        "method": "grid",
        "metric": {"name": "eval/accuracy", "goal": "maximize"},
        "command": ["${env}", "${interpreter}", "-m", "agent", *fixed, "${args}"],
        "parameters": {"seed": {"values": list(range(1, trials + 1))}},
    }


def overheads(backend, sweep_id: str) -> list[dict]:
    out = []
    for r in backend.runs(sweep_id):
        try:
            train = TrialResult.read(r.run_dir).train_runtime_s if r.run_dir else None
        except (OSError, TrialResultError):
            train = None
        out.append(
            {
                "run": r.id,
                "state": r.state,
                "wall_s": r.runtime_s,
                "train_s": train,
                "overhead_s": (r.runtime_s - train) if r.runtime_s is not None and train is not None else None,
            }
        )
    return out


def import_cost() -> float:
    """What every cold process pays before its first line of trial code."""
    t0 = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import torch, transformers, wandb, datasets, evaluate; from transformers import Trainer",
        ],
        check=False,
        capture_output=True,
    )
    return time.monotonic() - t0


def _stats(xs: list) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{statistics.mean(xs):6.2f}" + (f" (n={len(xs)}, max {max(xs):.2f})" if len(xs) > 1 else " (n=1)")


def agent(backend, sweep_id: str, runner) -> int:
    """One agent of the sweep in this process, with the CLI's progress view."""
    from agent.runners.progress import AgentProgress

    metric = backend.sweep(sweep_id).config.get("metric") or {}
    return backend.run_agent(sweep_id, runner=runner, progress=AgentProgress(sweep_id, metric.get("name")))


def rss_run(backend, n: int, fixed: list[str], out: str | None) -> int:
    """Host memory over n consecutive warm trials (issue 5: no growth over 50)."""
    from agent.runners.warm import WarmRunner

    sid = backend.create_sweep(grid(n, fixed))
    fn = WarmRunner()
    t0 = time.monotonic()
    agent(backend, sid, fn)
    rss = fn.rss_history
    states = [r.state for r in backend.runs(sid)]
    if out:
        Path(out).write_text(json.dumps({"rss_mb": rss, "states": states, "restart": fn.restart_reason}, indent=1))
    print(
        f"\n{len(rss)} warm trials in {time.monotonic() - t0:.0f} s ({states.count('finished')} finished); "
        f"host RSS after each (MB): {' '.join(f'{x:.0f}' for x in rss)}"
    )
    if len(rss) > 3:
        tail = rss[3:]
        print(
            f"after trial 3: {rss[2]:.1f} MB; after trial {len(rss)}: {rss[-1]:.1f} MB; max {max(tail):.1f} MB "
            f"-> growth {max(tail) - rss[2]:+.1f} MB over {len(rss) - 3} trials "
            f"({(rss[-1] - rss[2]) / (len(rss) - 3) * 1024:+.0f} KB per trial, end to end)"
        )
    return 0


_TIMINGS = ("runtime", "per_second")


def warm_ab(backend, trials: int, fixed: list[str], out: str | None) -> int:
    """Warm trials without the set-up savings, then with them, in this one process, on the same grid:
    overhead per phase and the final metrics side by side (they must be identical)."""
    from agent.runners.warm import WarmRunner

    results = {}
    for label, lean in (("before", False), ("after", True)):
        sid = backend.create_sweep(grid(trials, fixed))
        fn = WarmRunner(lean=lean)
        agent(backend, sid, fn)
        rows = []
        for r in backend.runs(sid):
            assert r.run_dir, f"local run {r.id} has no run dir"
            res = asdict(TrialResult.read(r.run_dir))
            rows.append({"seed": r.config.get("seed"), "overhead_s": None, **res})
        for row, o in zip(rows, fn.overhead_s, strict=False):
            row["overhead_s"] = o
        results[label] = rows
    if out:
        Path(out).write_text(json.dumps(results, indent=1, default=str))
    later = {k: v[1:] for k, v in results.items()}  # the first trial of a worker pays imports and cache fills
    phases = sorted({p for rows in later.values() for r in rows for p in r.get("phases_s", {})})
    print(f"\nwarm trials, tiny-bert on CPU; means over trials 2..{trials} of each worker (s)")
    print(f"{'':14s}" + "".join(f"{k:>10s}" for k in later))
    for name in ["overhead_s", *phases]:
        cells = []
        for rows in later.values():
            xs = [r["overhead_s"] if name == "overhead_s" else r.get("phases_s", {}).get(name) for r in rows]
            xs = [x for x in xs if x is not None]
            cells.append(f"{statistics.mean(xs):10.3f}" if xs else f"{'-':>10s}")
        print(f"{'outside train' if name == 'overhead_s' else name:14s}" + "".join(cells))

    def scores(rows):  # timings (eval/runtime, .../samples_per_second) differ by nature
        return {r["seed"]: {k: v for k, v in r["metrics"].items() if not k.endswith(_TIMINGS)} for r in rows}

    before, after = scores(results["before"]), scores(results["after"])
    same = before == after
    keys = sorted(next(iter(before.values()), {}))
    print(f"final {', '.join(keys)} identical seed for seed: {'yes' if same else 'NO'}")
    if not same:
        print(f"  before {before}\n  after  {after}")
    b, a = (statistics.mean(r["overhead_s"] for r in later[k]) for k in ("before", "after"))
    print(f"overhead outside the train loop: {b:.2f} s -> {a:.2f} s ({b / max(a, 1e-9):.1f}x less; target <= 0.5 s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--synthetic", help="dir from benchmarks.synthetic (GPU box); default: tiny-bert on mrpc-mini")
    ap.add_argument("--arch", default="distilbert-base")
    ap.add_argument("--small", action="store_true", help="tiny synthetic models")
    ap.add_argument("--max-steps", type=int, default=30)
    ap.add_argument(
        "--rss-trials",
        type=int,
        default=0,
        help="instead: run N short warm trials in this process and report host RSS after each",
    )
    ap.add_argument(
        "--warm-ab", action="store_true", help="instead: warm trials without, then with, the set-up savings"
    )
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    home = tempfile.mkdtemp(prefix="sweepkit-overhead-")
    os.environ.setdefault("SWEEPKIT_HOME", home)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    if args.synthetic:
        from benchmarks import synthetic

        m = synthetic.build(args.synthetic, small=args.small)
        fixed = [
            f"--model_name_or_path={m['models'][args.arch]}",
            "--task_name=mrpc",
            f"--train_file={m['train_file']}",
            f"--validation_file={m['validation_file']}",
            f"--max_steps={args.max_steps}",
            "--max_eval_samples=128",
        ]
    else:
        fixed = [
            "--model_name_or_path=tiny-bert",
            "--task_name=mrpc-mini",
            "--max_train_samples=256",
            "--max_eval_samples=128",
            "--num_train_epochs=1",
        ]
    from agent.backends import get_backend
    from agent.runners.child import ChildRunner
    from agent.runners.warm import WarmRunner

    backend = get_backend("local")
    if args.rss_trials:
        return rss_run(backend, args.rss_trials, fixed + ["--max_steps=2"], args.out)
    if args.warm_ab:
        return warm_ab(backend, args.trials, fixed, args.out)
    results: dict = {"trial_args": fixed, "import_s": import_cost()}

    cold_id = backend.create_sweep(grid(args.trials, fixed))
    agent(backend, cold_id, ChildRunner())
    results["cold"] = overheads(backend, cold_id)

    warm_id = backend.create_sweep(grid(args.trials, fixed))
    fn = WarmRunner()
    agent(backend, warm_id, fn)
    results["warm"] = overheads(backend, warm_id)
    results["warm_in_function_s"] = fn.overhead_s
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))

    cold = [r["overhead_s"] for r in results["cold"]]
    warm = [r["overhead_s"] for r in results["warm"]]
    print(f"\ntrial args: {' '.join(fixed)}")
    print(f"import torch+transformers+wandb+datasets+evaluate+Trainer in a fresh process: {results['import_s']:.2f} s")
    print(f"{'way':28s} {'overhead s outside train loop (mean)':>40s}   train s (mean)")
    print(f"{'cold (process per trial)':28s} {_stats(cold):>40s}   {_stats([r['train_s'] for r in results['cold']])}")
    print(f"{'warm, first trial':28s} {_stats(warm[:1]):>40s}")
    print(f"{'warm, later trials':28s} {_stats(warm[1:]):>40s}   {_stats([r['train_s'] for r in results['warm'][1:]])}")
    later = [w for w in warm[1:] if w is not None]
    cold_ok = [c for c in cold if c is not None]
    if later and cold_ok:
        print(
            f"warm/cold overhead: {statistics.mean(later):.2f} s vs {statistics.mean(cold_ok):.2f} s "
            f"-> {statistics.mean(cold_ok) / max(1e-9, statistics.mean(later)):.1f}x less (target: warm <= 2 s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
