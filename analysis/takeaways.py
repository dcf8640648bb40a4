"""One sentence per figure, written from the numbers and never claiming more than the CI allows."""

from __future__ import annotations

import numpy as np

from analysis.data import ReportData, Scale
from analysis.stats import PairedDifference


def comparison_sentence(
    d: PairedDifference, scale: Scale, *, maximize: bool, throughput_ratio: float | None = None
) -> str:
    """ "A is 1.2 points (95% CI 0.4–2.0) below B at 1.7× the throughput", or why no claim."""
    a, b = d.a, d.b
    has_tp = bool(throughput_ratio) and np.isfinite(throughput_ratio)
    tp = f" at {throughput_ratio:.1f}× the throughput" if has_tp else ""
    tp_clause = f"; {a} runs at {throughput_ratio:.1f}× the throughput of {b}" if has_tp else ""
    if d.n_pairs == 0:
        return f"{a} and {b} share no matched (parameters, seed) cells, so they are not compared."
    side = "above" if d.mean > 0 else "below"
    if d.low is None or d.high is None:
        return (
            f"{a} is {scale.amount(d.mean)} {side} {b} on average over {d.n_pairs} matched "
            f"cell(s), but with {d.note or 'too few pairs'} there is no confidence interval, so no "
            f"winner is claimed{tp_clause}."
        )
    pct = f"{round(d.confidence * 100):d}%"
    if not d.significant:
        return (
            f"{a} and {b} differ by {scale.fmt(d.mean, signed=True)} {scale.unit} "
            f"({pct} CI {scale.fmt(d.low, signed=True)} to {scale.fmt(d.high, signed=True)}, "
            f"which includes 0): the difference is not significant{tp_clause}."
        )
    lo, hi = (d.low, d.high) if d.mean > 0 else (-d.high, -d.low)
    verdict = "better" if (d.mean > 0) == maximize else "worse"
    return (
        f"{a} is {scale.amount(d.mean)} ({pct} CI {scale.fmt(lo)}–{scale.fmt(hi)}) {side} "
        f"{b}{tp} ({verdict}, over {d.n_pairs} matched cells)."
    )


def _fmt_cfg(cfg: dict, keys) -> str:
    return ", ".join(f"{k}={cfg[k]}" for k in keys if k in cfg)


def takeaways_for(data: ReportData) -> dict[str, str]:
    s, m = data.scale, data.metric
    out: dict[str, str] = {}
    pm = {p["model"]: p for p in data.per_model}
    best = data.per_model[0]
    if data.comparisons:
        sents = []
        for c in data.comparisons:
            ta, tb = pm[c.a].get("throughput"), pm[c.b].get("throughput")
            ratio = ta / tb if ta and tb else None
            sents.append(comparison_sentence(c, s, maximize=data.maximize, throughput_ratio=ratio))
        out["comparison"] = " ".join(sents)
    else:
        who = f"Only {best['model']} was run" if data.compare else "All runs form one group"
        out["comparison"] = (
            f"{who}: its best {m} is {s.fmt(best['best_run']['value'])} (run {best['best_run']['name']})."
        )
    top = data.leaderboard.iloc[0]
    out["leaderboard"] = (
        f"The best run is {top['name']} with {m} = {s.fmt(float(top[m]))}"
        f"{' (' + _fmt_cfg(top.to_dict(), data.params) + ')' if data.params else ''}."
    )
    if data.heatmaps and data.heatmap_axes:
        lr, bs = data.heatmap_axes
        parts = []
        for model, hm in data.heatmaps.items():
            st = hm.stack().dropna()
            if st.empty:
                continue
            (b_, l_) = st.idxmax() if data.maximize else st.idxmin()
            parts.append(f"{model} peaks at {lr}={l_}, {bs}={b_} ({s.fmt(st.loc[(b_, l_)])})")
        out["heatmap"] = (
            ("Averaged over seeds, " + "; ".join(parts) + ".") if parts else "The grid has no complete cells."
        )
    curves = [(k, c) for k, c in data.curves.items() if not c.empty]
    if curves:
        out["curves"] = (
            "With its best config, "
            + "; ".join(
                f"{k} ends at {s.fmt(c['mean'].iloc[-1])} (step {c['step'].iloc[-1]:.0f}, "
                f"{int(c['n'].iloc[-1])} seed(s))"
                for k, c in curves
            )
            + "."
        )
    evp = {k: e for k, e in data.evp.items() if len(e)}
    if evp:
        n = int(min(len(e) for e in evp.values()))
        out["evp"] = (
            f"At a budget of {n} trial(s), the expected best {m} is "
            + "; ".join(f"{k} {s.fmt(e['mean'].iloc[n - 1])} ± {s.fmt(e['std'].iloc[n - 1])}" for k, e in evp.items())
            + " (1 trial: "
            + "; ".join(f"{k} {s.fmt(e['mean'].iloc[0])}" for k, e in evp.items())
            + ")."
        )
    if np.ptp(data.usable[m].to_numpy(dtype=float)) == 0:
        out["importance"] = f"{m} is the same in every finished run, so no parameter explains it."
    elif len(data.importance):
        r = data.importance.iloc[0]
        corr = r["pearson"]
        sign = "no clear" if not np.isfinite(corr) else ("a positive" if corr > 0 else "a negative")
        out["importance"] = (
            f"{r['feature']} matters most for {m} (random-forest importance "
            f"{r['importance']:.2f}) with {sign} linear correlation "
            f"(r = {corr:.2f})."
        )
    else:
        out["importance"] = "Too few runs or no varied parameter: importance is not estimated."
    out["parallel"] = (
        f"Each line is one of {len(data.usable)} finished runs, coloured by {m}; the best run is {top['name']}."
    )
    nf = len(data.failures)
    if nf:
        common = data.failures["reason"].astype(str).value_counts()
        out["failures"] = (
            f"{nf} of {data.counts['total']} runs failed, crashed, were killed or "
            f"pruned; the most common reason ({common.iloc[0]}×) is: "
            f"{common.index[0][:120]}."
        )
    else:
        out["failures"] = f"None of the {data.counts['total']} runs failed."
    sysd = data.system
    if len(sysd) and sysd["peak_gpu_memory_mb"].notna().any():
        g = sysd.groupby("model")["peak_gpu_memory_mb"].max().dropna()
        out["system"] = "Peak GPU memory: " + "; ".join(f"{k} {v:,.0f} MB" for k, v in g.items()) + "."
    elif len(sysd):
        g = sysd.groupby("model")["gpu_util"].mean().dropna()
        out["system"] = "Mean GPU utilisation: " + "; ".join(f"{k} {v:.0f}%" for k, v in g.items()) + "."
    return out
