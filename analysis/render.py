"""ReportData -> files: report.json, runs.csv, history.csv, report.html (self-contained), report.md."""

from __future__ import annotations

import functools
import html
import json
import math
import re
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from analysis import figures as figs
from analysis import pngs
from analysis.data import ReportData
from analysis.files import jsonable, script_json, write_atomic
from analysis.live import run_page_path

TEMPLATES = Path(__file__).parent / "templates"
CELL_STATS = ("mean", "std", "low", "high", "seeds")
MAX_TABLE_ROWS = 200


def report_json(d: ReportData) -> dict:
    return jsonable(
        {
            "sweep_id": d.sweep_id,
            "metric": d.metric,
            "goal": "maximize" if d.maximize else "minimize",
            "method": d.method,
            "compare": d.compare,
            "seed_key": d.seed_key,
            "params": d.params,
            "models": d.models,
            "counts": d.counts,
            "messages": d.messages,
            "caveats": d.caveats,
            "scale": {
                "factor": d.scale.factor,
                "unit": d.scale.unit,
                "note": "values here are raw; the report shows value x factor",
            },
            "takeaways": d.takeaways,
            "leaderboard": d.leaderboard,
            "per_model": d.per_model,
            "cells": d.cells,
            "comparisons": d.comparisons,
            "heatmaps": {
                m: {
                    "rows_key": d.heatmap_axes[1],
                    "cols_key": d.heatmap_axes[0],
                    "rows": list(h.index),
                    "cols": list(h.columns),
                    "values": h.to_numpy(dtype=float).tolist(),
                }
                for m, h in d.heatmaps.items()
            }
            if d.heatmap_axes
            else {},
            "curves": d.curves,
            "evp": d.evp,
            "evp_time": {"unit": d.hours_unit, "curves": d.evp_time},
            "cost": {"unit": d.hours_unit, "configs": d.config_costs},
            "retest": d.retest.to_json() if d.retest is not None else None,
            "importance": d.importance,
            "failures": d.failures,
            "system": d.system,
        }
    )


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_escape(v: Any) -> str:
    """Table-cell safe for GitHub markdown: no HTML, no pipes, no links, one line."""
    s = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    s = html.escape(s.replace("\r", " ").replace("\n", " "), quote=True)
    return _MD_SPECIAL.sub(r"\\\1", s)


def safe_url(u: Any) -> str | None:
    """Only http(s) links: a run-supplied `javascript:` URL must not become a link."""
    return u if isinstance(u, str) and re.match(r"^https?://[^\s\"'<>]+$", u) else None


def fmt_num(v: Any, scale_factor: float | None = None) -> str:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "n/a"
        if scale_factor:
            v = v * scale_factor
        return f"{v:.4g}" if (abs(v) < 1e-2 or abs(v) >= 1e5) and v != 0 else f"{v:,.3f}".rstrip("0").rstrip(".")
    return str(v)


