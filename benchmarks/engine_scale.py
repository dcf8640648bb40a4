"""The local engine under many agents: N agent processes on a 1,000-point grid of a no-op trial.

For each store (the journal file; PostgreSQL when a URL is given or scripts/start_postgres.sh can
start one) and each N, in one run:

- engine: N processes, each a real `LocalBackend.run_agent` (claim under the sweep's lock, reap,
  heartbeat, record the result) with an in-process trial that does nothing;
- bare: N processes doing bare Optuna ask/tell on the same kind of storage, over the same 1,000
  enqueued points: the floor any engine on that store has.

Prints trials/s of both and their ratio (the engine's overhead), claim latency p50/p99 (one
`claim`, lock wait included), store records written per trial (journal), and whether every point
ran exactly once. All processes import and open the store first, then start together. Nothing
is asserted on time.

    python -m benchmarks.engine_scale [--agents 1,8,32,64] [--points 1000] [--stores journal,postgres]
                                      [--storage URL] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _grid(points: int) -> dict:
    return {"name": "engine-scale", "method": "grid", "parameters": {"x": {"values": list(range(points))}}}


def _wait_for(go: Path | None) -> float:
    """Wait for the start signal (None: start at once, as an array task SLURM starts late does)."""
    while go is not None and not go.exists():
        time.sleep(0.005)
    return time.time()


def _task_path(out: str) -> Path:
    """`out` with `{task}` as this array task's index (an array's tasks share one command line)."""
    return Path(out.replace("{task}", os.environ.get("SLURM_ARRAY_TASK_ID", "0")))


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# ---- one agent process -------------------------------------------------------------------------
def agent_main(sweep_id: str, storage: str | None, out: Path, go: Path | None, count: int | None = None) -> None:
    from agent.backends.base import AgentSettings, TrialOutcome
    from agent.backends.local import LocalBackend
    from agent.backends.local.engine import Engine
    from tests.helpers import QuietProgress

    claims: list[float] = []
    trials: list[tuple[float, float, int]] = []
    real_claim = Engine.claim

    def timed_claim(self, *a, **kw):
        t0 = time.perf_counter()
        got = real_claim(self, *a, **kw)
        if not isinstance(got, str):
            claims.append(time.perf_counter() - t0)
        return got

    Engine.claim = timed_claim  # type: ignore[method-assign]

    class NoOp:
        in_process = True

        def __call__(self, spec, config, control):
            t = time.time()
            trials.append((t, t, spec.params["x"]))
            return TrialOutcome(0, 0.0)

    backend = LocalBackend(storage)
    backend.engine(sweep_id)  # open the store before the start signal
    (out.parent / f"{out.name}.ready").touch()
    _wait_for(go)
    backend.run_agent(sweep_id, runner=NoOp(), progress=QuietProgress(), settings=AgentSettings(count=count))
    out.write_text(json.dumps({"claims": claims, "trials": trials, "rss_mb": _rss_mb()}))


# ---- one bare Optuna process -------------------------------------------------------------------
def bare_main(study_name: str, storage: str, out: Path, go: Path | None, budget_s: float) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=study_name, storage=_bare_storage(storage))
    (out.parent / f"{out.name}.ready").touch()
    start = _wait_for(go)
    asks, trials = [], []
    while time.time() - start < budget_s:
        t0 = time.perf_counter()
        trial = study.ask()
        asks.append(time.perf_counter() - t0)
        x = trial.user_attrs.get("x")
        if x is None:  # the queue is empty: ask made a fresh trial
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            break
        study.tell(trial, 0.0)
        trials.append((time.time(), time.time(), x))
    out.write_text(json.dumps({"claims": asks, "trials": trials, "rss_mb": _rss_mb()}))


def _bare_storage(storage: str):
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if storage.startswith("journal:"):
        return JournalStorage(JournalFileBackend(storage[len("journal:") :]))
    return RDBStorage(storage)


# ---- the driver --------------------------------------------------------------------------------
def _spawn(role: str, args: list[str], n: int, work: Path, env: dict) -> tuple[list[dict], float, float]:
    """Start n processes, release them together; (their results, go time, seconds to start them)."""
    go = work / "go"
    outs = [work / f"{role}-{i}.json" for i in range(n)]
    t0 = time.time()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.engine_scale", "--role", role, *args, str(o), str(go)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(work / f"{o.name}.err").open("w"),
        )
        for o in outs
    ]
    while sum((work / f"{o.name}.ready").exists() for o in outs) < n:
        if any(p.poll() not in (None, 0) for p in procs):
            bad = next(o for o, p in zip(outs, procs, strict=True) if p.poll() not in (None, 0))
            raise SystemExit(f"engine_scale: a {role} process failed: {(work / f'{bad.name}.err').read_text()[-800:]}")
        time.sleep(0.05)
    started = time.time() - t0
    go_t = time.time()
    go.touch()
    for p, o in zip(procs, outs, strict=True):
        if p.wait() != 0:
            raise SystemExit(f"engine_scale: a {role} process failed: {(work / f'{o.name}.err').read_text()[-800:]}")
    go.unlink()
    return [json.loads(o.read_text()) for o in outs], go_t, started


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, int(math.ceil(q * len(s))) - 1)]


def _summarise(results: list[dict], go_t: float, points: int) -> dict:
    trials = [t for r in results for t in r["trials"]]
    claims = [c for r in results for c in r["claims"]]
    xs = [t[2] for t in trials]
    end = max((t[1] for t in trials), default=go_t)
    return {
        "trials": len(trials),
        "per_s": len(trials) / max(end - go_t, 1e-9),
        "claim_p50_ms": 1000 * _pct(claims, 0.5),
        "claim_p99_ms": 1000 * _pct(claims, 0.99),
        "exactly_once": sorted(xs) == list(range(points)),
    }


def run_store(
    store: str, url: str | None, agents: list[int], points: int, work_root: Path, bare_budget_s: float
) -> list[dict]:
    from agent.backends.local import LocalBackend

    rows = []
    for n in agents:
        work = Path(tempfile.mkdtemp(prefix=f"{store}-{n}-", dir=work_root))
        env = {**os.environ, "SWEEPKIT_HOME": str(work / "home"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        env.pop("SWEEPKIT_STORAGE", None)
        os.environ["SWEEPKIT_HOME"] = env["SWEEPKIT_HOME"]
        sweep_id = LocalBackend(url).create_sweep(_grid(points))
        log = work / "home" / "sweeps" / sweep_id / "journal.log"
        created = sum(1 for _ in log.open("rb")) if not url else 0
        results, go_t, started = _spawn("agent", [sweep_id, url or "-"], n, work, env)
        eng = _summarise(results, go_t, points)
        runs = LocalBackend(url).runs(sweep_id)
        finished = sorted(r.config["x"] for r in runs if r.state == "finished")
        eng["exactly_once"] = eng["exactly_once"] and finished == list(range(points))
        if not url:  # what agents wrote: the sweep's creation (the grid enqueued) aside
            eng["records_per_trial"] = (sum(1 for _ in log.open("rb")) - created) / points

        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        bare_url = url or f"journal:{work / 'bare.log'}"
        name = f"bare-{sweep_id}"
        study = optuna.create_study(study_name=name, storage=_bare_storage(bare_url))
        for x in range(points):
            study.enqueue_trial({}, user_attrs={"x": x})
        bres, bgo, _ = _spawn("bare", [name, bare_url, str(bare_budget_s)], n, work, env)
        bare = _summarise(bres, bgo, points)
        xs = [t[2] for r in bres for t in r["trials"]]
        bare["exactly_once"] = len(xs) == len(set(xs))  # within its time budget: none twice
        rows.append(
            {
                "store": store,
                "agents": n,
                "engine_per_s": round(eng["per_s"], 1),
                "bare_per_s": round(bare["per_s"], 1),
                "overhead": round(bare["per_s"] / eng["per_s"], 2) if eng["per_s"] else None,
                "claim_p50_ms": round(eng["claim_p50_ms"], 1),
                "claim_p99_ms": round(eng["claim_p99_ms"], 1),
                "bare_ask_p99_ms": round(bare["claim_p99_ms"], 1),
                "records_per_trial": round(eng.get("records_per_trial", math.nan), 1),
                "exactly_once": eng["exactly_once"],
                "bare_exactly_once": bare["exactly_once"],
                "start_s": round(started, 1),
            }
        )
        print(_line(rows[-1]), flush=True)
    return rows


HEADER = (
    f"{'store':<9}{'agents':>7}{'engine/s':>10}{'bare/s':>9}{'overhead':>10}{'claim p50':>11}{'claim p99':>11}"
    f"{'bare p99':>10}{'rec/trial':>10}  exactly once"
)


def _line(r: dict) -> str:
    return (
        f"{r['store']:<9}{r['agents']:>7}{r['engine_per_s']:>10.1f}{r['bare_per_s']:>9.1f}{r['overhead']:>9.2f}x"
        f"{r['claim_p50_ms']:>9.0f}ms{r['claim_p99_ms']:>9.0f}ms{r['bare_ask_p99_ms']:>8.0f}ms"
        f"{r['records_per_trial']:>10.1f}  {'yes' if r['exactly_once'] else 'NO'}"
    )


def _postgres(url: str | None) -> str | None:
    if url:
        return url
    try:
        res = subprocess.run(
            ["bash", "scripts/start_postgres.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=["driver", "agent", "bare"], default="driver", help=argparse.SUPPRESS)
    ap.add_argument("--agents", default="1,8,32,64")
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--stores", default="journal,postgres")
    ap.add_argument("--storage", default=None, help="PostgreSQL URL (default: scripts/start_postgres.sh)")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    ap.add_argument("--arrays", default="", help="SLURM array runs of these many tasks on PostgreSQL (e.g. 64,256)")
    ap.add_argument("--via", default="direct,pgbouncer", help="array runs: straight to the server, or PgBouncer")
    ap.add_argument(
        "--bare-budget", type=float, default=60.0, help="seconds the bare baseline runs (its rate is what it did)"
    )
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role == "agent":
        sweep_id, storage, out, go, *count = a.rest
        agent_main(sweep_id, None if storage == "-" else storage, _task_path(out), None if go == "-" else Path(go),
                   int(count[0]) or None if count else None)  # fmt: skip
        return
    if a.role == "bare":
        name, storage, budget, out, go = a.rest
        bare_main(name, storage, _task_path(out), None if go == "-" else Path(go), float(budget))
        return
    if a.arrays:
        from benchmarks.engine_arrays import run_arrays

        rows = run_arrays([int(x) for x in a.arrays.split(",")], a.via.split(","), a.points, a.bare_budget)
        if a.out:
            Path(a.out).write_text(json.dumps(rows, indent=1))
        return
    agents = [int(x) for x in a.agents.split(",")]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="engine-scale-") as tmp:
        print(f"{a.points}-point grid of a no-op trial; {os.cpu_count()} cores\n{HEADER}", flush=True)
        for store in a.stores.split(","):
            url = None
            if store == "postgres":
                url = _postgres(a.storage)
                if not url:
                    print("postgres  skipped: no server (pass --storage URL, or install PostgreSQL)")
                    continue
            rows += run_store(store, url, agents, a.points, Path(tmp), a.bare_budget)
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
