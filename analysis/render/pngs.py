"""Matplotlib PNGs for report.md (GitHub renders no JavaScript)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import RcKeyType

from analysis.render.figures import best_config_bars
from analysis.render.style import color
from analysis.report.data import ReportData

# Run names may hold '$' or '_': never let matplotlib parse them as mathtext.
RC: dict[RcKeyType, Any] = {"text.parse_math": False, "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def comparison(d: ReportData, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    mid, lo, hi = best_config_bars(d)
    for i in range(len(d.per_model)):
        ax.bar(i, mid[i], yerr=[[mid[i] - lo[i]], [hi[i] - mid[i]]], color=color(i), capsize=4)
    ax.set_xticks(range(len(d.per_model)), [pm["model"] for pm in d.per_model])
    ax.set_ylabel(f"{d.metric}\n(best config, mean, 95% CI)")
    ax.set_ylim(bottom=min(lo) * 0.95 if min(lo) > 0 else None)
    return _save(fig, path)


def tradeoff(d: ReportData, path: Path) -> Path | None:
    cc = d.config_costs
    if cc.empty or "hours" not in cc or cc["hours"].isna().all():
        return None
    f = d.scale.factor
    fig, ax = plt.subplots(figsize=(6, 3.4))
    groups = cc.groupby("model", sort=False) if "model" in cc else [("configs", cc)]
    for i, (m, g) in enumerate(groups):
        g = g.dropna(subset=["hours"])
        err = [(g["mean"] - g["low"]).fillna(0) * f, (g["high"] - g["mean"]).fillna(0) * f]
        ax.errorbar(g["hours"], g["mean"] * f, yerr=err, fmt="o", color=color(i), label=str(m), capsize=2, lw=0.8)
    front = cc[cc["pareto"]].sort_values("hours")
    ax.step(front["hours"], front["mean"] * f, where="post", color="#333", ls=":", label="Pareto front")
    ax.scatter(front["hours"], front["mean"] * f, s=120, facecolors="none", edgecolors="#333")
    ax.set_xscale("log")
    ax.set_xlabel(f"{d.hours_unit} per trial")
    ax.set_ylabel(f"{d.metric}\n(config mean, 95% CI)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def heatmaps(d: ReportData, path: Path) -> Path | None:
    if not d.heatmaps or not d.heatmap_axes:
        return None
    lr, bs = d.heatmap_axes
    n = len(d.heatmaps)
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n + 1.0, 3.4), squeeze=False, layout="constrained")
    vals = np.concatenate([h.to_numpy(dtype=float).ravel() for h in d.heatmaps.values()])
    vmin, vmax = np.nanmin(vals) * d.scale.factor, np.nanmax(vals) * d.scale.factor
    images = []
    for ax, (m, hm) in zip(axes[0], d.heatmaps.items(), strict=False):
        z = hm.to_numpy(dtype=float) * d.scale.factor
        images.append(ax.imshow(z, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", origin="lower"))
        ax.set_xticks(
            range(len(hm.columns)), [f"{c:g}" if isinstance(c, float) else str(c) for c in hm.columns], rotation=30
        )
        ax.set_yticks(range(len(hm.index)), [str(r) for r in hm.index])
        ax.set_xlabel(lr)
        if ax is axes[0][0]:
            ax.set_ylabel(bs)
        ax.set_title(m)
        if z.size <= 64:
            for (r, c), v in np.ndenumerate(z):
                if np.isfinite(v):
                    ax.text(c, r, f"{v:.1f}", ha="center", va="center", color="w", fontsize=7)
    fig.colorbar(images[-1], ax=axes[0].tolist(), label=d.scale.unit)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _bands(ax, items, scale, legend: bool = True):
    for i, (m, x, mu, lo, hi) in enumerate(items):
        mu = mu * scale
        lo = np.where(np.isfinite(lo), lo, mu / scale) * scale
        hi = np.where(np.isfinite(hi), hi, mu / scale) * scale
        ax.plot(x, mu, color=color(i), label=m)
        ax.fill_between(x, lo, hi, color=color(i), alpha=0.2, linewidth=0)
    if legend:
        ax.legend()


def _cols(df, x: str) -> tuple:
    return tuple(df[c].to_numpy(dtype=float) for c in (x, "mean", "low", "high"))


def curves(d: ReportData, path: Path) -> Path | None:
    items = [(m, *_cols(c, "step")) for m, c in d.curves.items() if not c.empty]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    _bands(ax, items, d.scale.factor)
    # As in report.html: the axis follows the runs' spread; a wide few-seed interval runs off the edge.
    spread = [(c["mean"] - c["std"].fillna(0), c["mean"] + c["std"].fillna(0)) for c in d.curves.values() if len(c)]
    lo_y = min(float(a.min()) for a, _ in spread) * d.scale.factor
    hi_y = max(float(b.max()) for _, b in spread) * d.scale.factor
    pad = 0.15 * max(hi_y - lo_y, 1e-9)
    ax.set_ylim(lo_y - pad, hi_y + pad)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{d.metric} (mean, 95% CI)")
    return _save(fig, path)


def _plain_log_axis(ax) -> None:
    # parse_math is off (run names), so the default 10^n log labels would print as raw TeX.
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def evp(d: ReportData, path: Path) -> Path | None:
    items = [(m, *_cols(e, "n")) for m, e in d.evp.items() if len(e)]
    if not items:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    _bands(a1, items, d.scale.factor)
    _plain_log_axis(a1)
    a1.set_xlabel("number of trials")
    a1.set_ylabel(f"expected best {d.metric}")
    timed = [(m, *_cols(e[e["share"] >= 0.5], "budget")) for m, e in d.evp_time.items()]
    _bands(a2, [t for t in timed if len(t[1])], d.scale.factor, legend=False)
    _plain_log_axis(a2)
    a2.set_xlabel(f"budget ({d.hours_unit})")
    return _save(fig, path)


def retest(d: ReportData, path: Path) -> Path | None:
    res = d.retest
    if res is None or not any(r.mean is not None for r in res.rows):
        return None
    f = d.scale.factor
    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = np.arange(len(res.rows))
    best = [np.nan if r.sweep_best is None else r.sweep_best * f for r in res.rows]
    mean = np.array([np.nan if r.mean is None else r.mean * f for r in res.rows])
    err = [
        [0 if r.low is None or r.mean is None else (r.mean - r.low) * f for r in res.rows],
        [0 if r.high is None or r.mean is None else (r.high - r.mean) * f for r in res.rows],
    ]
    ax.scatter(x, best, marker="x", color=color(3), label="best in the sweep", zorder=3)
    ax.errorbar(x, mean, yerr=err, fmt="o", color=color(0), capsize=4, label="re-test mean, 95% CI")
    ax.set_xticks(x, [f"#{r.sweep_rank}" for r in res.rows])
    ax.set_xlabel("config (sweep rank)")
    ax.set_ylabel(d.metric)
    ax.legend(fontsize=7)
    return _save(fig, path)


def importance(d: ReportData, path: Path) -> Path | None:
    imp = d.importance.head(15).iloc[::-1]
    if imp.empty:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 0.8 + 0.3 * len(imp)), sharey=True)
    y = np.arange(len(imp))
    a1.barh(y, imp["importance"], color=color(0))
    a1.set_yticks(y, imp["feature"])
    a1.set_title("random-forest importance")
    corr = imp["pearson"].fillna(0)
    a2.barh(y, corr, color=[color(2) if v > 0 else color(3) for v in corr])
    a2.set_xlim(-1, 1)
    a2.set_title("correlation with metric")
    return _save(fig, path)


def system(d: ReportData, path: Path) -> Path | None:
    s = d.system
    cols = [c for c in ("peak_gpu_memory_mb", "gpu_util") if len(s) and s[c].notna().any()]
    if not cols:
        return None
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3), squeeze=False)
    for ax, c in zip(axes[0], cols, strict=False):
        groups = [(str(m), g[c].dropna().to_numpy()) for m, g in s.groupby("model")]
        ax.boxplot([g for _, g in groups])
        ax.set_xticks(range(1, len(groups) + 1), [m for m, _ in groups])
        ax.set_title({"peak_gpu_memory_mb": "peak GPU memory (MB)", "gpu_util": "mean GPU utilisation (%)"}[c])
    return _save(fig, path)


PNGS = {
    "comparison": comparison,
    "tradeoff": tradeoff,
    "heatmap": heatmaps,
    "curves": curves,
    "evp": evp,
    "retest": retest,
    "importance": importance,
    "system": system,
}


def write_pngs(d: ReportData, out_dir: Path) -> dict[str, str]:
    """{figure key: file name relative to out_dir}."""
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    with plt.rc_context(RC):
        for key, fn in PNGS.items():
            p = fn(d, fig_dir / f"{key}.png")
            if p is not None:
                out[key] = f"figures/{p.name}"
    return out
