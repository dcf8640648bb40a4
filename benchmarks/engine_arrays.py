"""`engine_scale --arrays 64,256`: the engine's agents as SLURM job arrays on a PostgreSQL at its defaults.

For each size N and each way to the server (straight, or through PgBouncer in transaction mode):
an array of N tasks, each a real agent (`engine_scale --role agent`, a no-op trial) on a grid sweep,
then an array of N tasks of bare Optuna (`--role bare`, study.ask/tell on the same server, for
`--bare-budget` seconds: its rate is what it did, and exactly-once means none twice). Printed:
exactly-once (the store and the trials' own record), claim p50/p99 (and p99 without each agent's
first claim, which pays for its connection and its first queries while all agents start), trials/s, the peak of the
server's client connections (`pg_stat_activity`, polled every 0.1 s), tasks that failed, and how
many tasks ran at once. The server keeps PostgreSQL's default max_connections (100).

The box's memory bounds how many tasks run at once: the agent's RSS is measured first, and the
array's `%M` is what fits in 60% of the memory available. The first wave (M tasks, or all N)
starts together: each waits for a go file until every live one is ready. Each agent runs until
the grid is done, as a real one does; tasks past the first wave start as slots free up, and find
what is left.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.engine_scale import _bare_storage, _grid, _pct
from benchmarks.scale_infra import Cluster, ConnectionPeak, PgBouncer, Postgres

ROOT = Path(__file__).resolve().parent.parent
PG_PORT, BOUNCER_PORT, SLURM_PORT, CPUS = 55599, 55598, 56837, 32
MEMORY_SHARE = 0.6
DEADLINE_S = 1800


def _script(work: Path, role: str, n: int, parallel: int, args: list[str], go: Path) -> Path:
    out = f"{work}/{role}-{{task}}.json"
    script = work / f"{role}.sbatch"
    script.write_text(
        "\n".join(
            [
                "#!/bin/bash",
                f"#SBATCH --job-name=engine-scale-{role}",
                f"#SBATCH --array=0-{n - 1}%{parallel}",
                f"#SBATCH --output={work}/{role}-%a.out",
                f"#SBATCH --chdir={ROOT}",
                f"export PYTHONPATH={ROOT} OMP_NUM_THREADS=1 SWEEPKIT_HOME={work}/home",
                f"exec {sys.executable} -m benchmarks.engine_scale --role {role} {' '.join(args[:-1])} {out} {go} "
                + args[-1],
                "",
            ]
        )
    )
    return script


def _run_array(cluster: Cluster, work: Path, role: str, n: int, parallel: int, args: list[str], port: int) -> dict:
    """Submit, release the first wave together, wait for the end; the tasks' results and what was seen."""
    go = work / f"{role}.go"
    job = cluster.submit(_script(work, role, n, parallel, args, go))
    deadline, most = time.monotonic() + DEADLINE_S, 0
    with ConnectionPeak(port) as peak:
        seen, since = (-1, -1), time.monotonic()
        while time.monotonic() < deadline:  # the first wave waits at the barrier until all of it is ready
            ready = sum(1 for _ in work.glob(f"{role}-*.json.ready"))
            running, _ = cluster.running(job)
            if (running, ready) != seen:
                seen, since = (running, ready), time.monotonic()
            # ... or until what is up stopped changing (a task that failed to start never comes)
            if ready >= min(n, parallel) or (running and running <= ready and time.monotonic() - since > 20):
                break
            time.sleep(0.5)
        go.touch()
        t0 = time.time()
        while time.monotonic() < deadline:
            running, pending = cluster.running(job)
            most = max(most, running)
            if not running and not pending:
                break
            time.sleep(1.0)
        span = time.time() - t0
    results, failed = [], []
    for i in range(n):
        f = work / f"{role}-{i}.json"
        if f.exists():
            results.append(json.loads(f.read_text()))
        else:
            out = (work / f"{role}-{i}.out").read_text(errors="replace") if (work / f"{role}-{i}.out").exists() else ""
            failed.append(next((ln for ln in reversed(out.splitlines()) if ln.strip()), "no output")[:160])
    return {"results": results, "failed": failed, "peak": peak.peak, "at_once": most, "span": span}


def _rates(results: list[dict]) -> tuple[list[int], float, list[float], list[float]]:
    """(points run, trials/s, every claim's seconds, the claims after each agent's first)."""
    trials = [t for r in results for t in r["trials"]]
    times = [t[0] for t in trials]
    per_s = len(trials) / max(max(times) - min(times), 1e-9) if len(times) > 1 else math.nan
    later = [c for r in results for c in r["claims"][1:]]
    return [t[2] for t in trials], per_s, [c for r in results for c in r["claims"]], later


def _probe_rss(url: str, work: Path) -> float:
    """One agent on a small sweep, alone: its resident memory at the end (MB)."""
    import subprocess

    from agent.backends.local import LocalBackend

    os.environ["SWEEPKIT_HOME"] = str(work / "home")
    sid = LocalBackend(url).create_sweep({**_grid(20), "name": "rss-probe"})
    out = work / "probe.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "benchmarks.engine_scale", "--role", "agent", sid, url, str(out), "-"],
                   cwd=ROOT, env=env, check=True, timeout=300)  # fmt: skip
    return float(json.loads(out.read_text())["rss_mb"])


