"""The plotly figures that set the models side by side: the comparison, score against cost, learning curves.

Each shows the seeds themselves where they are too few for an interval (`axes.shows_interval`), and
every axis of the metric stays within what the metric can be (`axes.value_range`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.render.axes import (
    band_edges,
    log_axis,
    model_means,
    scaled_bounds,
    seed_label,
    shows_interval,
    spread,
    value_range,
)
from analysis.render.style import color, rgba
from analysis.report.data import ReportData, fmt_value

LAYOUT: dict[str, Any] = dict(template="plotly_white", margin=dict(l=60, r=20, t=40, b=50), height=380)


def add_band(fig: go.Figure, x: Any, low: Any, high: Any, i: int, name: str, **where: Any) -> None:
    """A shaded band between `low` and `high`, in the `i`-th colour, sharing `name`'s legend entry."""
    fig.add_scatter(
        x=np.concatenate([x, x[::-1]]),
        y=np.concatenate([high, low[::-1]]),
        fill="toself",
        mode="lines",
        fillcolor=rgba(color(i), 0.2),
        line=dict(width=0),
        hoverinfo="skip",
        showlegend=False,
        legendgroup=name,
        **where,
    )


def _hover(p: pd.DataFrame) -> list[str]:
    return [
        f"{r['name']}<br>{r['config']}{'<br>' if r['config'] else ''}{seed_label(r['seed'])}" for _, r in p.iterrows()
    ]


def _model_panel(fig: go.Figure, d: ReportData) -> list[Any]:
    """Left: every run of the shared cells as a dot, each model's mean as a bar-free marker (with its
    interval where seeds allow). Returns the values drawn, for the axis range."""
    f, drawn = d.scale.factor, []
    shared = d.points[d.points["shared"]] if len(d.points) else d.points
    for i, row in enumerate(model_means(d)):
        p = shared[shared["model"] == row.model].sort_values(["seed", "config"])
        x = i + spread(len(p))
        fig.add_scatter(
            x=x,
            y=p["value"] * f,
            mode="markers",
            name=f"{row.model}: runs",
            text=_hover(p),
            hovertemplate="%{text}<br>%{y:.2f}<extra></extra>",
            showlegend=False,
            marker=dict(color=rgba(color(i), 0.55), size=8, line=dict(width=1, color=color(i))),
            row=1,
            col=1,
        )
        err = None
        if row.interval:
            err = dict(
                type="data",
                symmetric=False,
                array=[(row.high - row.mean) * f],
                arrayminus=[(row.mean - row.low) * f],
                thickness=2,
                width=10,
            )
            drawn += [row.low * f, row.high * f]
        fig.add_scatter(
            x=[i],
            y=[row.mean * f],
            mode="markers",
            name=row.model,
            error_y=err,
            showlegend=False,
            marker=dict(symbol="line-ew-open", size=34, color=color(i), line=dict(width=3, color=color(i))),
            hovertemplate=f"{row.model}: mean over {row.cells} cells, %{{y:.2f}}<extra></extra>",
            row=1,
            col=1,
        )
        drawn += list(p["value"] * f) + [row.mean * f]
    names = list(d.model_means["model"])
    fig.update_xaxes(
        tickvals=list(range(len(names))), ticktext=names, range=[-0.6, len(names) - 0.4], zeroline=False, row=1, col=1
    )
    return drawn


def _difference_panel(fig: go.Figure, d: ReportData) -> None:
    """Right: each paired difference with its 95% paired t-interval, against a dashed zero."""
    f = d.scale.factor
    x = [f"{c.a} − {c.b}" for c in d.comparisons]
    mean = [c.mean * f for c in d.comparisons]
    up = [0.0 if c.high is None else (c.high - c.mean) * f for c in d.comparisons]
    down = [0.0 if c.low is None else (c.mean - c.low) * f for c in d.comparisons]
    fig.add_scatter(
        x=x,
        y=mean,
        mode="markers",
        name="paired difference",
        showlegend=False,
        error_y=dict(type="data", symmetric=False, array=up, arrayminus=down, thickness=2, width=10),
        marker=dict(symbol="diamond", size=12, color="#333"),
        hovertemplate="%{x}: %{y:.2f} (95% CI over matched pairs)<extra></extra>",
        row=1,
        col=2,
    )
    fig.add_hline(y=0, line=dict(color="#999", dash="dash"), row=1, col=2)
    ends = [0.0, *(m + u for m, u in zip(mean, up, strict=True)), *(m - w for m, w in zip(mean, down, strict=True))]
    fig.update_yaxes(range=value_range(ends), title_text=f"difference ({d.scale.unit})", row=1, col=2)


def comparison(d: ReportData) -> go.Figure | None:
    """Each model's mean over the cells all models ran, its runs as dots, and beside them the paired
    difference with its interval: the quantity the comparison takeaway states."""
    if d.model_means.empty:
        return None
    two = bool(d.comparisons)
    unit = d.model_means["unit"].iloc[0]
    n = int(d.model_means["n"].min())
    titles = [f"mean over {d.model_means['over'].iloc[0]} ({n} {unit})", "paired difference, 95% CI"]
    fig = make_subplots(
        rows=1,
        cols=2 if two else 1,
        column_widths=[0.62, 0.38] if two else None,
        subplot_titles=titles[: 2 if two else 1],
        horizontal_spacing=0.14,
    )
    drawn = _model_panel(fig, d)
    fig.update_yaxes(
        range=value_range(drawn, scaled_bounds(d)), title_text=f"{d.metric} ({d.scale.unit})", row=1, col=1
    )
    if two:
        _difference_panel(fig, d)
    fig.update_layout(**LAYOUT, showlegend=False)
    return fig


