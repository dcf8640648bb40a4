"""Half-made sweeps, lost claims, secrets in console text and counts after Ctrl-C, through the real CLI.

Each command is a child process of `python -m agent.cli`, run by hostile_input's runner (exit code,
seconds, peak RSS by `os.wait4`, under a memory cap and a time limit); each row says what a user
then sees. `--before DIR` runs every case first on another source tree with this venv.

    python -m benchmarks.hostile_lifecycle [--before DIR] [--timeout 120] [--cases a,b]

Cases:
- sweep_int, sweep_term, sweep_kill: `sweepkit sweep` of a 10,000-point grid, sent SIGINT / SIGTERM /
  SIGKILL once its journal holds 64 KB of grid points; then `sweepkit sweeps --json` (and, after the
  SIGKILL, `sweepkit doctor --repair ID` and `sweeps` again).
- lost_claim: a process claims a trial through the tree's own engine and dies (os._exit) before its run
  dir exists; then `sweepkit agent ID` finishes the grid; then `doctor ID`, `doctor ID --repair`, `doctor ID`.
  claim_doctor: the same, with the three doctors first (before any agent reaped it), then the agent and doctor.
- secrets: a wandb (offline) program prints its config's api_key and $WANDB_API_KEY; `sweepkit agent` runs
  its 2 points with the key set, `sweepkit report ID --out DIR` runs without it; the row counts each
  secret in every file under DIR and in the runs' console text in the store.
- ctrl_c: `sweepkit agent ID --workers 2` of a 2-point grid of sleeping trials, SIGINT (to the agent's
  pid, as the tests send it) once both trials run; the summary line it prints. ctrl_c_one: one agent,
  SIGINT once its first trial runs; its last two lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from benchmarks.hostile_input import ROOT, product_grid_yaml, run

SLEEPER = textwrap.dedent("""
    import os, time
    open(os.path.join(os.environ["SWEEPKIT_RUN_DIR"], "started"), "w").close()
    time.sleep(float(os.environ.get("SLEEP", "0")))
""")
IN_CONFIG = "cfg-api-key-7c1e9b2a4d"
IN_AGENT_ENV = "f" * 8 + "0123456789abcdef" * 2  # a W&B key's shape, in the agent's shell only
LEAKY = textwrap.dedent("""
    import os
    import wandb
    run = wandb.init()
    cfg = dict(run.config)
    print("config:", cfg)
    print("logged in as", cfg["api_key"])
    print(f"WANDB_API_KEY={os.environ['WANDB_API_KEY']}")
    wandb.log({"loss": float(cfg["x"])})
    run.finish()
""")
# How many grid points a sweep's study holds (of the 10,000 its file asks for), read with the tree's own engine.
COUNT_POINTS = """
import sys
from agent.backends.local import LocalBackend
print(len(LocalBackend().engine(sys.argv[1]).study.get_trials(deepcopy=False)))
"""
# A process of the agent's kind: claims a trial through the engine, dies before making the run's dir.
CLAIM_AND_DIE = """
import os, sys
from agent.backends.local import LocalBackend
got = LocalBackend().engine(sys.argv[1]).claim(lease_s=0.5)
run = getattr(got, "run", got)  # older engines hold the run as a dict
print(run["run_id"] if isinstance(run, dict) else getattr(run, "run_id", run), flush=True)
os._exit(9)
"""


class Case:
    """One case on one source tree: its own store, and a row printer."""

    def __init__(self, name: str, side: str, src: Path, work: Path, args: argparse.Namespace) -> None:
        self.name, self.side, self.src, self.args = name, side, src, args
        self.dir = work / name / side
        self.home = self.dir / "home"
        self.home.mkdir(parents=True)
        self.env = {**os.environ, "SWEEPKIT_HOME": str(self.home), "PYTHONPATH": str(src)}
        self.env.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
        for key in ("SWEEPKIT_STORAGE", "WANDB_API_KEY"):
            self.env.pop(key, None)

    def cli(
        self,
        *argv: str,
        label: str = "",
        env: dict | None = None,
        signal_when: tuple[Callable[[], object], int] | None = None,
        code: str | None = None,
    ) -> dict:
        r = run(
            list(argv),
            src=self.src,
            env=env or self.env,
            timeout=self.args.timeout,
            mem_cap=3 * 2**30,
            signal_when=signal_when,
            code=code,
        )
        r["label"] = label or argv[0]
        return r

    def row(self, r: dict, outcome: str) -> None:
        print(
            f"{self.name:<12} {r['label']:<30} {self.side:<6} {r['rc']!s:>7} {r['s']:>6.1f} {r['rss_mb']:>7.0f}  "
            f"{outcome[:400]}",
            flush=True,
        )

    def sweep_yaml(self, body: str) -> Path:
        path = self.dir / "sweep.yaml"
        path.write_text(textwrap.dedent(body))
        return path

    def make_sweep(self, body: str) -> str:
        r = self.cli("sweep", str(self.sweep_yaml(body)))
        if r["rc"] != 0:
            raise RuntimeError(f"{self.name} {self.side}: sweep failed: {r['err'][-500:]}")
        return r["out"].strip().splitlines()[-1]

    def sweeps_dir(self) -> Path:
        return self.home / "sweeps"


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else "(nothing)"


def building(sweeps: Path, grown_past: int = 64_000) -> str | None:
    """The folder a `sweep` is building (hidden or not), once its journal holds `grown_past` bytes."""
    if not sweeps.is_dir():
        return None
    for entry in os.scandir(sweeps):
        log = Path(entry.path) / "journal.log"
        if log.is_file() and log.stat().st_size > grown_past:
            return entry.name
    return None


def last_line(r: dict) -> str:
    lines = [ln.strip() for ln in (r["out"] + "\n" + r["err"]).splitlines() if ln.strip()]
    return lines[-1] if lines else "(nothing)"


def said_all(c: Case, r: dict) -> str:
    """Every line a command printed, stdout then stderr, on one line; the store's path as $SWEEPKIT_HOME."""
    said = " | ".join(ln.strip() for ln in (r["out"] + r["err"]).splitlines() if ln.strip())
    return said.replace(str(c.home), "$SWEEPKIT_HOME")


