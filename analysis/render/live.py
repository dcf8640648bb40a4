"""The sweep's live state: counts, every run (running ones too) and the progress figures, as one payload.

`report --watch` writes it as `live.js` (`window.__skLive({...})`) next to report.html; the page
re-inserts that script every few seconds, which works over file:// with no server, and redraws its
progress section in place, so the reader keeps their scroll position. Run-derived strings travel
as JSON data and are shown with textContent, never as markup.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agent.paths import run_page
from agent.states import RunState, count_states
from agent.sweep_config.metric import best, is_better
from analysis.render.cells import cell
from analysis.render.files import jsonable, write_atomic
from analysis.render.style import MAX_CURVE_POINTS, PALETTE
from analysis.tables.sweep import default_compare, sweep_params, varying

MAX_CURVES = 200  # runs drawn in the live curves figure
LAYOUT: dict[str, Any] = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 30, "b": 45}, "height": 340}
Row = dict[str, Any]  # one run in the payload (see `_run_rows`)
Curve = tuple[list[float], list[float]]


def _when(stamp: Any) -> float | None:
    if not stamp:
        return None
    try:
        t = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _thin(x: np.ndarray, y: np.ndarray) -> Curve:
    if len(x) > MAX_CURVE_POINTS:  # more points than the figure has pixels for: thin evenly, keep the last
        i = np.unique(np.linspace(0, len(x) - 1, MAX_CURVE_POINTS).astype(int))
        x, y = x[i], y[i]
    return x.tolist(), y.tolist()


def _latest(hist: pd.DataFrame, metric: str | None) -> dict[str, float]:
    """Each run's last logged value of the metric, by step (what a running run shows)."""
    rows = hist[hist["metric"] == metric] if metric else hist.iloc[:0]
    if not len(rows):
        return {}
    return {str(k): v for k, v in rows.sort_values("step").groupby("run_id")["value"].last().items()}


def _run_rows(
    runs: pd.DataFrame, hist: pd.DataFrame, metric: str | None, varied: list[str], compare: str | None, now: float
) -> list[Row]:
    """One row per run: its state, page, varied parameters, value (latest while running), age and times."""
    starts = [_when(v) for v in runs["created_at"]] if len(runs) else []
    t0 = min((t for t in starts if t), default=now)
    latest = _latest(hist, metric)
    table = []
    for i, row in enumerate(runs.to_dict(orient="records")):
        rid, state, runtime = str(row["run_id"]), str(row["state"]), _num(row.get("runtime_s"))
        final_value = _num(row.get(metric)) if metric else None
        value = final_value if state != RunState.RUNNING and final_value is not None else _num(latest.get(rid))
        start = starts[i]
        end = _when(row.get("ended_at")) or ((start + runtime) if start and runtime else None)
        elapsed = (now - start) if state == RunState.RUNNING and start else runtime
        at = now if state == RunState.RUNNING else end
        table.append(
            {
                "id": rid,
                "state": state,
                "page": run_page(rid),
                "params": {p: cell(row.get(p)) for p in varied},
                "value": value,
                "elapsed_s": round(elapsed, 1) if elapsed is not None else None,
                "reason": cell(row.get("reason")),
                "model": cell(row.get(compare)) if compare else None,
                "trial": i,
                "t": (at - t0) / 60 if at else None,
            }
        )
    return table


