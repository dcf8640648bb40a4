"""Matplotlib PNGs for report.md (GitHub renders no JavaScript)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from analysis.data import ReportData
from analysis.figures import PALETTE

# Run names may hold '$' or '_': never let matplotlib parse them as mathtext.
RC = {"text.parse_math": False, "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9}


def _c(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def comparison(d: ReportData, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for i, pm in enumerate(d.per_model):
        bc = pm["best_config"] or {}
        ax.bar(
            i,
            bc.get("mean", pm["best_run"]["value"]) * d.scale.factor,
            yerr=(bc.get("std") or 0) * d.scale.factor,
            color=_c(i),
            capsize=4,
        )
    ax.set_xticks(range(len(d.per_model)), [pm["model"] for pm in d.per_model])
    ax.set_ylabel(f"{d.metric}\n(best config, mean ± std)")
    lo = min((pm["best_config"] or {}).get("mean", 0) for pm in d.per_model) * d.scale.factor
    ax.set_ylim(bottom=lo * 0.95 if lo > 0 else None)
    return _save(fig, path)


def heatmaps(d: ReportData, path: Path) -> Path | None:
    if not d.heatmaps or not d.heatmap_axes:
        return None
    lr, bs = d.heatmap_axes
    n = len(d.heatmaps)
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n + 1.0, 3.4), squeeze=False, layout="constrained")
    vals = np.concatenate([h.to_numpy(dtype=float).ravel() for h in d.heatmaps.values()])
    vmin, vmax = np.nanmin(vals) * d.scale.factor, np.nanmax(vals) * d.scale.factor
    im = None
    for ax, (m, hm) in zip(axes[0], d.heatmaps.items(), strict=False):
        z = hm.to_numpy(dtype=float) * d.scale.factor
        im = ax.imshow(z, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
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
    fig.colorbar(im, ax=axes[0].tolist(), label=d.scale.unit)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _bands(ax, items, scale):
    for i, (m, x, mu, sd) in enumerate(items):
        mu, sd = mu * scale, np.nan_to_num(sd) * scale
        ax.plot(x, mu, color=_c(i), label=m)
        ax.fill_between(x, mu - sd, mu + sd, color=_c(i), alpha=0.2, linewidth=0)
    ax.legend()


def curves(d: ReportData, path: Path) -> Path | None:
    items = [
        (m, c["step"].to_numpy(), c["mean"].to_numpy(), c["std"].to_numpy()) for m, c in d.curves.items() if not c.empty
    ]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    _bands(ax, items, d.scale.factor)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{d.metric} (mean ± std)")
    return _save(fig, path)


def evp(d: ReportData, path: Path) -> Path | None:
    items = [(m, e["n"].to_numpy(), e["mean"].to_numpy(), e["std"].to_numpy()) for m, e in d.evp.items() if len(e)]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    _bands(ax, items, d.scale.factor)
    ax.set_xscale("log")
    # parse_math is off (run names), so the default 10^n log labels would print as raw TeX.
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("number of trials")
    ax.set_ylabel(f"expected best {d.metric}")
    return _save(fig, path)


def importance(d: ReportData, path: Path) -> Path | None:
    imp = d.importance.head(15).iloc[::-1]
    if imp.empty:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 0.8 + 0.3 * len(imp)), sharey=True)
    y = np.arange(len(imp))
    a1.barh(y, imp["importance"], color=_c(0))
    a1.set_yticks(y, imp["feature"])
    a1.set_title("random-forest importance")
    corr = imp["pearson"].fillna(0)
    a2.barh(y, corr, color=[_c(2) if v > 0 else _c(3) for v in corr])
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
    "heatmap": heatmaps,
    "curves": curves,
    "evp": evp,
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