def run_states(c: Case, sid: str) -> str:
    """'4 finished, 1 crashed (reason)': the sweep's runs by state, as `status --json` gives them."""
    st = c.cli("status", sid, "--json", "--backend", "local", label="status")
    try:
        runs = json.loads(st["out"]).get("runs", [])
    except ValueError:
        return f"status unreadable: {first_line(st['err'])}"
    counts = Counter(r["state"] + (f" ({r['reason']})" if r.get("reason") else "") for r in runs)
    return "runs: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def listed(c: Case, label: str) -> tuple[dict, str]:
    """`sweeps --json`: what it lists (id, state, method, runs) and what it says on stderr."""
    r = c.cli("sweeps", "--json", label=label)
    try:
        found = json.loads(r["out"] or "[]")
    except ValueError:
        return r, f"unreadable: {first_line(r['out'] + r['err'])}"
    shown = []
    for s in found:
        st = c.cli("status", s["id"], "--json", "--backend", "local", label="status")
        try:
            runs: object = len(json.loads(st["out"]).get("runs", []))
        except ValueError:
            runs = f"? ({first_line(st['err'])})"
        points = first_line(c.cli(s["id"], code=COUNT_POINTS)["out"])
        method = (s.get("config") or {}).get("method")
        shown.append(f"{s['id']} state={s.get('state')} method={method} runs={runs} points={points}")
    said = "; ".join(ln.strip() for ln in r["err"].splitlines() if ln.strip())
    what = f"lists {len(found)}" + (f": {', '.join(shown)}" if shown else "")
    return r, what + (f" | stderr: {said}" if said else "")


def interrupted_sweep(c: Case, sig: int) -> None:
    path = c.sweep_yaml(product_grid_yaml(4, 10))  # 10,000 points: the default bound
    ready: Callable[[], object] = lambda: building(c.sweeps_dir())
    r = c.cli("sweep", str(path), label=f"sweep 10k, {signal.Signals(sig).name}", signal_when=(ready, sig))
    c.row(r, last_line(r))
    left = building(c.sweeps_dir(), 0) or ""
    r, what = listed(c, "sweeps")
    c.row(r, what)
    if sig != signal.SIGKILL:
        return
    sid = left.split("-")[1] if left.startswith(".creating-") else left
    r = c.cli("doctor", "--repair", sid, label="doctor --repair ID")
    c.row(r, said_all(c, r))
    r, what = listed(c, "sweeps (after doctor)")
    c.row(r, what + f"; folders left: {sorted(os.listdir(c.sweeps_dir()))}")


def lost_claim(c: Case, agent_first: bool) -> None:
    (c.dir / "noop.py").write_text("pass\n")
    sid = c.make_sweep(f"program: {c.dir / 'noop.py'}\nmethod: grid\nparameters:\n  x: {{values: [1, 2, 3, 4]}}\n")
    r = c.cli(sid, code=CLAIM_AND_DIE, label="claim, then os._exit(9)")
    c.row(r, f"claimed run {first_line(r['out'])}; no run dir made" if r["rc"] == 9 else r["last"])
    time.sleep(1.5)  # its 0.5 s lease lapses: the next agent may reap it
    if agent_first:
        finish(c, sid)
    for argv in ((), ("--repair",), ()):
        r = c.cli("doctor", sid, *argv, label=f"doctor ID {' '.join(argv)}".strip())
        c.row(r, said_all(c, r))
    if not agent_first:
        finish(c, sid)
        r = c.cli("doctor", sid, label="doctor ID")
        c.row(r, said_all(c, r))