def payload(
    sweep_id: str,
    config: dict[str, Any],
    runs: pd.DataFrame,
    hist: pd.DataFrame,
    *,
    every: float = 0,
    stamp: str = "",
    watch: bool = False,
    final: bool = True,
    now: float | None = None,
    curve_cache: dict[str, Any] | None = None,
    state: str = "",
) -> dict[str, Any]:
    """Everything the page's progress section shows, from the two tidy tables, as plain JSON-able data."""
    now = time.time() if now is None else now
    metric_cfg = config.get("metric") or {}
    metric = metric_cfg.get("name")
    params = [p for p in sweep_params(config) if p in runs.columns]
    varied = varying(runs, params) if len(runs) else []
    compare = default_compare(params, runs) if len(runs) else None
    table = _run_rows(runs, hist, metric, varied, compare, now)
    by_state = count_states(r["state"] for r in table)
    counts = {s.value: by_state[s] for s in RunState if by_state[s]}  # each state as itself, in one order
    finished = [r for r in table if r["state"] == RunState.FINISHED and r["value"] is not None]
    top = best(finished, lambda r: r["value"], metric_cfg)
    return {
        "sweep": sweep_id,
        "state": state,  # the state a person set on the sweep (paused, stopped, cancelled), else ""
        "metric": metric,
        "goal": "maximize" if metric_cfg.get("goal") == "maximize" else "minimize",
        "updated": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "stamp": stamp,
        "watch": watch,
        "final": final,
        "every": every,
        "counts": counts,
        "total": len(table),
        "columns": varied,
        "best": {"run": top["id"], "value": top["value"]} if top else None,
        "runs": table,
        "figures": figures(table, metric, metric_cfg, hist, compare, curve_cache) if metric else {},
    }


def _best_so_far(points: list[tuple[float, float]], metric_cfg: dict[str, Any]) -> tuple[list[float], list[Any]]:
    xs: list[float] = []
    ys: list[Any] = []
    cur = None
    for x, y in sorted(points):
        if is_better(y, cur, metric_cfg):
            cur = y
        xs.append(x)
        ys.append(cur)
    return xs, ys


def _scatter(x: list[Any], y: list[Any], name: str, color: str, **kw: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "x": x,
        "y": y,
        "name": name,
        "mode": "markers",
        "marker": {"color": color, "size": 7},
        **kw,
    }


def _progress_figure(
    table: list[Row], axis: str, title: str, metric: str, metric_cfg: dict[str, Any]
) -> dict[str, Any] | None:
    """The metric of each finished run and the latest of each running one against `axis`, with the best so
    far; None while no run has both."""
    done = [r for r in table if r["state"] == RunState.FINISHED and r["value"] is not None and r[axis] is not None]
    live = [r for r in table if r["state"] == RunState.RUNNING and r["value"] is not None and r[axis] is not None]
    if not done and not live:
        return None  # no run has a time (or a value) yet: no figure rather than an empty one
    bx, by = _best_so_far([(r[axis], r["value"]) for r in done], metric_cfg)
    data = [
        _scatter(
            [r[axis] for r in done],
            [r["value"] for r in done],
            RunState.FINISHED.value,
            PALETTE[0],
            text=[r["id"] for r in done],
        ),
        _scatter(
            [r[axis] for r in live],
            [r["value"] for r in live],
            "running (latest)",
            PALETTE[1],
            text=[r["id"] for r in live],
            marker={"color": PALETTE[1], "size": 8, "symbol": "circle-open"},
        ),
        {
            "type": "scatter",
            "x": bx,
            "y": by,
            "name": "best so far",
            "mode": "lines",
            "line": {"shape": "hv", "color": "#444"},
        },
    ]
    return {
        "data": data,
        "layout": {**LAYOUT, "xaxis": {"title": {"text": title}}, "yaxis": {"title": {"text": metric}}},
    }


