"""One sentence per figure, written from the numbers and never claiming more than the CI allows."""

from __future__ import annotations

import numpy as np

from analysis.report.data import ReportData, Scale
from analysis.stats.compare import PairedDifference

EVP_FEW = 5  # the small budget the EVP takeaway states, with its range of outcomes


def _p(p: float | None) -> str:
    return "n/a" if p is None else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")


def power_sentence(d: PairedDifference, scale: Scale) -> str:
    """Plainly: what these pairs could have detected, and what it would take; "" when not needed."""
    out = []
    if not d.significant and d.detectable is not None:
        more = (
            f"; about {d.seeds_needed} seeds per config would detect one of {scale.amount(d.mean)}"
            if (d.seeds_needed and d.mean != 0)
            else ""
        )
        if d.underpowered:
            out.append(
                f"Underpowered: with this spread, {d.n_pairs} pairs detect only differences of "
                f"{scale.amount(d.detectable)} or more with 80% power (paired-t approximation){more}."
            )
    if d.n_pairs and d.n_pairs < d.min_pairs_sign_flip:
        seeds = d.seeds_for_sign_flip or d.min_pairs_sign_flip
        out.append(
            f"{d.n_pairs} pairs cannot show a difference at 95% without assuming normal differences: the exact "
            f"sign-flip test needs at least {d.min_pairs_sign_flip} pairs; run at least {seeds} seeds."
        )
    elif d.sign_flip_p is not None and d.significant and d.sign_flip_p >= 1 - d.confidence:
        out.append(f"The distribution-free sign-flip test does not confirm it ({_p(d.sign_flip_p)}).")
    return " ".join(out)


def comparison_sentence(d: PairedDifference, scale: Scale, *, maximize: bool) -> str:
    """ "A is 1.2 points (95% CI 0.4–2.0; paired t, p = 0.004, 12 pairs) below B (worse)", or why no claim."""
    a, b = d.a, d.b
    if d.n_pairs == 0:
        return f"{a} and {b} share no matched (parameters, seed) cells, so they are not compared."
    side = "above" if d.mean > 0 else "below"
    if d.low is None or d.high is None:
        return (
            f"{a} is {scale.amount(d.mean)} {side} {b} on average over {d.n_pairs} matched "
            f"cell(s), but with {d.note or 'too few pairs'} there is no confidence interval, so no "
            f"winner is claimed."
        )
    pct = f"{round(d.confidence * 100):d}%"
    how = f"paired t, {_p(d.p_value)}, {d.n_pairs} pairs"
    if not d.significant:
        head = (
            f"{a} and {b} differ by {scale.fmt(d.mean, signed=True)} {scale.unit} "
            f"({pct} CI {scale.fmt(d.low, signed=True)} to {scale.fmt(d.high, signed=True)}; {how}): "
            f"not significant."
        )
    else:
        lo, hi = (d.low, d.high) if d.mean > 0 else (-d.high, -d.low)
        verdict = "better" if (d.mean > 0) == maximize else "worse"
        head = (
            f"{a} is {scale.amount(d.mean)} ({pct} CI {scale.fmt(lo)}–{scale.fmt(hi)}; {how}) {side} {b} ({verdict})."
        )
    tail = power_sentence(d, scale)
    return f"{head} {tail}".strip()


def _ratio(x, y) -> float | None:
    return x / y if x and y and np.isfinite(x / y) else None


def tradeoff_sentence(
    d: PairedDifference, cost_a: dict, cost_b: dict, scale: Scale, *, maximize: bool, hours_unit: str
) -> str:
    """ "<a> gives up X points (95% CI) for Y× the throughput / Z× fewer parameters" than b."""
    parts = []
    tp = _ratio(cost_a.get("throughput"), cost_b.get("throughput"))
    if tp:
        parts.append(f"{tp:.1f}× the throughput")
    for key, what in (("num_parameters", "parameters"), ("hours", hours_unit + " per trial")):
        r = _ratio(cost_b.get(key), cost_a.get(key))
        if r and r >= 1.05:
            parts.append(f"{r:.1f}× fewer {what}")
        elif r and r <= 1 / 1.05:
            parts.append(f"{1 / r:.1f}× more {what}")
    price = " / ".join(parts) or "about the same cost"
    if d.low is None or d.high is None or not np.isfinite(d.mean):
        why = d.note or "too few pairs"
        return f"{d.a} runs at {price}, relative to {d.b}; with {why} its score difference has no CI."
    worse = (d.mean < 0) == maximize
    lo, hi = sorted((abs(d.low), abs(d.high))) if d.significant else (None, None)
    ci = (
        f"95% CI {scale.fmt(lo)}–{scale.fmt(hi)}"
        if d.significant
        else f"95% CI {scale.fmt(d.low, signed=True)} to {scale.fmt(d.high, signed=True)}, not significant"
    )
    hours = _ratio(cost_b.get("hours"), cost_a.get("hours"))
    cheaper = bool((tp and tp >= 1.05) or (hours and hours >= 1.05))
    dearer = bool((tp and tp <= 1 / 1.05) or (hours and hours <= 1 / 1.05)) and not cheaper
    if worse and not cheaper:
        tail = f"{d.b} is ahead on both" if dearer and d.significant else f"{d.a} buys nothing with it"
        return f"{d.a} gives up {scale.amount(d.mean)} ({ci}) at {price}, relative to {d.b}: {tail}."
    verb = "gives up" if worse else "gains"
    return f"{d.a} {verb} {scale.amount(d.mean)} ({ci}) for {price}, relative to {d.b}."