def finish(c: Case, sid: str) -> None:
    r = c.cli("agent", sid, label="agent ID (noop trials)")
    c.row(r, f"{last_line(r)}; {run_states(c, sid)}")


def secrets(c: Case) -> None:
    (c.dir / "leaky.py").write_text(LEAKY)
    body = f"program: {c.dir / 'leaky.py'}\nmethod: grid\nmetric: {{name: loss}}\nparameters:\n"
    sid = c.make_sweep(body + f"  x: {{values: [1, 2]}}\n  api_key: {{value: {IN_CONFIG}}}\n")
    r = c.cli("agent", sid, env={**c.env, "WANDB_API_KEY": IN_AGENT_ENV}, label="agent ID (key set)")
    c.row(r, f"{last_line(r)}; {run_states(c, sid)}")
    out = c.dir / "report"
    r = c.cli("report", sid, "--out", str(out), label="report ID --out DIR (no key)")
    files = [p for p in out.rglob("*") if p.is_file()] if out.is_dir() else []
    pages = [p for p in files if p.name.endswith((".console.txt", ".html")) and p.parent.name == "runs"]
    raw = [p for p in (c.sweeps_dir() / sid).rglob("*") if p.name in ("output.log", "agent.log")]
    counts = []
    for what, paths in (("report", files), ("its run pages + console.txt", pages), ("raw logs in the store", raw)):
        n = [sum(p.read_bytes().count(secret.encode()) for p in paths) for secret in (IN_CONFIG, IN_AGENT_ENV)]
        counts.append(f"{what}: cfg key {n[0]}, env key {n[1]} ({len(paths)} files)")
    c.row(r, (f"exit note: {r['last']}; " if r["rc"] != 0 else "") + "; ".join(counts))


def ctrl_c(c: Case, workers: int) -> None:
    (c.dir / "sleeper.py").write_text(SLEEPER)
    sid = c.make_sweep(f"program: {c.dir / 'sleeper.py'}\nmethod: grid\nparameters:\n  x: {{values: [1, 2]}}\n")
    runs = c.sweeps_dir() / sid / "runs"
    ready: Callable[[], object] = lambda: len(list(runs.glob("*/started"))) >= max(workers, 1)
    env = {**c.env, "SLEEP": "60"}
    pool = ("--workers", str(workers)) if workers else ()
    label = " ".join(["agent ID", *pool]) + ", SIGINT"
    r = c.cli("agent", sid, *pool, env=env, label=label, signal_when=(ready, signal.SIGINT))
    said = [ln.strip() for ln in (r["out"] + r["err"]).splitlines() if ln.strip()]
    summary = [ln for ln in said if "workers," in ln] if workers else said[-2:]
    c.row(r, " | ".join(summary or [f"no summary line; last: {r['last']}"]) + f"; {run_states(c, sid)}")


CASES: dict[str, Callable[[Case], None]] = {
    "sweep_int": lambda c: interrupted_sweep(c, signal.SIGINT),
    "sweep_term": lambda c: interrupted_sweep(c, signal.SIGTERM),
    "sweep_kill": lambda c: interrupted_sweep(c, signal.SIGKILL),
    "lost_claim": lambda c: lost_claim(c, agent_first=True),
    "claim_doctor": lambda c: lost_claim(c, agent_first=False),
    "secrets": secrets,
    "ctrl_c": lambda c: ctrl_c(c, workers=2),
    "ctrl_c_one": lambda c: ctrl_c(c, workers=0),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=ROOT, help="the source tree to measure (default: this one)")
    ap.add_argument("--before", type=Path, default=None, help="also run each case on this tree, just before")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per command")
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    sides = ([("before", args.before.resolve())] if args.before else []) + [("after", args.src.resolve())]
    print("\n".join(f"{side}: {src}" for side, src in sides))
    print(f"\n{'case':<12} {'command':<30} {'side':<6} {'exit':>7} {'s':>6} {'peak MB':>7}  outcome")
    work = Path(tempfile.mkdtemp(prefix="sk-lifecycle-"))
    try:
        for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
            for side, src in sides:
                try:
                    CASES[name](Case(name, side, src, work, args))
                except RuntimeError as exc:
                    print(f"{name:<12} {'-':<30} {side:<6} {exc}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