def _curves_figure(
    table: list[Row],
    metric: str,
    metric_cfg: dict[str, Any],
    hist: pd.DataFrame,
    compare: str | None,
    curve_cache: dict[str, Any] | None,
) -> dict[str, Any]:
    """Each run's curve of the metric, coloured by model (the running and best MAX_CURVES of them)."""
    models = sorted({r["model"] for r in table if r["model"] is not None}, key=str)
    color = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    rows = hist[hist["metric"] == metric]
    has_rows = set(rows["run_id"].unique()) if len(rows) else set()
    drawn = _curve_runs([r for r in table if r["id"] in has_rows], metric_cfg)
    points = run_curves(rows[rows["run_id"].isin({r["id"] for r in drawn})], metric, curve_cache)
    curves, shown = [], set()
    for r in drawn:
        x, y = points[r["id"]]
        model = r["model"]
        curves.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "y": y,
                "name": str(model) if model else "run",
                "legendgroup": str(model),
                "showlegend": model not in shown,
                "hovertext": r["id"],
                "line": {
                    "color": color.get(model, PALETTE[0]),
                    "width": 1.4,
                    "dash": "dot" if r["state"] == RunState.RUNNING else "solid",
                },
                "opacity": 0.9 if r["state"] in (RunState.RUNNING, RunState.FINISHED) else 0.4,
            }
        )
        shown.add(model)
    layout = {
        **LAYOUT,
        "xaxis": {"title": {"text": "step"}},
        "yaxis": {"title": {"text": f"{metric}, per run" + (f" (colour: {compare})" if compare else "")}},
    }
    if len(drawn) < len(has_rows):
        layout["title"] = {
            "text": f"{len(drawn)} of {len(has_rows):,} runs: the running, then the best",
            "font": {"size": 12},
        }
    return {"data": curves, "layout": layout}


def figures(
    table: list[Row],
    metric: str,
    metric_cfg: dict[str, Any],
    hist: pd.DataFrame,
    compare: str | None,
    curve_cache: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metric against time and against trial number (with the best so far), and each run's curve by model."""
    out = {}
    for key, axis, title in (
        ("progress_time", "t", "minutes since the sweep started"),
        ("progress_trial", "trial", "trial number"),
    ):
        fig = _progress_figure(table, axis, title, metric, metric_cfg)
        if fig is not None:
            out[key] = fig
    out["curves"] = _curves_figure(table, metric, metric_cfg, hist, compare, curve_cache)
    return out


def _curve_runs(table: list[Row], metric_cfg: dict[str, Any]) -> list[Row]:
    """The runs whose curves are drawn: all of them up to MAX_CURVES; past that the running ones, then
    the finished by value, best first (thousands of lines are one blot, and megabytes of page)."""
    if len(table) <= MAX_CURVES:
        return table
    sign = -1.0 if metric_cfg.get("goal") == "maximize" else 1.0
    running = [r for r in table if r["state"] == RunState.RUNNING]
    rest = sorted(
        (r for r in table if r["state"] != RunState.RUNNING),
        key=lambda r: (r["value"] is None, sign * (r["value"] or 0.0)),
    )
    return (running + rest)[:MAX_CURVES]


def run_curves(hist: pd.DataFrame, metric: str, cache: dict[str, Any] | None = None) -> dict[str, Curve]:
    """Each run's thinned (step, value) curve of the metric; `cache` keeps those of runs whose rows did not
    change since the last call (keyed by the run's row count and last row)."""
    rows = hist[hist["metric"] == metric]
    out: dict[str, Curve] = {}
    if rows.empty:
        return out
    for run_id, h in rows.groupby("run_id", sort=False):
        rid = str(run_id)
        key = (len(h), float(h["step"].iloc[-1]), float(h["value"].iloc[-1]))
        if cache is not None and cache.get(rid, (None,))[0] == key:
            out[rid] = cache[rid][1]
            continue
        h = h.sort_values("step")
        out[rid] = _thin(h["step"].to_numpy(), h["value"].to_numpy())
        if cache is not None:
            cache[rid] = (key, out[rid])
    return out


def live_js(data: dict[str, Any]) -> str:
    """The payload as a script the page can load over file://."""
    try:  # the payload is plain Python already; the slow walk only when a NaN or a numpy value slipped in
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(jsonable(data), allow_nan=False, default=str)
    return f"window.__skLive && window.__skLive({text});\n"


def write_live(out_dir: str | Path, data: dict[str, Any]) -> Path:
    path = Path(out_dir) / "live.js"
    write_atomic(path, live_js(data))
    return path