def tradeoff(d: ReportData) -> go.Figure | None:
    """Each config's mean against its cost per trial (its interval where seeds allow, else its runs as
    dots at their own cost), and the Pareto front."""
    cc = d.config_costs
    if cc.empty or "hours" not in cc or cc["hours"].isna().all():
        return None
    fig, f, drawn = go.Figure(), d.scale.factor, []
    groups = list(cc.groupby("model", sort=False)) if "model" in cc else [("configs", cc)]
    keys = [k for k in d.params if k in cc and k != d.compare]
    for i, (key, g) in enumerate(groups):
        m = str(key)
        g = g.dropna(subset=["hours"])
        runs = d.points[(d.points["model"] == m) & d.points["hours"].notna()] if "model" in cc else d.points
        wide = g["count"].map(lambda n: shows_interval(d, n)) if "count" in g else pd.Series(True, index=g.index)
        if (~wide).any() and len(runs):
            fig.add_scatter(
                x=runs["hours"],
                y=runs["value"] * f,
                mode="markers",
                name=f"{m}: runs",
                showlegend=False,
                text=_hover(runs),
                hovertemplate="%{text}<br>%{y:.2f} at %{x:.3g} h<extra></extra>",
                marker=dict(color=rgba(color(i), 0.45), size=6, symbol="circle-open"),
            )
            drawn += list(runs["value"] * f)
        err = dict(
            type="data",
            symmetric=False,
            thickness=1,
            array=((g["high"] - g["mean"]) * f).where(wide, 0).fillna(0),
            arrayminus=((g["mean"] - g["low"]) * f).where(wide, 0).fillna(0),
        )
        drawn += list((g["low"] * f).where(wide)) + list((g["high"] * f).where(wide)) + list(g["mean"] * f)
        fig.add_scatter(
            x=g["hours"],
            y=g["mean"] * f,
            mode="markers",
            name=str(m),
            error_y=err,
            text=[", ".join(f"{k}={fmt_value(r[k])}" for k in keys) for _, r in g.iterrows()],
            marker=dict(color=color(i), size=10, line=dict(width=0)),
            hovertemplate="%{text}<br>mean %{y:.2f} at %{x:.3g} h<extra>" + str(m) + "</extra>",
        )
    front = cc[cc["pareto"]].sort_values("hours")
    fig.add_scatter(
        x=front["hours"],
        y=front["mean"] * f,
        mode="lines+markers",
        name="Pareto front",
        line=dict(color="#333", dash="dot", shape="hv"),
        marker=dict(symbol="circle-open", size=16, color="#333"),
    )
    fig.update_layout(
        **LAYOUT,
        xaxis_title=f"{d.hours_unit} per trial",
        xaxis_type="log" if log_axis([*cc["hours"], *d.points["hours"]]) else "linear",
        yaxis_title=f"{d.metric} (config mean over seeds)",
        yaxis_range=value_range(drawn, scaled_bounds(d)),
    )
    return fig


def curves(d: ReportData, max_points: int = 400) -> go.Figure | None:
    """Each model's best config by step: the mean over seeds, with its band where seeds allow, else
    each seed's own curve as a thin line."""
    items = [(m, c) for m, c in d.curves.items() if not c.empty]
    if not items:
        return None
    fig, f, drawn = go.Figure(), d.scale.factor, []
    for i, (m, c) in enumerate(items):
        if len(c) > max_points:  # more points than pixels: thin evenly, keep the last
            c = c.iloc[np.unique(np.linspace(0, len(c) - 1, max_points).astype(int))]
        x, mu = c["step"].to_numpy(dtype=float), c["mean"].to_numpy(dtype=float) * f
        lo, hi = band_edges(c, f)
        if np.any(hi > lo):
            add_band(fig, x, lo, hi, i, m)
        seeds = d.curve_seeds.get(m, pd.DataFrame())
        if not c.get("band", pd.Series(True, index=c.index)).all() and len(seeds):
            for rid, s in seeds.groupby("run_id", sort=False):
                fig.add_scatter(
                    x=s["step"],
                    y=s["value"] * f,
                    mode="lines",
                    legendgroup=m,
                    showlegend=False,
                    name=seed_label(s["seed"].iloc[0]) or str(rid),
                    line=dict(color=rgba(color(i), 0.5), width=1),
                )
                drawn += list(s["value"] * f)
        fig.add_scatter(x=x, y=mu, mode="lines", name=m, line=dict(color=color(i), width=2.5), legendgroup=m)
        drawn += list(mu) + list(lo) + list(hi)
    fig.update_layout(
        **LAYOUT,
        xaxis_title="step",
        yaxis_title=f"{d.metric} (mean over seeds)",
        yaxis_range=value_range(drawn, scaled_bounds(d)),
    )
    return fig
