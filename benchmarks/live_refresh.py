"""The cost of one `report --watch` refresh on a sweep with 200 runs on disk.

Builds a local sweep of N finished runs whose offline logs are copies of one real wandb run (50
history rows, system stats, console lines), then times, in one process: the first refresh (every
log is read once), a refresh where nothing changed, and a refresh where 8 runs changed (as running
runs do between refreshes). CPU seconds count this process and the wandb-core readers it starts.
Prints the figures; asserts nothing. Target: one refresh <= 1 s of CPU at 200 runs.

    python -m benchmarks.live_refresh [--runs 200] [--changed 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TEMPLATE = textwrap.dedent("""
    import time, wandb
    run = wandb.init(project="bench", mode="offline", settings=wandb.Settings(x_stats_sampling_interval=0.2))
    for i in range(50):
        print(f"step {i}: loss {1 / (i + 1):.4f}")
        wandb.log({"eval/loss": 1 / (i + 1), "eval/accuracy": 0.5 + i / 120, "train/loss": 1.2 / (i + 1)})
        time.sleep(0.02)
    run.finish()
""")


def cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def template_log(work: Path) -> Path:
    (work / "t.py").write_text(TEMPLATE)
    subprocess.run([sys.executable, "t.py"], cwd=work, check=True, env={**os.environ, "WANDB_SILENT": "true"})
    return next((work / "wandb").glob("offline-run-*/run-*.wandb"))


def build_sweep(n: int, log: Path) -> str:
    from agent.backends.base import TrialOutcome, TrialSpec
    from agent.backends.local import LocalBackend

    backend = LocalBackend()
    sid = backend.create_sweep(
        {
            "method": "random",
            "metric": {"name": "eval/loss"},
            "program": "t.py",
            "parameters": {"lr": {"min": 0.0001, "max": 0.1}, "model": {"values": ["a", "b"]}},
        }
    )
    engine = backend.engine(sid)
    for _ in range(n):
        claim = engine.claim(60.0)
        run = claim.run
        dest = Path(run.run_dir) / "wandb" / f"offline-run-x-{run.run_id}"
        dest.mkdir(parents=True)
        shutil.copy(log, dest / f"run-{run.run_id}.wandb")
        spec = TrialSpec(sid, run.run_id, run.params, run.run_dir, claim.trial.number)
        engine.finish(claim, spec, TrialOutcome(0, 30.0))
    return sid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--changed", type=int, default=8)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sweepkit-live-"))
    os.environ.update(SWEEPKIT_HOME=str(work / "home"), SWEEPKIT_CACHE=str(work / "cache"), WANDB_SILENT="true")
    from agent.backends.local import LocalBackend
    from analysis.commands.watch import Watcher

    t = time.perf_counter()
    sid = build_sweep(args.runs, template_log(work))
    print(f"built a sweep of {args.runs} finished runs in {time.perf_counter() - t:.0f} s")
    watcher = Watcher(LocalBackend(), sid, work / "report", every=5, report_every=1e9)
    (work / "report").mkdir()
    rows = []
    for label, touch in (
        ("first refresh (reads every log)", 0),
        ("nothing changed", 0),
        (f"{args.changed} runs changed", args.changed),
        ("nothing changed", 0),
    ):
        for rec in watcher.source.records[:touch]:
            f = next(Path(rec.run_dir).rglob("run-*.wandb"))
            os.utime(f, None)  # a running run's log grows between refreshes: a new data key
        c0, w0 = cpu(), time.perf_counter()
        step = watcher.refresh()
        rows.append((label, step.read, cpu() - c0, time.perf_counter() - w0))
    print(f"\n{'refresh':36s} {'runs read':>9s} {'CPU s':>7s} {'wall s':>7s}")
    for label, read, c, w in rows:
        print(f"{label:36s} {read:9d} {c:7.2f} {w:7.2f}")
    steady = max(c for label, _, c, _ in rows[1:])
    print(f"\none refresh after the first: at most {steady:.2f} s of CPU at {args.runs} runs (target <= 1 s)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
