"""ReportData -> the report's documents: report.json (every number), report.html (self-contained), report.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.render import figures as figs
from analysis.render import pngs
from analysis.render.context import report_context
from analysis.render.files import jsonable, script_json, write_atomic
from analysis.render.templating import env
from analysis.report.data import ReportData


def report_json(d: ReportData) -> Any:
    """Every number and sentence of the report as plain JSON (values unscaled; `scale` says how to show them)."""
    return jsonable(
        {
            "sweep_id": d.sweep_id,
            "metric": d.metric,
            "goal": "maximize" if d.maximize else "minimize",
            "method": d.method,
            "sweep_state": d.sweep_state or None,
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
            "bounds": {"low": d.bounds[0], "high": d.bounds[1], "intervals": d.interval_note},
            "band_min_seeds": d.band_min_seeds,
            "model_means": d.model_means,
            "points": d.points,
            "leaderboard": d.leaderboard,
            "per_model": d.per_model,
            "cells": d.cells,
            "comparisons": d.comparisons,
            "heatmaps": _heatmaps_json(d),
            "curves": d.curves,
            "curve_seeds": d.curve_seeds,
            "evp": d.evp,
            "evp_time": {"unit": d.hours_unit, "curves": d.evp_time},
            "cost": {"unit": d.hours_unit, "configs": d.config_costs},
            "retest": d.retest.to_json() if d.retest is not None else None,
            "importance": d.importance,
            "levels": d.levels,
            "log_params": d.log_params,
            "failures": d.failures,
            "system": d.system,
        }
    )


def _heatmaps_json(d: ReportData) -> dict[str, Any]:
    if not d.heatmap_axes:
        return {}
    return {
        m: {
            "rows_key": d.heatmap_axes[1],
            "cols_key": d.heatmap_axes[0],
            "rows": list(h.index),
            "cols": list(h.columns),
            "values": h.to_numpy(dtype=float).tolist(),
        }
        for m, h in d.heatmaps.items()
    }


def write_json(d: ReportData, path: Path) -> str:
    text = json.dumps(report_json(d), indent=1, allow_nan=False, default=str)
    write_atomic(path, text)
    return text


def write_html(d: ReportData | None, path: Path, live: dict[str, Any], waiting: str = "") -> list[str]:
    """report.html: the progress section (from `live`) and, once there is something to report, the report."""
    from plotly.offline import get_plotlyjs

    built = figs.build_figures(d) if d is not None else []
    context = report_context(d) if d is not None else {"d": None}
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
    write_atomic(path, env().get_template("report.md.j2").render(**report_context(d), images=images))
    return images
