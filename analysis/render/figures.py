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

from analysis.render.files import script_json
from analysis.render.style import color, rgba
from analysis.report.data import ReportData
from analysis.tables import tidy

MAX_POINTS = 400
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=40, b=50), height=380)


def figure_json(fig: go.Figure) -> str:
    """A figure as JSON safe inside <script> (see `script_json`)."""
    return script_json(fig.to_json())


def line_with_band(
    fig: go.Figure, x, mid, low, high, i: int, name: str, *, showlegend: bool = True, col: int | None = None, **line
) -> None:
    """A line and its shaded band (one legend entry for both); `col`: that subplot of a 1-row grid."""
    where = {} if col is None else {"row": 1, "col": col}
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


def best_config_bars(d: ReportData) -> tuple[list[float], list[float], list[float]]:
    """Per model: its best config's mean and 95% t-interval over seeds (the mean alone for one seed)."""
    mid, lo, hi = [], [], []
    for pm in d.per_model:
        bc = pm["best_config"] or {}
        m = bc.get("mean", pm["best_run"]["value"])
        low, high = bc.get("low"), bc.get("high")
        mid.append(m * d.scale.factor)
        lo.append((m if low is None else low) * d.scale.factor)
        hi.append((m if high is None else high) * d.scale.factor)
    return mid, lo, hi


def comparison(d: ReportData) -> go.Figure:
    fig = go.Figure()
    mid, lo, hi = best_config_bars(d)
    for i, pm in enumerate(d.per_model):
        fig.add_bar(
            x=[pm["model"]],
            y=[mid[i]],
            error_y=dict(type="data", symmetric=False, array=[hi[i] - mid[i]], arrayminus=[mid[i] - lo[i]]),
            marker_color=color(i),
            name=pm["model"],
        )
    pad = 0.25 * max(np.nanmax(hi) - np.nanmin(lo), 1e-9)
    fig.update_layout(
        **LAYOUT,
        showlegend=False,
        yaxis_title=f"{d.metric} (best config, mean, 95% CI over seeds)",
        yaxis_range=[np.nanmin(lo) - pad, np.nanmax(hi) + pad],
    )
    return fig


def tradeoff(d: ReportData) -> go.Figure | None:
    cc = d.config_costs
    if cc.empty or "hours" not in cc or cc["hours"].isna().all():
        return None
    fig = go.Figure()
    f = d.scale.factor
    groups = cc.groupby("model", sort=False) if "model" in cc else [("configs", cc)]
    keys = [k for k in d.params if k in cc and k != d.compare]
    for i, (m, g) in enumerate(groups):
        g = g.dropna(subset=["hours"])
        err = dict(
            type="data",
            symmetric=False,
            array=(g["high"] - g["mean"]).fillna(0) * f,
            arrayminus=(g["mean"] - g["low"]).fillna(0) * f,
            thickness=1,
        )
        text = [", ".join(f"{k}={r[k]}" for k in keys) for _, r in g.iterrows()]
        fig.add_scatter(
            x=g["hours"],
            y=g["mean"] * f,
            mode="markers",
            name=str(m),
            error_y=err,
            text=text,
            marker=dict(color=color(i), size=9, line=dict(width=0)),
            hovertemplate="%{text}<br>%{y:.2f} at %{x:.3g} h<extra>" + str(m) + "</extra>",
        )
    front = cc[cc["pareto"]].sort_values("hours")
    fig.add_scatter(
        x=front["hours"],
        y=front["mean"] * f,
        mode="lines+markers",
        name="Pareto front",
        line=dict(color="#333", dash="dot", shape="hv"),
        marker=dict(symbol="circle-open", size=15, color="#333"),
    )
    fig.update_layout(
        **LAYOUT,
        xaxis_title=f"{d.hours_unit} per trial",
        xaxis_type="log",
        yaxis_title=f"{d.metric} (config mean, 95% CI over seeds)",
    )
    return fig


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


def curves(d: ReportData) -> go.Figure | None:
    items = [(m, c) for m, c in d.curves.items() if not c.empty]
    if not items:
        return None
    fig = go.Figure()
    spread = []
    for i, (m, c) in enumerate(items):
        if len(c) > MAX_POINTS:  # more points than pixels: thin evenly, keep the last
            c = c.iloc[np.unique(np.linspace(0, len(c) - 1, MAX_POINTS).astype(int))]
        mu = c["mean"].to_numpy() * d.scale.factor
        lo, hi = (
            np.where(np.isfinite(c[k].to_numpy(dtype=float)), c[k], c["mean"]) * d.scale.factor for k in ("low", "high")
        )
        line_with_band(fig, c["step"].to_numpy(), mu, lo, hi, i, m)
        sd = np.nan_to_num(c["std"].to_numpy(dtype=float)) * d.scale.factor
        spread.append((np.nanmin(mu - sd), np.nanmax(mu + sd)))
    # The axis follows the runs' own spread: at 2-3 seeds the t-interval is wide (t = 12.7 at 2),
    # and it is drawn to the edge of the plot rather than squeezing the curves flat.
    lo_y, hi_y = min(a for a, _ in spread), max(b for _, b in spread)
    pad = 0.15 * max(hi_y - lo_y, 1e-9)
    fig.update_layout(
        **LAYOUT,
        xaxis_title="step",
        yaxis_title=f"{d.metric} (mean, 95% CI over seeds)",
        yaxis_range=[lo_y - pad, hi_y + pad],
    )
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
    fig.update_layout(**LAYOUT, yaxis_title=f"expected best {d.metric}")
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
