"""Report generation at scale: a synthetic 1,000-run sweep with 200 history points per run.

Times the path a second `sweepkit report` takes on a finished W&B sweep: load the tidy tables
from the disk cache (no network: the Api object refuses every call), build_report
(statistics, takeaways), then write every output (runs.csv, history.csv, report.json,
report.html with plotly, report.md with matplotlib PNGs). Prints times; asserts nothing.
Target: <= 10 s on 2 cores.

    python -m benchmarks.report_scale [--runs 1000] [--steps 200] [--repeat 1]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    from agent.backends.base import SweepInfo
    from agent.backends.wandb import WandbBackend
    from analysis.build import build_report
    from analysis.report import write_outputs
    from analysis.sources import RunSource
    from tests.synthetic import scale_sweep

    t = time.perf_counter()
    runs, hist, cfg = scale_sweep(args.runs, args.steps)
    print(
        f"synthesised {len(runs)} runs, {len(hist):,} history rows "
        f"({hist.metric.nunique()} metrics x {args.steps} steps) in {time.perf_counter() - t:.2f} s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = "bench/report-scale/sweep1000"
        offline = WandbBackend(api=_NoNetwork())
        info = SweepInfo(id="sweep1000", backend="wandb", config=cfg, state="finished", path=path)
        RunSource(offline, path, cache_dir=tmp)._write_cache(
            {"sweep": info.to_json(), "complete": True, "records": _records(runs, cfg), "runs": {}}, hist
        )
        for rep in range(args.repeat):
            out = Path(tmp) / f"out{rep}"
            times = {}
            t0 = time.perf_counter()
            src = RunSource(offline, path, cache_dir=tmp)
            r, h = src.runs_table(), src.history_table()
            times["load from cache"] = time.perf_counter() - t0
            t = time.perf_counter()
            d = build_report(r, h, src.sweep_info().config, sweep_id="sweep1000")
            times["build_report"] = time.perf_counter() - t
            t = time.perf_counter()
            paths = write_outputs(d, r, h, out)
            times["write outputs"] = time.perf_counter() - t
            total = time.perf_counter() - t0
            sizes = {k: p.stat().st_size / 1e6 for k, p in paths.items()}
            print(
                f"\nrun {rep + 1}: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
                + f"  | total {total:.2f} s (target <= 10 s)"
            )
            print("  outputs (MB): " + ", ".join(f"{k} {v:.1f}" for k, v in sizes.items()))
            print(
                f"  {d.counts['usable']} usable runs, {len(d.cells)} config cells, "
                f"{d.comparisons[0].n_pairs if d.comparisons else 0} matched pairs"
            )
            print(f"  takeaway: {d.takeaways['comparison']}")


if __name__ == "__main__":
    main()
