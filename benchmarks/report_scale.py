"""Report generation at scale: a synthetic sweep of 10,000 runs with 200 history points each.

Times what a second `sweepkit report` does on a finished W&B sweep (`report_from_source`): load
the tidy tables and run data from the disk cache (no network: the Api object refuses every
call), build_report (statistics, takeaways), write every output (runs.csv, history.csv,
report.json, report.html with plotly, report.md with matplotlib PNGs) and the run pages. Prints
the times, the peak memory of the process, the size of report.html, and whether headless
Chromium renders every figure of it. Asserts nothing. Targets: <= 15 s, <= 3 GB, <= 20 MB.

    python -m benchmarks.report_scale [--runs 10000] [--steps 200] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


class _NoNetwork:
    def __getattr__(self, name):
        raise RuntimeError(f"benchmark expected a cache hit, but the report called Api.{name}")


def _records(runs, cfg) -> list[dict]:
    params = list(cfg["parameters"])
    meta = {"run_id", "name", "state", "reason", "runtime_s", "created_at", "url", "tags"}
    out = []
    for row in runs.to_dict(orient="records"):
        out.append(
            {
                "id": row["run_id"],
                "name": row["name"],
                "state": row["state"],
                "config": {p: row[p] for p in params},
                "summary": {k: v for k, v in row.items() if k not in meta and k not in params},
                "runtime_s": row["runtime_s"],
                "reason": None,
                "url": None,
                "created_at": None,
                "tags": [],
            }
        )
    return out


def _seed_cache(src, info, records: list[dict], hist) -> None:
    """What a first report of a finished sweep leaves in the cache (meta.json + history.parquet)."""
    import json

    from analysis.tables.sources import by_run_order

    for r in records:
        r["data_key"] = "final"
    src.dir.mkdir(parents=True, exist_ok=True)
    by_run_order(hist).to_parquet(src.dir / "history.parquet", index=False)  # as write_cache stores it
    meta = {
        "sweep": info.to_json(),
        "complete": True,
        "records": records,
        "runs": {r["id"]: {"data_key": "final", "summary": r["summary"], "console": []} for r in records},
        "fetched_at": time.time(),
    }
    (src.dir / "meta.json").write_text(json.dumps(meta, default=str))


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _chromium(html: Path, work: Path) -> str:
    """Whether Chromium renders every figure of the page (the page records it on <html>)."""
    import re
    import subprocess

    from tests.helpers import find_chromium

    exe = find_chromium()
    if exe is None:
        return "not checked (no chromium)"
    argv = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--enable-unsafe-swiftshader",
        f"--user-data-dir={work / 'profile'}",
        "--virtual-time-budget=60000",
        "--dump-dom",
        html.resolve().as_uri(),
    ]
    t = time.perf_counter()
    try:
        dom = subprocess.run(argv, capture_output=True, text=True, timeout=300).stdout
    except subprocess.TimeoutExpired:
        return "Chromium did not finish within 300 s"
    took = time.perf_counter() - t
    want = re.search(r'data-figures-expected="(\d+)"', dom)
    got = re.search(r'data-figures-rendered="(\d+)"', dom)
    errors = re.search(r'data-errors="([^"]*)"', dom)
    if not want or not got:
        return f"Chromium returned no rendered page after {took:.0f} s"
    return f"Chromium rendered {got.group(1)} of {want.group(1)} figures in {took:.0f} s" + (
        f"; errors: {errors.group(1)[:200]}" if errors and errors.group(1) else ""
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()

    from agent.backends.base import SweepInfo
    from agent.backends.wandb import WandbBackend
    from analysis.commands.report import report_from_source
    from analysis.tables.sources import RunSource
    from tests.synthetic import scale_sweep

    t = time.perf_counter()
    runs, hist, cfg = scale_sweep(args.runs, args.steps)
    print(
        f"synthesised {len(runs):,} runs, {len(hist):,} history rows "
        f"({hist.metric.nunique()} metrics x {args.steps} steps) in {time.perf_counter() - t:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = "bench/report-scale/sweep"
        offline = WandbBackend(api=_NoNetwork())
        info = SweepInfo(id="sweep", backend="wandb", config=cfg, state="finished", path=path)
        _seed_cache(RunSource(offline, path, cache_dir=tmp), info, _records(runs, cfg), hist)
        del runs, hist
        base = _peak_mb()
        out = Path(tmp) / "out"
        t0 = time.perf_counter()
        res = report_from_source(RunSource(offline, path, cache_dir=tmp), path, out_dir=out)
        total = time.perf_counter() - t0
        sizes = {p.name: p.stat().st_size / 1e6 for p in out.iterdir() if p.is_file()}
        pages = list((out / "runs").glob("*.html"))
        print(
            f"first report from the cache, into a new folder (all {args.runs:,} run pages drawn): {total:.1f} s; "
            f"peak memory {_peak_mb():,.0f} MB "
            f"(target <= 3,000 MB; {base:,.0f} MB before the report, synthesis included)"
        )
        print(
            f"report.html {sizes['report.html']:.1f} MB (target <= 20 MB); "
            + ", ".join(f"{k} {v:.1f} MB" for k, v in sorted(sizes.items()) if k != "report.html")
        )
        print(f"{len(pages):,} run pages, {sum(p.stat().st_size for p in pages) / 1e6:.0f} MB")
        print(f"{res.data.counts['usable']:,} usable runs, {len(res.data.cells)} config cells")
        t0 = time.perf_counter()
        again = report_from_source(RunSource(offline, path, cache_dir=tmp), path, out_dir=out)
        print(
            f"the report again, from the cache into its folder (what `sweepkit report` does the second time): "
            f"{time.perf_counter() - t0:.1f} s (target <= 15 s); peak memory {_peak_mb():,.0f} MB"
        )
        if not args.no_browser:
            print(_chromium(again.html, Path(tmp)))


if __name__ == "__main__":
    main()
