"""Hostile and huge sweep input through the real CLI: exit code, seconds and peak memory per case.

Each case is written to a temporary folder and run through `sweepkit validate FILE` and
`sweepkit sweep FILE` (and, for the id cases, `sweepkit status ID --backend local`) as child
processes. Peak memory is the child's own maximum RSS (`os.wait4`), so cases never mix. Each child
runs under a memory cap (RLIMIT_AS) and a time limit, so that an unbounded parse on old code
ends as a MemoryError or a timeout instead of taking the machine down; a timeout prints `timeout`.

Before and after: `--before DIR` runs each case first on another source tree (e.g. `git archive
<commit> | tar -x -C DIR`) with this venv, then on this one, so both sides meet the same load.

    python -m benchmarks.hostile_input [--before DIR] [--timeout 120] [--mem-cap-mb 3072] [--cases a,b]

Cases: real (sweeps/bert_vs_distilbert.yaml: what the CLI itself costs), bomb (10 levels of 10
aliases, 10^10 nodes once expanded), deep (60,000 nested flow lists), huge (a 20 MB grid YAML of
2.6 million points), big_ok (a 100,000-point grid given as 5 lists of 10 values, allowed with
SWEEPKIT_MAX_GRID=100000), list_ok (the same 100,000 points as one list of 100,000 values),
default_ok (a 10,000-point grid: the default bound), at_bound (a list of 199,980 ones: the most
nodes a file may hold), and id_parent / id_abs (`status ../../victim/sweeps/ID --backend local`
and the absolute path, with a real sweep planted there; the row says how many of the victim's
files the command opened).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAD = "program: train.py\nmethod: grid\n"


def bomb_yaml(levels: int = 10, fan: int = 10) -> str:
    """Billion laughs as grid values: value i is a list of `fan` aliases of value i-1."""
    items = ["&a0 [lol]"] + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels)]
    return HEAD + "parameters:\n  x:\n    values:\n" + "".join(f"      - {item}\n" for item in items)


def deep_yaml(depth: int = 60_000) -> str:
    return HEAD + "parameters:\n  x:\n    value: " + "[" * depth + "]" * depth + "\n"


def list_grid_yaml(points: int) -> str:
    return HEAD + "parameters:\n  x:\n    values: [" + ",".join(str(i) for i in range(points)) + "]\n"


def product_grid_yaml(lists: int, each: int) -> str:
    params = "".join(f"  p{i}:\n    values: [{', '.join(str(v) for v in range(each))}]\n" for i in range(lists))
    return HEAD + "parameters:\n" + params


def plant_sweep(home: Path, src: Path) -> str:
    """A real local sweep in `home` (the victim), made with the CLI; its id."""
    (home / "victim.yaml").write_text(HEAD + "parameters:\n  x:\n    values: [1, 2]\n")
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "sweep", str(home / "victim.yaml")],
        cwd=src,
        env={**os.environ, "SWEEPKIT_HOME": str(home), "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


# `python -m agent.cli ARGV`, telling on stderr of each file it opens under WATCH (an audit hook).
WATCHED_CLI = """
import os, runpy, sys
watch, seen = sys.argv.pop(1), set()
def hook(event, args):
    if event == "open" and args and isinstance(args[0], str) and args[0] not in seen:
        seen.add(args[0])
        if os.path.realpath(args[0]).startswith(watch):
            os.write(2, f"opened {args[0]}\\n".encode())