def run_arrays(sizes: list[int], vias: list[str], points: int, bare_budget_s: float) -> list[dict]:
    import psutil

    root = Path(tempfile.mkdtemp(prefix="engine-arrays-"))
    server = Postgres(PG_PORT, Path(tempfile.gettempdir()) / f"sweepkit-pg-bench-{os.getuid()}")
    cluster = bouncer = None
    rows: list[dict] = []
    try:
        cluster = Cluster(Path(tempfile.gettempdir()) / f"sweepkit-slurm-bench-{os.getuid()}", SLURM_PORT, CPUS)
        if "pgbouncer" in vias:
            try:
                where = Path(tempfile.gettempdir()) / f"sweepkit-pgbouncer-{os.getuid()}"
                bouncer = PgBouncer(server, BOUNCER_PORT, where)
            except (FileNotFoundError, OSError) as exc:
                print(f"pgbouncer rows skipped: {exc}")
        rss = _probe_rss(server.url, root)
        avail = psutil.virtual_memory().available / 2**20
        fit = int(MEMORY_SHARE * avail / rss)
        print(f"{points}-point grid of a no-op trial; {os.cpu_count()} cores; server max_connections "
              f"{server.sql('SHOW max_connections')}; one agent's RSS {rss:.0f} MB, {avail / 1024:.1f} GiB "
              f"available: at most {fit} tasks at once ({cluster.slots} SLURM slots)")  # fmt: skip
        print(HEADER, flush=True)
        for via in vias:
            url = server.url if via == "direct" else (bouncer.url if bouncer else None)
            if url is None:
                continue
            for n in sizes:
                rows += _one_size(cluster, server, root, via, url, n, min(n, fit, cluster.slots), points, bare_budget_s)
    finally:
        if bouncer is not None:
            bouncer.stop()
        if cluster is not None:
            cluster.stop()
        server.stop()
    return rows


def _one_size(cluster: Cluster, server: Postgres, root: Path, via: str, url: str, n: int, parallel: int,
              points: int, bare_budget_s: float) -> list[dict]:  # fmt: skip
    import optuna

    from agent.backends.local import LocalBackend

    work = root / f"{via}-{n}"
    (work / "home").mkdir(parents=True)
    os.environ["SWEEPKIT_HOME"] = str(work / "home")
    sid = LocalBackend(url).create_sweep({**_grid(points), "name": f"arrays-{via}-{n}"})
    eng = _run_array(cluster, work, "agent", n, parallel, [sid, url, "0"], server.port)
    xs, per_s, claims, later = _rates(eng["results"])
    finished = sorted(r.config["x"] for r in LocalBackend(url).runs(sid) if r.state == "finished")
    row = {
        "way": f"{via} sweepkit",
        "tasks": n,
        "at_once": eng["at_once"],
        "per_s": round(per_s, 1),
        "claim_p50_ms": round(1000 * _pct(claims, 0.5), 1),
        "claim_p99_ms": round(1000 * _pct(claims, 0.99), 1),
        "later_p99_ms": round(1000 * _pct(later, 0.99), 1),
        "peak_connections": eng["peak"],
        "exactly_once": sorted(xs) == list(range(points)) and finished == list(range(points)),
        "failed_tasks": len(eng["failed"]),
        "failures": sorted(set(eng["failed"]))[:3],
    }
    print(_line(row), flush=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    name = f"bare-{sid}"
    study = optuna.create_study(study_name=name, storage=_bare_storage(url))
    for x in range(points):
        study.enqueue_trial({}, user_attrs={"x": x})
    bare = _run_array(cluster, work, "bare", n, parallel, [name, url, str(bare_budget_s), ""], server.port)
    bxs, bper_s, asks, blater = _rates(bare["results"])
    brow = {
        **row,
        "way": f"{via} bare Optuna",
        "at_once": bare["at_once"],
        "per_s": round(bper_s, 1),
        "claim_p50_ms": round(1000 * _pct(asks, 0.5), 1),
        "claim_p99_ms": round(1000 * _pct(asks, 0.99), 1),
        "later_p99_ms": round(1000 * _pct(blater, 0.99), 1),
        "peak_connections": bare["peak"],
        "exactly_once": len(bxs) == len(set(bxs)),  # within its time budget: none twice
        "failed_tasks": len(bare["failed"]),
        "failures": sorted(set(bare["failed"]))[:3],
    }
    print(_line(brow), flush=True)
    return [row, brow]


HEADER = (
    f"{'way':<24}{'tasks':>6}{'at once':>8}{'trials/s':>10}{'claim p50':>11}{'claim p99':>11}{'later p99':>11}"
    f"{'peak conns':>12}{'failed':>8}  exactly once"
)


def _line(r: dict) -> str:
    text = (
        f"{r['way']:<24}{r['tasks']:>6}{r['at_once']:>8}{r['per_s']:>10.1f}{r['claim_p50_ms']:>9.0f}ms"
        f"{r['claim_p99_ms']:>9.0f}ms{r['later_p99_ms']:>9.0f}ms{r['peak_connections']:>12}{r['failed_tasks']:>8}  "
        f"{'yes' if r['exactly_once'] else 'NO'}"
    )
    return text + (f"\n    failed tasks said: {' | '.join(r['failures'])}" if r["failures"] else "")