@functools.lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    """One environment per process, so each template is compiled once (it reloads when edited)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "html.j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_escape
    env.filters["num"] = fmt_num
    env.filters["safe_url"] = safe_url
    return env


def _table(df: pd.DataFrame, limit: int = MAX_TABLE_ROWS) -> dict:
    shown = df.head(limit)
    return {"columns": list(shown.columns), "rows": shown.to_dict(orient="records"), "more": max(0, len(df) - limit)}


def _per_model_rows(d: ReportData) -> list[dict]:
    f = d.scale.factor
    rows = []
    for pm in d.per_model:
        bc, c = pm["best_config"] or {}, pm["cost"]
        low, high = bc.get("low"), bc.get("high")
        rows.append(
            {
                "model": pm["model"],
                "runs": pm["runs"],
                "best run": pm["best_run"]["name"],
                "best value": pm["best_run"]["value"] * f,
                "best config": ", ".join(f"{k}={v}" for k, v in bc.items() if k not in CELL_STATS and k != d.compare),
                "best config mean": bc.get("mean", np.nan) * f,
                "95% CI": "n/a (one seed)" if low is None else f"{fmt_num(low * f)} to {fmt_num(high * f)}",
                "seeds": bc.get("seeds"),
                f"{d.hours_unit}/trial": c["hours"],
                "wall s/trial": c["wall_s"],
                "samples/s": c["throughput"],
                "parameters": int(c["num_parameters"]) if c["num_parameters"] else None,
                "peak GPU MB": c["peak_gpu_memory_mb"],
            }
        )
    return rows


def _comparison_rows(d: ReportData) -> list[dict]:
    f = d.scale.factor
    return [
        {
            "a": c.a,
            "b": c.b,
            "mean": c.mean * f,
            "low": None if c.low is None else c.low * f,
            "high": None if c.high is None else c.high * f,
            "pairs": c.n_pairs,
            "p": c.p_value,
            "sign_flip_p": c.sign_flip_p,
            "significant": c.significant,
            "detectable": None if c.detectable is None else c.detectable * f,
            "seeds_needed": c.seeds_needed,
            "underpowered": c.underpowered,
            "note": c.note,
            "method": c.method,
        }
        for c in d.comparisons
    ]


def retest_context(d: ReportData) -> dict | None:
    """The re-test table, scaled for display; None without a re-test."""
    if d.retest is None:
        return None
    f = d.scale.factor

    def sc(v):
        return None if v is None else v * f

    rows = [
        {
            "sweep rank": r.sweep_rank,
            "config": r.label,
            "sweep best": sc(r.sweep_best),
            "sweep runs": r.sweep_runs,
            "re-test mean": sc(r.mean),
            "95% CI": "n/a" if r.low is None else f"{fmt_num(r.low * f)} to {fmt_num(r.high * f)}",
            "seeds": r.seeds,
            "optimism": sc(r.optimism),
            "optimism 95% CI": "n/a"
            if r.optimism_low is None
            else f"{fmt_num(r.optimism_low * f)} to {fmt_num(r.optimism_high * f)}",
            "re-test rank": r.retest_rank,
        }
        for r in d.retest.rows
    ]
    return {
        "id": d.retest.retest_id,
        "table": _table(pd.DataFrame(rows)),
        "messages": d.retest.messages,
        "method": d.retest.method,
    }


def _scaled(df: pd.DataFrame, cols, factor: float) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        if c in out:
            out[c] = out[c] * factor
    return out


def _context(d: ReportData) -> dict:
    lb = d.leaderboard.copy()
    lb[d.metric] = lb[d.metric] * d.scale.factor
    lb["page"] = [run_page_path(str(r)) for r in lb["run_id"]]
    costs = _scaled(d.config_costs, ("mean", "std", "low", "high"), d.scale.factor).rename(
        columns={
            "hours": f"{d.hours_unit}/trial",
            "wall_s": "wall s/trial",
            "throughput": "samples/s",
            "num_parameters": "parameters",
            "peak_gpu_memory_mb": "peak GPU MB",
        }
    )
    if "pareto" in costs:
        costs["pareto"] = costs["pareto"].map({True: "yes", False: ""})
    return {
        "d": d,
        "per_model": _table(pd.DataFrame(_per_model_rows(d))),
        "comparisons": _comparison_rows(d),
        "cells": _table(_scaled(d.cells, ("mean", "std", "low", "high"), d.scale.factor)),
        "costs": _table(costs),
        "leaderboard": lb.to_dict(orient="records"),
        "lb_columns": [c for c in lb.columns if c not in ("run_id", "url", "name", "page")],
        "failures": _table(d.failures),
        "goal": "maximize" if d.maximize else "minimize",
        "figure_titles": {k: t for k, t, _ in figs.FIGURES},
        "retest": retest_context(d),
    }


def write_html(d: ReportData | None, path: Path, live: dict, waiting: str = "") -> list[str]:
    """report.html: the progress section (from `live`) and, once there is something to report, the report."""
    from plotly.offline import get_plotlyjs

    built = figs.build_figures(d) if d is not None else []
    context = _context(d) if d is not None else {"d": None}
    html_text = (
        env()
        .get_template("report.html.j2")
        .render(
            **context,
            sweep_id=live["sweep"],
            live=live,
            live_json=script_json(live),
            waiting=waiting,
            figures=[(k, t) for k, t, _ in built],
            payload=figs.figure_payload(built),
            plotlyjs=get_plotlyjs(),
        )
    )
    write_atomic(path, html_text)
    return [k for k, _, _ in built]


def template_stamp(name: str) -> str:
    """Changes when the template (or sweepkit) does: what a cached page was drawn with."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("sweepkit")
    except PackageNotFoundError:
        v = "dev"
    text = (Path(__file__).parent / "templates" / name).read_bytes()
    return f"{v}:{hashlib.sha256(text).hexdigest()[:16]}"


def write_plotly_asset(out: Path) -> Path:
    """assets/plotly.min.js, which the run pages load (once per folder, not once per page)."""
    from plotly.offline import get_plotlyjs

    path = out / "assets" / "plotly.min.js"
    if not path.exists():
        write_atomic(path, get_plotlyjs())
    return path


def write_md(d: ReportData, path: Path, images: dict[str, str] | None = None) -> dict[str, str]:
    """report.md and its figures (`images`: figures already drawn from the same numbers, kept)."""
    images = pngs.write_pngs(d, path.parent) if images is None else images
    write_atomic(path, env().get_template("report.md.j2").render(**_context(d), images=images))
    return images


def write_tables(
    runs: pd.DataFrame, history: pd.DataFrame, out: Path, *, keep_history: bool = False
) -> tuple[Path, Path]:
    from analysis.tidy import sanitize_runs

    rp, hp = out / "runs.csv", out / "history.csv"
    write_atomic(rp, spreadsheet_safe(sanitize_runs(runs)).to_csv(index=False))
    if not keep_history:
        write_atomic(hp, _csv_bytes(spreadsheet_safe(history)))
    return rp, hp


def _csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV through Arrow's writer: ten times pandas' speed on millions of history rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), sink)
    return sink.getvalue().to_pybytes()


def spreadsheet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading quote."""
    out = df
    for c in df.columns:
        if not (pd.api.types.is_object_dtype(df[c]) or pd.api.types.is_string_dtype(df[c])):
            continue
        bad = {v for v in df[c].dropna().unique() if isinstance(v, str) and v[:1] in ("=", "+", "-", "@")}
        if bad:  # looked up among the distinct values: millions of history rows hold a few metric names
            out = out.copy() if out is df else out
            out[c] = df[c].map(lambda v, bad=bad: f"'{v}" if v in bad else v)
    return out


def write_json(d: ReportData, path: Path) -> str:
    text = json.dumps(report_json(d), indent=1, allow_nan=False, default=str)
    write_atomic(path, text)
    return text
