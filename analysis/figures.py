"""Plotly figures for report.html, one function per figure, all from ReportData.

Run-derived strings (model names, config values) end up in plotly JSON; `figure_json`
escapes it so that it cannot close the <script> element it is embedded in.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis import tidy
from analysis.data import ReportData
from analysis.files import script_json

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
MAX_POINTS = 400
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=40, b=50), height=380)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def figure_json(fig: go.Figure) -> str:
    """A figure as JSON safe inside <script> (see `script_json`)."""
    return script_json(fig.to_json())


def line_with_band(fig: go.Figure, x, mid, low, high, i: int, name: str, **line) -> None:
    """A line and its shaded band (one legend entry for both)."""
    fig.add_scatter(
        x=np.concatenate([x, x[::-1]]),
        y=np.concatenate([high, low[::-1]]),
        fill="toself",
        fillcolor=_rgba(color(i), 0.2),
        line=dict(width=0),
        hoverinfo="skip",
        showlegend=False,
        legendgroup=name,
    )
    fig.add_scatter(x=x, y=mid, mode="lines", name=name, line=dict(color=color(i), **line), legendgroup=name)


def comparison(d: ReportData) -> go.Figure:
    fig = go.Figure()
    for i, pm in enumerate(d.per_model):
        bc = pm["best_config"] or {}
        fig.add_bar(
            x=[pm["model"]],
            y=[bc.get("mean", pm["best_run"]["value"]) * d.scale.factor],
            error_y=dict(type="data", array=[(bc.get("std") or 0) * d.scale.factor]),
            marker_color=color(i),
            name=pm["model"],
        )
    lo = [
        ((pm["best_config"] or {}).get("mean", np.nan) - ((pm["best_config"] or {}).get("std") or 0)) * d.scale.factor
        for pm in d.per_model
    ]
    hi = [
        ((pm["best_config"] or {}).get("mean", np.nan) + ((pm["best_config"] or {}).get("std") or 0)) * d.scale.factor
        for pm in d.per_model
    ]
    pad = 0.25 * max(np.nanmax(hi) - np.nanmin(lo), 1e-9)
    fig.update_layout(
        **LAYOUT,
        showlegend=False,
        yaxis_title=f"{d.metric} (best config, mean ± std)",
        yaxis_range=[np.nanmin(lo) - pad, np.nanmax(hi) + pad],
    )
    return fig


def heatmaps(d: ReportData) -> go.Figure | None:
    if not d.heatmaps or not d.heatmap_axes:
        return None
    lr, bs = d.heatmap_axes
    names = list(d.heatmaps)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.08)
    allv = pd.concat([h.stack() for h in d.heatmaps.values()]) * d.scale.factor
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


def curves(d: ReportData) -> go.Figure | None:
    items = [(m, c) for m, c in d.curves.items() if not c.empty]
    if not items:
        return None
    fig = go.Figure()
    for i, (m, c) in enumerate(items):
        if len(c) > MAX_POINTS:  # more points than pixels: thin evenly, keep the last
            c = c.iloc[np.unique(np.linspace(0, len(c) - 1, MAX_POINTS).astype(int))]
        mu = c["mean"].to_numpy() * d.scale.factor
        sd = np.nan_to_num(c["std"].to_numpy()) * d.scale.factor
        line_with_band(fig, c["step"].to_numpy(), mu, mu - sd, mu + sd, i, m)
    fig.update_layout(**LAYOUT, xaxis_title="step", yaxis_title=f"{d.metric} (mean ± std over seeds)")
    return fig


def evp(d: ReportData) -> go.Figure | None:
    items = [(m, e) for m, e in d.evp.items() if len(e)]
    if not items:
        return None
    fig = go.Figure()
    for i, (m, e) in enumerate(items):
        mu, sd = e["mean"].to_numpy() * d.scale.factor, e["std"].to_numpy() * d.scale.factor
        line_with_band(fig, e["n"].to_numpy(), mu, mu - sd, mu + sd, i, m)
    fig.update_layout(
        **LAYOUT, xaxis_title="number of trials", xaxis_type="log", yaxis_title=f"expected best {d.metric}"
    )
    return fig


def importance(d: ReportData) -> go.Figure | None:
    imp = d.importance
    if imp.empty:
        return None
    imp = imp.head(15).iloc[::-1]
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, subplot_titles=["random-forest importance", "correlation with metric"]
    )
    fig.add_bar(
        y=imp["feature"], x=imp["importance"], orientation="h", marker_color=color(0), name="importance", row=1, col=1
    )
    corr = imp["pearson"].fillna(0)
    fig.add_bar(
        y=imp["feature"],
        x=corr,
        orientation="h",
        name="Pearson r",
        marker_color=[color(2) if v > 0 else color(3) for v in corr],
        row=1,
        col=2,
    )
    fig.update_xaxes(range=[-1, 1], row=1, col=2)
    left = min(360, 20 + 7 * int(imp["feature"].str.len().max()))
    fig.update_layout(
        **{**LAYOUT, "height": max(300, 40 + 28 * len(imp)), "margin": dict(l=left, r=20, t=40, b=40)}, showlegend=False
    )
    return fig


def parallel(d: ReportData, max_lines: int = 2000) -> go.Figure | None:
    u = d.usable
    if u.empty or not d.params:
        return None
    if len(u) > max_lines:  # a parcoords with more lines than pixels shows nothing more
        u = u.sample(max_lines, random_state=0)
    dims = []
    for p in d.params:
        s = u[p]
        num = pd.to_numeric(s, errors="coerce")
        if num.notna().all() and s.map(lambda v: not isinstance(v, str)).all():
            vals = np.log10(num) if p.split(".")[-1] in ("learning_rate", "lr") and (num > 0).all() else num
            dims.append(dict(label=p if vals is num else f"log10 {p}", values=vals))
        else:
            cats = sorted(tidy.text(s).unique())
            code = {c: i for i, c in enumerate(cats)}
            dims.append(dict(label=p, values=tidy.text(s).map(code), tickvals=list(range(len(cats))), ticktext=cats))
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
    ("heatmap", "Learning rate × batch size", heatmaps),
    ("curves", "Learning curves (best config per model)", curves),
    ("evp", "Expected validation performance vs trials", evp),
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