sys.addaudithook(hook)
runpy.run_module("agent.cli", run_name="__main__", alter_sys=True)
"""


def run(
    argv: list[str],
    *,
    src: Path,
    env: dict[str, str],
    timeout: float,
    mem_cap: int,
    watch: Path | None = None,
    signal_when: tuple[Callable[[], object], int] | None = None,
    code: str | None = None,
) -> dict:
    """One child: exit code (or 'timeout'), wall seconds, peak RSS in MB, its last stderr line, how
    many files under `watch` it opened, and its whole stdout and stderr. `signal_when` (ready, sig):
    sends sig to the child once ready() is true (polled every 50 ms while it runs). `code`: run
    `python -c code ARGV` in place of the CLI."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_cap, mem_cap))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        cli = ["-c", WATCHED_CLI, str(watch.resolve())] if watch else ["-c", code] if code else ["-m", "agent.cli"]
        proc = subprocess.Popen(
            [sys.executable, *cli, *argv],
            cwd=src,
            env=env,
            stdout=out,
            stderr=err,
            preexec_fn=limit,
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        ended = threading.Event()
        if signal_when:
            threading.Thread(target=send_when, args=(proc.pid, ended, *signal_when), daemon=True).start()
        _, status, usage = os.wait4(proc.pid, 0)
        ended.set()
        secs = time.perf_counter() - start
        timed_out = not timer.is_alive()
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
    opened = [ln for ln in lines if ln.startswith("opened ")]
    lines = [ln for ln in lines if not ln.startswith("opened ")]
    return {
        "opened": len(opened),
        "rc": "timeout" if timed_out else proc.returncode,
        "s": secs,
        "rss_mb": usage.ru_maxrss / 1024,
        "last": (lines[-1] if lines else "")[:150],
        "out": stdout,
        "err": stderr,
    }


def send_when(pid: int, ended: threading.Event, ready: Callable[[], object], sig: int) -> None:
    """os.kill, not Popen.send_signal or poll: those may reap the child before os.wait4 reads its usage."""
    while not ended.wait(0.05):
        if ready():
            os.kill(pid, sig)
            return


YAML_CASES: dict[str, tuple[Callable[[], str], dict[str, str], tuple[str, ...]]] = {
    "real": (lambda: (ROOT / "sweeps" / "bert_vs_distilbert.yaml").read_text(), {}, ("validate",)),  # the baseline
    "bomb": (bomb_yaml, {}, ("validate", "sweep")),
    "deep": (deep_yaml, {}, ("validate", "sweep")),
    "huge": (lambda: list_grid_yaml(2_600_000), {}, ("validate", "sweep")),
    "big_ok": (lambda: product_grid_yaml(5, 10), {"SWEEPKIT_MAX_GRID": "100000"}, ("validate", "sweep")),
    "list_ok": (lambda: list_grid_yaml(100_000), {"SWEEPKIT_MAX_GRID": "100000"}, ("validate", "sweep")),
    "default_ok": (lambda: product_grid_yaml(4, 10), {}, ("validate", "sweep")),
    # the most nodes a file may hold: a list of 199,980 ones, just under 200,000 nodes in all
    "at_bound": (
        lambda: HEAD + "parameters:\n  x:\n    values: [" + ",".join(["1"] * 199_980) + "]\n",
        {},
        ("validate",),
    ),
}
ID_CASES = ("id_parent", "id_abs")


def run_case(case: str, side: str, src: Path, work: Path, args: argparse.Namespace) -> None:
    """One case on one source tree, in a store of its own; one printed row per command."""
    home = work / case / side / "home"
    home.mkdir(parents=True)
    env = {**os.environ, "SWEEPKIT_HOME": str(home), "PYTHONPATH": str(src), "WANDB_MODE": "offline"}
    env.pop("SWEEPKIT_STORAGE", None)
    victim = None
    if case in YAML_CASES:
        make, extra, names = YAML_CASES[case]
        env.update(extra)
        path = work / case / f"{case}.yaml"
        if not path.exists():
            path.write_text(make())
        size = f"{path.stat().st_size / 1e6:.2f}"
        commands = [[name, str(path)] for name in names]
    else:
        victim = work / case / side / "victim"
        victim.mkdir()
        (home / "sweeps").mkdir()  # a store in use, so that `sweeps/../..` resolves
        target = victim / "sweeps" / plant_sweep(victim, src)
        sweep_id = os.path.relpath(target, home / "sweeps") if case == "id_parent" else str(target)
        size = "-"
        commands = [["status", sweep_id, "--backend", "local"]]
    for argv in commands:
        r = run(argv, src=src, env=env, timeout=args.timeout, mem_cap=args.mem_cap_mb * 2**20, watch=victim)
        left = len(list((home / "sweeps").glob("*/sweep.yaml")))
        note = f"[opened {r['opened']} victim file(s)] " if victim else ""
        print(
            f"{case:<11} {argv[0]:<9} {side:<6} {size:>6} {r['rc']!s:>7} {r['s']:>7.2f} {r['rss_mb']:>8.0f}  "
            f"{left:>5}  {note}{r['last']}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=ROOT, help="the source tree to measure (default: this one)")
    ap.add_argument("--before", type=Path, default=None, help="also run each case on this tree, just before")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per command")
    ap.add_argument("--mem-cap-mb", type=int, default=3072, help="address-space cap per command")
    ap.add_argument("--cases", default=",".join([*YAML_CASES, *ID_CASES]))
    args = ap.parse_args()
    sides = ([("before", args.before.resolve())] if args.before else []) + [("after", args.src.resolve())]
    print("\n".join(f"{side}: {src}" for side, src in sides))
    header = f"{'case':<11} {'command':<9} {'side':<6} {'MB in':>6} {'exit':>7} {'s':>7} {'peak MB':>8}"
    print(f"\n{header}  swept  last stderr line (sweeps left in the store: swept)")
    work = Path(tempfile.mkdtemp(prefix="sk-hostile-"))
    try:
        for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
            for side, src in sides:
                run_case(case, side, src, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
