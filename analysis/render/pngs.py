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

from analysis.render.axes import (
    band_edges,
    log_axis,
    model_means,
    scaled_bounds,
    shows_interval,
    spread,
    value_range,
)
from analysis.render.style import color
from analysis.report.data import ReportData, fmt_value

# Run names may hold '$' or '_': never let matplotlib parse them as mathtext.
RC: dict[RcKeyType, Any] = {"text.parse_math": False, "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _ylim(ax, drawn, d: ReportData) -> None:
    r = value_range(drawn, scaled_bounds(d))
    if r is not None:
        ax.set_ylim(*r)


def comparison(d: ReportData, path: Path) -> Path | None:
    """As report.html's: each model's runs and mean over the shared cells, and the paired differences."""
    if d.model_means.empty:
        return None
    f, two = d.scale.factor, bool(d.comparisons)
    fig, axes = plt.subplots(
        1, 2 if two else 1, figsize=(8, 3.4), squeeze=False, width_ratios=[1.6, 1] if two else None
    )
    ax, drawn = axes[0][0], []
    shared = d.points[d.points["shared"]]
    for i, row in enumerate(model_means(d)):
        p = shared[shared["model"] == row.model].sort_values(["seed", "config"])
        ax.scatter(i + spread(len(p)), p["value"] * f, color=color(i), alpha=0.55, s=22, zorder=2)
        yerr = None
        if row.interval:
            yerr = [[(row.mean - row.low) * f], [(row.high - row.mean) * f]]
            drawn += [row.low * f, row.high * f]
        ax.errorbar([i], [row.mean * f], yerr=yerr, fmt="_", ms=28, mew=3, color=color(i), capsize=6, zorder=3)
        drawn += list(p["value"] * f) + [row.mean * f]
    ax.set_xticks(range(len(d.model_means)), list(d.model_means["model"]))
    ax.set_xlim(-0.6, len(d.model_means) - 0.4)
    n, unit = int(d.model_means["n"].min()), d.model_means["unit"].iloc[0]
    ax.set_title(f"mean over {d.model_means['over'].iloc[0]} ({n} {unit})", fontsize=9)
    ax.set_ylabel(f"{d.metric} ({d.scale.unit})")
    _ylim(ax, drawn, d)
    if two:
        dx = axes[0][1]
        c = d.comparisons
        mean = np.array([x.mean * f for x in c])
        err = [
            [0 if x.low is None else (x.mean - x.low) * f for x in c],
            [0 if x.high is None else (x.high - x.mean) * f for x in c],
        ]
        dx.errorbar(range(len(c)), mean, yerr=err, fmt="D", color="#333", capsize=6)
        dx.axhline(0, color="#999", ls="--", lw=1)
        dx.set_xticks(range(len(c)), [f"{x.a} − {x.b}" for x in c], fontsize=7)
        dx.set_xlim(-0.6, len(c) - 0.4)
        dx.set_title("paired difference, 95% CI", fontsize=9)
        dx.set_ylabel(f"difference ({d.scale.unit})")
    return _save(fig, path)


def tradeoff(d: ReportData, path: Path) -> Path | None:
    cc = d.config_costs
    if cc.empty or "hours" not in cc or cc["hours"].isna().all():
        return None
    f = d.scale.factor
    fig, ax = plt.subplots(figsize=(6, 3.4))
    groups = list(cc.groupby("model", sort=False)) if "model" in cc else [("configs", cc)]
    drawn: list[float] = []
    for i, (m, g) in enumerate(groups):
        g = g.dropna(subset=["hours"])
        wide = g["count"].map(lambda n: shows_interval(d, n)) if "count" in g else g["mean"].notna()
        runs = d.points[(d.points["model"] == m) & d.points["hours"].notna()] if "model" in cc else d.points
        if (~wide).any() and len(runs):
            ax.scatter(runs["hours"], runs["value"] * f, facecolors="none", edgecolors=color(i), s=16, alpha=0.6)
            drawn += list(runs["value"] * f)
        err = [
            ((g["mean"] - g["low"]) * f).where(wide, 0).fillna(0),
            ((g["high"] - g["mean"]) * f).where(wide, 0).fillna(0),
        ]
        ax.errorbar(g["hours"], g["mean"] * f, yerr=err, fmt="o", color=color(i), label=str(m), capsize=2, lw=0.8)
        drawn += list((g["low"] * f).where(wide)) + list((g["high"] * f).where(wide)) + list(g["mean"] * f)
    front = cc[cc["pareto"]].sort_values("hours")
    ax.step(front["hours"], front["mean"] * f, where="post", color="#333", ls=":", label="Pareto front")
    ax.scatter(front["hours"], front["mean"] * f, s=120, facecolors="none", edgecolors="#333")
    if log_axis([*cc["hours"], *d.points["hours"]]):
        _plain_log_axis(ax)
    ax.set_xlabel(f"{d.hours_unit} per trial")
    ax.set_ylabel(f"{d.metric}\n(config mean over seeds)")
    _ylim(ax, drawn, d)
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
    """As report.html's: the mean by step, its band where seeds allow, else each seed's own curve."""
    items = [(m, c) for m, c in d.curves.items() if not c.empty]
    if not items:
        return None
    f = d.scale.factor
    fig, ax = plt.subplots(figsize=(6, 3.2))
    drawn: list[float] = []
    for i, (m, c) in enumerate(items):
        x, mu = c["step"].to_numpy(dtype=float), c["mean"].to_numpy(dtype=float) * f
        lo, hi = band_edges(c, f)
        ax.fill_between(x, lo, hi, color=color(i), alpha=0.2, linewidth=0)
        seeds = d.curve_seeds.get(m)
        if "band" in c and not c["band"].all() and seeds is not None and len(seeds):
            for _, s in seeds.groupby("run_id", sort=False):
                ax.plot(s["step"], s["value"] * f, color=color(i), alpha=0.5, lw=0.8)
                drawn += list(s["value"] * f)
        ax.plot(x, mu, color=color(i), label=m, lw=2)
        drawn += list(mu) + list(lo) + list(hi)
    _ylim(ax, drawn, d)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{d.metric} (mean over seeds)")
    ax.legend()
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
    """As report.html's: one row per parameter, its share of permutation importance, its levels' effects."""
    imp = d.importance.head(15).iloc[::-1]
    if imp.empty:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 1.0 + 0.45 * len(imp)), sharey=True)
    y = np.arange(len(imp))
    a1.barh(y, imp["importance"], color=color(0))
    a1.set_yticks(y, imp["param"])
    a1.set_title("permutation importance (share)")
    row = {p: j for j, p in enumerate(imp["param"])}
    lv = d.levels[d.levels["param"].isin(row)] if len(d.levels) else d.levels
    effect = lv["effect"].to_numpy(dtype=float) * d.scale.factor if len(lv) else np.array([])
    for (_, r), e in zip(lv.iterrows(), effect, strict=True):
        a2.scatter(e, row[r["param"]], color=color(2) if e > 0 else color(3), zorder=3)
        a2.annotate(
            fmt_value(r["level"]),
            (e, row[r["param"]]),
            textcoords="offset points",
            xytext=(-4 if e < 0 else 4, 6),  # away from zero, as report.html's: close levels stay apart
            ha="right" if e < 0 else "left",
            fontsize=7,
        )
    reach = max(float(np.nanmax(np.abs(effect))) if effect.size else 0.0, 1e-9) * 1.35
    a2.set_xlim(-reach, reach)
    a2.axvline(0, color="#999", lw=0.8)
    a2.set_title(f"effect of each level ({d.scale.unit})")
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
