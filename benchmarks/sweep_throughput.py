"""The same grid run two ways, side by side in one run, through the real CLI and engine.

(a) the classic tutorial way: a cold process per trial (`sweepkit agent --cold`, one agent,
    wandb agent's protocol), padded to max length, fp32, no length grouping, sequential;
(b) sweepkit's way: warm workers packed several to a device (`--workers N` on CPU,
    `--gpus all --per-gpu N` on GPU), trial defaults (dynamic padding, length grouping,
    bf16 + fused AdamW on GPU).

Prints wall time, seconds per trial, trials per hour, the ratio and the mean final metric of each
(they must agree within seed noise). Times are measured, never asserted.

    python -m benchmarks.sweep_throughput --mode cpu [--workers 2] [--out FILE]
    python -m benchmarks.sweep_throughput --mode gpu --synthetic DIR [--per-gpu 8] [--classic-subset 2]

GPU mode: the classic way at ~62 s per BERT trial would need ~20 min for 24 trials, so it runs a
stated subset (one trial per model at the grid's first lr/batch/seed) and extrapolates each model's
measured time to that model's share of the grid; the output says so.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "agent.cli"]
METRIC = "eval/accuracy"
CLASSIC_CPU = ["--pad_to_max_length=true", "--precision=fp32", "--group_by_length=false"]
CLASSIC_GPU = [
    "--pad_to_max_length=true",
    "--max_seq_length=256",
    "--precision=fp32",
    "--tf32=false",
    "--group_by_length=false",
    "--optim=adamw_torch",
]


def cpu_grid() -> dict:
    """sweeps/smoke.yaml when present (same grid users run), else a grid of the same shape."""
    smoke = ROOT / "sweeps" / "smoke.yaml"
    if smoke.is_file():
        config = yaml.safe_load(smoke.read_text())
        config.pop("early_terminate", None)
        config["method"] = "grid"
        return config
    return {
        "name": "throughput-cpu",
        "method": "grid",
        "metric": {"name": METRIC, "goal": "maximize"},
        "command": [
            "${env}",
            "${interpreter}",
            "-m",
            "agent",
            "--task_name=mrpc-mini",
            "--num_train_epochs=1",
            "--max_train_samples=2000",
            "--report_to=wandb",
            "${args}",
        ],
        "parameters": {
            "model_name_or_path": {"values": ["tiny-bert", "tiny-distilbert"]},
            "learning_rate": {"values": [5e-4, 1e-3]},
            "seed": {"values": [1, 2]},
            "group_by_length": {"value": False},
        },
    }


def gpu_grid(
    manifest: dict, *, epochs: float = 3, lrs=(3e-5, 1e-4), batches=(32, 64), seeds=(1, 2, 3), max_steps: int = -1
) -> dict:
    """2 models x lr x batch x seed = 24 trials at MRPC size on the synthetic data."""
    models = [manifest["models"][a] for a in ("bert-base", "distilbert-base")]
    return {
        "name": "throughput-gpu",
        "method": "grid",
        "metric": {"name": METRIC, "goal": "maximize"},
        "command": [
            "${env}",
            "${interpreter}",
            "-m",
            "agent",
            "--task_name=mrpc",
            f"--train_file={manifest['train_file']}",
            f"--validation_file={manifest['validation_file']}",
            f"--num_train_epochs={epochs}",
            f"--max_steps={max_steps}",
            "--report_to=wandb",
            "${args}",
        ],
        "parameters": {
            "model_name_or_path": {"values": models},
            "learning_rate": {"values": list(lrs)},
            "per_device_train_batch_size": {"values": list(batches)},
            "seed": {"values": list(seeds)},
            # Length-sorted batches skew labels on synthetic pairs (measured on mrpc-mini:
            # 0.54 vs 0.68 accuracy); a GPU step is overhead-bound, so grouping buys little.
            "group_by_length": {"value": False},
        },
    }


def with_args(config: dict, extra: list[str]) -> dict:
    """The same sweep with `extra` trial args placed right after `-m agent` (swept keys still win)."""
    config = json.loads(json.dumps(config))
    cmd = config["command"]
    i = cmd.index("agent") + 1
    config["command"] = cmd[:i] + extra + cmd[i:]
    return config


def subset(config: dict, per_model: int = 1) -> dict:
    """The grid cut to its first `per_model` points per model (the classic way's measured subset)."""
    config = json.loads(json.dumps(config))
    params = config["parameters"]
    for k, spec in params.items():
        if k not in ("model_name_or_path",) and "values" in spec:
            spec["values"] = spec["values"][:1] if k != "seed" else spec["values"][:per_model]
    return config


def grid_size(config: dict) -> int:
    return len(list(itertools.product(*[s.get("values", [s.get("value")]) for s in config["parameters"].values()])))


def _run(
    argv: list[str], env: dict, timeout: float | None = None, log: Path | None = None
) -> subprocess.CompletedProcess:
    with open(log, "a") if log else contextlib.nullcontext(subprocess.PIPE) as out:
        return subprocess.run(
            argv,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
            text=True,
            timeout=timeout,
        )


def create_sweep(config: dict, env: dict, workdir: Path) -> str:
    path = workdir / f"{config.get('name', 'sweep')}-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    p = _run(CLI + ["sweep", str(path)], env)
    if p.returncode != 0:
        raise SystemExit(f"sweepkit sweep {path} failed: {(p.stderr or p.stdout).strip().splitlines()[-1:]}")
    return p.stdout.strip().splitlines()[-1]


def sweep_runs(sweep_id: str, env: dict) -> list[dict]:
    p = _run(CLI + ["status", sweep_id, "--json"], env)
    if p.returncode != 0:
        raise SystemExit(f"sweepkit status {sweep_id} failed: {p.stderr.strip()[-300:]}")
    return json.loads(p.stdout)["runs"]


def agent_argv(
    sweep_id: str, *, warm: bool, workers: int | None = None, gpus: str | None = None, per_gpu: str | None = None
) -> list[str]:
    """`sweepkit agent` with the launcher's options, or the engine's own single cold agent."""
    opts = (
        (["--warm"] if warm else ["--cold"])
        + (["--workers", str(workers)] if workers else [])
        + (["--gpus", gpus, "--per-gpu", str(per_gpu)] if gpus else [])
    )
    if not warm and not workers and not gpus:
        return CLI + ["agent", sweep_id]  # the engine's own single cold agent
    return CLI + ["agent", sweep_id] + opts


def run_way(
    name: str, config: dict, env: dict, workdir: Path, agent_opts: dict, *, timeout: float | None, log: Path
) -> dict:
    sid = create_sweep(config, env, workdir)
    argv = agent_argv(sid, **agent_opts)
    t0 = time.monotonic()
    with open(log, "a") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Ctrl-C, as a user would: the agent stops its workers cleanly (they run in their own
            # sessions, so killing the agent alone would leave them training on the device).
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            rc = "timeout"  # the runs that finished still count
    wall = time.monotonic() - t0
    runs = sweep_runs(sid, env)
    return summarize(name, sid, runs, wall, rc, " ".join(argv[2:]))


def summarize(name: str, sweep_id: str, runs: list[dict], wall: float, rc, command: str) -> dict:
    done = [r for r in runs if r["state"] == "finished"]
    values = [r["summary"].get(METRIC) for r in done if isinstance(r["summary"].get(METRIC), (int, float))]
    return {
        "way": name,
        "sweep_id": sweep_id,
        "command": command,
        "exit": rc,
        "wall_s": round(wall, 2),
        "trials": len(runs),
        "finished": len(done),
        "s_per_trial": round(wall / max(1, len(done)), 2),
        "trials_per_hour": round(3600 * len(done) / wall, 1) if wall > 0 else None,
        "metric_mean": statistics.mean(values) if values else None,
        "metric_sd": statistics.stdev(values) if len(values) > 1 else None,
        "per_point": {_point_key(r): r["summary"].get(METRIC) for r in done},
        "runtime_by_model": _runtime_by_model(done),
    }


def _point_key(run: dict) -> str:
    c = run.get("config") or {}
    return "|".join(
        str(c.get(k)) for k in ("model_name_or_path", "learning_rate", "per_device_train_batch_size", "seed")
    )


def _runtime_by_model(done: list[dict]) -> dict:
    by: dict[str, list[float]] = {}
    for r in done:
        by.setdefault(str((r.get("config") or {}).get("model_name_or_path")), []).append(r.get("runtime_s") or 0.0)
    return {m: statistics.mean(v) for m, v in by.items()}


def extrapolate(classic: dict, grid: dict) -> float:
    """Classic wall time for the whole grid: each grid point costs its model's measured s/trial."""
    per_model = classic["runtime_by_model"]
    fallback = statistics.mean(per_model.values()) if per_model else 0.0
    models = grid["parameters"]["model_name_or_path"]["values"]
    n_other = grid_size(grid) // len(models)
    return sum(per_model.get(str(m), fallback) * n_other for m in models)


def report(classic: dict, fast: dict, *, classic_grid_s: float | None = None, grid_n: int | None = None) -> str:
    lines = [f"{'way':34s} {'trials':>7s} {'wall s':>9s} {'s/trial':>8s} {'trials/h':>9s} {'mean ' + METRIC:>20s}"]
    for r in (classic, fast):
        m = f"{r['metric_mean']:.4f} ± {r['metric_sd'] or 0:.4f}" if r["metric_mean"] is not None else "-"
        lines.append(
            f"{r['way']:34s} {r['finished']:>7d} {r['wall_s']:>9.1f} {r['s_per_trial']:>8.2f} "
            f"{r['trials_per_hour'] or 0:>9.1f} {m:>20s}"
        )
    if classic_grid_s is not None:
        lines.append(
            f"classic way extrapolated to the {grid_n}-trial grid: {classic_grid_s:.0f} s "
            f"({classic['finished']} trials measured, each grid point charged its model's measured "
            "s/trial; NOT a full measured run)"
        )
    ratio = (
        classic["trials_per_hour"] and fast["trials_per_hour"] and fast["trials_per_hour"] / classic["trials_per_hour"]
    )
    if ratio:
        lines.append(f"throughput ratio sweepkit / classic: {ratio:.2f}x (trials per hour, measured side by side)")
    common = set(classic["per_point"]) & set(fast["per_point"])
    if common:
        diffs = [abs((classic["per_point"][k] or 0) - (fast["per_point"][k] or 0)) for k in common]
        lines.append(
            f"same grid points in both ({len(common)}): max |{METRIC} difference| = {max(diffs):.4f} "
            "(classic pads to max length, fp32, no length grouping: the data order differs, so expect seed-level noise)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--workers", type=int, default=2, help="cpu mode: warm workers")
    ap.add_argument("--gpus", default="all", help="gpu mode: all | 0,1 | none (= --workers, CPU smoke)")
    ap.add_argument("--per-gpu", default="8", help="gpu mode: workers per GPU (a number or auto)")
    ap.add_argument("--synthetic", help="gpu mode: dir for benchmarks.synthetic output")
    ap.add_argument("--small", action="store_true", help="tiny synthetic models and data (CPU smoke of gpu mode)")
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--classic-per-model", type=int, default=1)
    ap.add_argument("--budget-s", type=float, default=None, help="stop each way after this many seconds")
    ap.add_argument(
        "--fast-args",
        default="",
        help="extra trial args for sweepkit's way only, e.g. '--group_by_length=false' (printed with the results)",
    )
    ap.add_argument("--out", help="write the JSON results here")
    args = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="sweepkit-throughput-"))
    env = dict(os.environ)
    env.setdefault("SWEEPKIT_HOME", str(workdir / "home"))
    env.setdefault("WANDB_MODE", "offline")
    env.setdefault("WANDB_SILENT", "true")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    log = Path(args.out).with_suffix(".log") if args.out else workdir / "agents.log"
    results: dict = {"mode": args.mode, "workdir": str(workdir)}

    def save() -> None:
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1, default=str))

    if args.mode == "cpu":
        grid = cpu_grid()
        env.setdefault("OMP_NUM_THREADS", "1")
        print(
            f"grid: {grid_size(grid)} trials; classic = one cold process per trial, sequential, "
            f"{' '.join(CLASSIC_CPU)}; sweepkit = {args.workers} warm workers {args.fast_args}",
            flush=True,
        )
        results["classic"] = run_way(
            "classic (cold, padded, fp32, seq.)",
            with_args(grid, CLASSIC_CPU),
            env,
            workdir,
            {"warm": False},
            timeout=args.budget_s,
            log=log,
        )
        save()
        fast_grid = with_args(grid, args.fast_args.split()) if args.fast_args else grid
        results["sweepkit"] = run_way(
            f"sweepkit (warm, {args.workers} workers)",
            fast_grid,
            env,
            workdir,
            {"warm": True, "workers": args.workers},
            timeout=args.budget_s,
            log=log,
        )
        save()
        print(report(results["classic"], results["sweepkit"]))
        return 0

    from benchmarks import synthetic

    out_dir = args.synthetic or str(workdir / "synthetic")
    manifest = synthetic.build(
        out_dir,
        small=args.small,
        n_train=args.n_train or synthetic.MRPC_TRAIN,
        n_dev=synthetic.MRPC_DEV if not args.small else 64,
    )
    grid = gpu_grid(manifest, epochs=args.epochs, seeds=tuple(range(1, args.seeds + 1)))
    n = grid_size(grid)
    classic_cfg = with_args(subset(grid, args.classic_per_model), CLASSIC_GPU)
    print(
        f"grid: {n} trials (2 models x lr x batch x seed, {manifest['stats']['tokens_per_pair']:.0f} tokens/pair); "
        f"classic way measured on {grid_size(classic_cfg)} of them and extrapolated",
        flush=True,
    )
    results["classic"] = run_way(
        "classic (cold, pad 256, fp32, seq.)",
        classic_cfg,
        env,
        workdir,
        {"warm": False},
        timeout=args.budget_s,
        log=log,
    )
    results["classic_grid_s"] = extrapolate(results["classic"], grid)
    save()
    packed = args.gpus == "none" and args.workers or args.per_gpu
    opts = (
        {"warm": True, "workers": args.workers}
        if args.gpus == "none"
        else {"warm": True, "gpus": args.gpus, "per_gpu": args.per_gpu}
    )
    fast_grid = with_args(grid, args.fast_args.split()) if args.fast_args else grid
    results["sweepkit"] = run_way(
        f"sweepkit (warm, packed {packed})", fast_grid, env, workdir, opts, timeout=args.budget_s, log=log
    )
    fast = results["sweepkit"]
    classic_tph = 3600 * n / results["classic_grid_s"] if results["classic_grid_s"] else None
    results["ratio_vs_extrapolated"] = (
        (fast["trials_per_hour"] / classic_tph) if classic_tph and fast["trials_per_hour"] else None
    )
    save()
    print(report(results["classic"], fast, classic_grid_s=results["classic_grid_s"], grid_n=n))
    if results["ratio_vs_extrapolated"]:
        print(
            f"grid wall time: sweepkit {fast['wall_s']:.0f} s measured ({fast['finished']}/{n} finished) vs classic "
            f"{results['classic_grid_s']:.0f} s extrapolated -> {results['ratio_vs_extrapolated']:.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
