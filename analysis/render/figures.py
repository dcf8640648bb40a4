"""Plotly figures for report.html, one function per figure, all from ReportData.

Run-derived strings (model names, config values) end up in plotly JSON; `figure_json`
escapes it so that it cannot close the <script> element it is embedded in.
"""

from __future__ import annotations

import json
from typing import cast

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.render.axes import log_ticks, scaled_bounds, value_range, value_ticks
from analysis.render.files import script_json
from analysis.render.model_figures import LAYOUT, add_band, comparison, curves, tradeoff
from analysis.render.style import color
from analysis.report.data import ReportData, fmt_value
from analysis.tables import tidy


def figure_json(fig: go.Figure) -> str:
    """A figure as JSON safe inside <script> (see `script_json`)."""
    return script_json(fig.to_json())


def line_with_band(
    fig: go.Figure, x, mid, low, high, i: int, name: str, *, showlegend: bool = True, col: int | None = None, **line
) -> None:
    """A line and its shaded band (one legend entry for both); `col`: that subplot of a 1-row grid."""
    where = {} if col is None else {"row": 1, "col": col}
    add_band(fig, x, low, high, i, name, **where)
    fig.add_scatter(
        x=x,
        y=mid,
        mode="lines",
        name=name,
        line=dict(color=color(i), **line),
        legendgroup=name,
        showlegend=showlegend,
        **where,
    )


def heatmaps(d: ReportData) -> go.Figure | None:
    if not d.heatmaps or not d.heatmap_axes:
        return None
    lr, bs = d.heatmap_axes
    names = list(d.heatmaps)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.08)
    allv = pd.concat([cast(pd.Series, h.stack()) for h in d.heatmaps.values()]) * d.scale.factor
    for j, (m, hm) in enumerate(d.heatmaps.items(), start=1):
        z = hm.to_numpy(dtype=float) * d.scale.factor
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=[str(c) for c in hm.columns],
                y=[str(r) for r in hm.index],
                zmin=float(allv.min()),
                zmax=float(allv.max()),
                coloraxis="coloraxis",
                text=np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.1f}")(z),
                texttemplate="%{text}",
                name=m,
            ),
            row=1,
            col=j,
        )
        fig.update_xaxes(title_text=lr, type="category", row=1, col=j)
        fig.update_yaxes(title_text=bs if j == 1 else None, type="category", row=1, col=j)
    fig.update_layout(**LAYOUT, coloraxis=dict(colorscale="Viridis", colorbar_title=d.scale.unit))
    return fig


def evp(d: ReportData) -> go.Figure | None:
    items = [(m, e) for m, e in d.evp.items() if len(e)]
    if not items:
        return None
    timed = {m: e[e["share"] >= 0.5] for m, e in d.evp_time.items()}
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=["against trials", f"against {d.hours_unit}"],
    )
    f = d.scale.factor
    for i, (m, e) in enumerate(items):
        line_with_band(
            fig, e["n"].to_numpy(), e["mean"].to_numpy() * f, e["low"].to_numpy() * f, e["high"].to_numpy() * f, i, m
        )
        t = timed.get(m)
        if t is not None and len(t):
            line_with_band(
                fig,
                t["budget"].to_numpy(),
                t["mean"].to_numpy() * f,
                t["low"].to_numpy() * f,
                t["high"].to_numpy() * f,
                i,
                m,
                showlegend=False,
                col=2,
            )
    fig.update_xaxes(title_text="number of trials", type="log", row=1, col=1)
    fig.update_xaxes(title_text=f"budget ({d.hours_unit})", type="log", row=1, col=2)
    drawn = [v * f for e in [*d.evp.values(), *timed.values()] for k in ("low", "high") for v in e[k]]
    fig.update_layout(
        **LAYOUT, yaxis_title=f"expected best {d.metric}", yaxis_range=value_range(drawn, scaled_bounds(d))
    )
    return fig


def retest(d: ReportData) -> go.Figure | None:
    res = d.retest
    if res is None or not any(r.mean is not None for r in res.rows):
        return None
    f = d.scale.factor
    x = [f"#{r.sweep_rank} {r.label}" for r in res.rows]
    mean = [np.nan if r.mean is None else r.mean * f for r in res.rows]
    up = [0 if r.high is None or r.mean is None else (r.high - r.mean) * f for r in res.rows]
    down = [0 if r.low is None or r.mean is None else (r.mean - r.low) * f for r in res.rows]
    fig = go.Figure()
    fig.add_scatter(
        x=x,
        y=[np.nan if r.sweep_best is None else r.sweep_best * f for r in res.rows],
        mode="markers",
        name="best in the sweep",
        marker=dict(symbol="x", size=11, color=color(3)),
    )
    fig.add_scatter(
        x=x,
        y=mean,
        mode="markers",
        name=f"re-test mean, 95% CI ({res.rows[0].seeds} fresh seeds)",
        error_y=dict(type="data", symmetric=False, array=up, arrayminus=down),
        marker=dict(size=10, color=color(0)),
    )
    fig.update_layout(
        **LAYOUT, xaxis_title="config (sweep rank)", yaxis_title=d.metric, legend=dict(orientation="h", y=1.12)
    )
    return fig