def pareto_sentence(data: ReportData) -> str:
    cc = data.config_costs
    if cc.empty or "hours" not in cc or cc["hours"].isna().all():
        return "No run recorded its wall time, so no config is set against cost."
    front = cc[cc["pareto"]].sort_values("hours")
    s = data.scale
    label = (lambda r: str(r["model"])) if "model" in cc else (lambda r: "config")
    cfg = [k for k in data.params if k in cc and k != data.compare]
    pts = "; ".join(
        f"{label(r)}{' (' + _fmt_cfg(r.to_dict(), cfg) + ')' if cfg else ''} {s.fmt(r['mean'])} at "
        f"{r['hours']:.3g} {data.hours_unit}"
        for _, r in front.head(4).iterrows()
    )
    more = f" and {len(front) - 4} more" if len(front) > 4 else ""
    verb = "is" if len(front) == 1 else "are"
    return (
        f"{len(front)} of {len(cc)} configs {verb} on the Pareto front of {data.metric} against {data.hours_unit} "
        f"per trial (no other config is both better and cheaper): {pts}{more}."
    )


def _fmt_cfg(cfg: dict, keys) -> str:
    return ", ".join(f"{k}={cfg[k]}" for k in keys if k in cfg)


def takeaways_for(data: ReportData) -> dict[str, str]:
    s, m = data.scale, data.metric
    out: dict[str, str] = {}
    pm = {p["model"]: p for p in data.per_model}
    best = data.per_model[0]
    if data.comparisons:
        out["comparison"] = " ".join(comparison_sentence(c, s, maximize=data.maximize) for c in data.comparisons)
        out["tradeoff"] = (
            " ".join(
                tradeoff_sentence(
                    c, pm[c.a]["cost"], pm[c.b]["cost"], s, maximize=data.maximize, hours_unit=data.hours_unit
                )
                for c in data.comparisons
            )
            + " "
            + pareto_sentence(data)
        )
    else:
        who = f"Only {best['model']} was run" if data.compare else "All runs form one group"
        out["comparison"] = (
            f"{who}: its best {m} is {s.fmt(best['best_run']['value'])} (run {best['best_run']['name']})."
        )
        out["tradeoff"] = pareto_sentence(data)
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
        n = int(min(e["n"].max() for e in evp.values()))
        few = EVP_FEW if n > EVP_FEW else 1
        at = {k: e.set_index("n") for k, e in evp.items()}  # the curves hold every n up to 200, and n
        out["evp"] = (
            f"With {few} trial{'s' if few > 1 else ''}, the expected best {m} is "
            + "; ".join(
                f"{k} {s.fmt(e.at[few, 'mean'])} (9 budgets in 10: {s.fmt(e.at[few, 'low'])}–"
                f"{s.fmt(e.at[few, 'high'])})"
                for k, e in at.items()
            )
            + (f"; with {n}: " + "; ".join(f"{k} {s.fmt(e.at[n, 'mean'])}" for k, e in at.items()) if n > few else "")
            + "."
        )
        timed = {k: e.dropna(subset=["mean"]) for k, e in data.evp_time.items()}
        timed = {k: e for k, e in timed.items() if len(e)}
        if timed:
            budget = min(float(e["budget"].max()) for e in timed.values())
            within = {k: e[e["budget"] <= budget * (1 + 1e-9)] for k, e in timed.items()}
            # A slower model's cheapest trial can cost more than a faster model's whole sweep.
            out["evp"] += (
                f" Given {budget:.3g} {data.hours_unit} (the smallest model's whole sweep), it is "
                + "; ".join(
                    f"{k} {s.fmt(e['mean'].iloc[-1])}" if len(e) else f"{k} none (no {k} trial finishes in that time)"
                    for k, e in within.items()
                )
                + "."
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