def importance(d: ReportData) -> go.Figure | None:
    """Left: each parameter's share of the permutation importance (one row per parameter). Right: each
    of its levels' effect, the level's mean against the mean of all runs."""
    imp = d.importance
    if imp.empty:
        return None
    imp = imp.head(15).iloc[::-1]
    params = [str(p) for p in imp["param"]]
    titles = ["permutation importance (share)", f"effect of each level ({d.scale.unit} vs the mean of all runs)"]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.04)
    fig.add_bar(
        y=params,
        x=imp["importance"],
        orientation="h",
        marker_color=color(0),
        name="importance",
        customdata=np.stack([imp["r2_drop"], imp["r2_drop_sd"]], axis=1),
        hovertemplate="%{y}: share %{x:.2f}; R² drop %{customdata[0]:.3f} ± %{customdata[1]:.3f}<extra></extra>",
        row=1,
        col=1,
    )
    lv = d.levels[d.levels["param"].isin(params)] if len(d.levels) else d.levels
    if len(lv):
        effect = lv["effect"].to_numpy(dtype=float) * d.scale.factor
        fig.add_scatter(
            y=lv["param"].astype(str),
            x=effect,
            mode="markers+text",
            text=[fmt_value(v) for v in lv["level"]],
            textposition=["top left" if v < 0 else "top right" for v in effect],
            cliponaxis=False,
            marker=dict(size=10, color=[color(2) if v > 0 else color(3) for v in effect]),
            name="levels",
            hovertemplate="%{y}=%{text}: %{x:+.2f}<extra></extra>",
            row=1,
            col=2,
        )
        reach = max(float(np.nanmax(np.abs(effect))), 1e-9) * 1.7  # room for the level names
        fig.update_xaxes(range=[-reach, reach], zeroline=True, zerolinecolor="#999", row=1, col=2)
    fig.update_yaxes(type="category", categoryarray=params, row=1, col=1)
    left = min(360, 20 + 7 * max(len(p) for p in params))
    fig.update_layout(
        **{**LAYOUT, "height": max(300, 60 + 48 * len(imp)), "margin": dict(l=left, r=20, t=40, b=40)}, showlegend=False
    )
    return fig


def _dimension(p: str, s: pd.Series, log: bool) -> dict:
    """One parallel-coordinates axis in the user's units: a log axis ticked in real values, a category
    axis naming its levels, a grid's few numbers as its ticks."""
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().all() and s.map(lambda v: not isinstance(v, str)).all():
        if log:
            tickvals, ticktext = log_ticks(num)
            return dict(label=f"{p} (log)", values=np.log10(num), tickvals=tickvals, ticktext=ticktext)
        ticks = value_ticks(num)
        return dict(label=p, values=num) | ({} if ticks is None else dict(tickvals=ticks[0], ticktext=ticks[1]))
    cats = sorted(tidy.text(s).unique())
    code = {c: i for i, c in enumerate(cats)}
    return dict(label=p, values=tidy.text(s).map(code), tickvals=list(range(len(cats))), ticktext=cats)


def parallel(d: ReportData, max_lines: int = 2000) -> go.Figure | None:
    u = d.usable
    if u.empty or not d.params:
        return None
    if len(u) > max_lines:  # a parcoords with more lines than pixels shows nothing more
        u = u.sample(max_lines, random_state=0)
    dims = [_dimension(p, u[p], p in d.log_params) for p in d.params]
    mv = u[d.metric] * d.scale.factor
    dims.append(dict(label=d.metric, values=mv))
    fig = go.Figure(go.Parcoords(line=dict(color=mv, colorscale="Viridis", showscale=True), dimensions=dims))
    fig.update_layout(**{**LAYOUT, "margin": dict(l=80, r=60, t=60, b=30)})
    return fig


def system(d: ReportData) -> go.Figure | None:
    s = d.system
    if s.empty:
        return None
    cols = [c for c in ("peak_gpu_memory_mb", "gpu_util") if s[c].notna().any()]
    titles = {"peak_gpu_memory_mb": "peak GPU memory (MB)", "gpu_util": "mean GPU utilisation (%)"}
    fig = make_subplots(rows=1, cols=len(cols), subplot_titles=[titles[c] for c in cols])
    for j, c in enumerate(cols, start=1):
        for i, (m, g) in enumerate(s.groupby("model")):
            fig.add_box(y=g[c], name=str(m), marker_color=color(i), showlegend=False, row=1, col=j)
    fig.update_layout(**LAYOUT)
    return fig


FIGURES = [
    ("comparison", "Models compared", comparison),
    ("tradeoff", "Score against cost", tradeoff),
    ("heatmap", "Learning rate × batch size", heatmaps),
    ("curves", "Learning curves (best config per model)", curves),
    ("evp", "Expected validation performance vs trials and vs time", evp),
    ("retest", "Re-test of the top configs on fresh seeds", retest),
    ("importance", "Parameter importance and correlation", importance),
    ("parallel", "Parallel coordinates", parallel),
    ("system", "System", system),
]


def build_figures(d: ReportData) -> list[tuple[str, str, go.Figure]]:
    out = []
    for key, title, fn in FIGURES:
        fig = fn(d)
        if fig is not None:
            out.append((key, title, fig))
    return out


def figure_payload(figs: list[tuple[str, str, go.Figure]]) -> str:
    """All figures as one escaped JSON object {key: figure}, for a single data <script>."""
    parts = [f"{json.dumps(k)}:{figure_json(f)}" for k, _, f in figs]
    return "{" + ",".join(parts) + "}"
