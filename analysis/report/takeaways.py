"""One sentence per figure, written from the numbers and never claiming more than the CI allows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from agent.states import count_states, describe_counts
from analysis.report.data import ReportData, Scale, fmt_value
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


def _ratio(x: Any, y: Any) -> float | None:
    return x / y if x and y and np.isfinite(x / y) else None


SAME_COST = 1.05  # cost ratios within 5% of 1 are "about the same"


def _price(dear: Mapping[str, Any], cheap: Mapping[str, Any], hours_unit: str) -> str:
    """What the dearer model costs relative to the cheaper: its throughput, parameters and hours, as ratios."""
    parts = []
    for key, what in (("throughput", "throughput"), ("num_parameters", "parameters"), ("hours", hours_unit)):
        r = _ratio(dear.get(key), cheap.get(key))
        if r:
            parts.append(f"{r:.2f}× its {what}" + (" per trial" if key == "hours" else ""))
    return ", ".join(parts) or "a cost it did not record"


def _dearer_is_a(cost_a: Mapping[str, Any], cost_b: Mapping[str, Any]) -> bool | None:
    """Whether a costs more than b: by throughput, else hours per trial, else parameters (None: same cost)."""
    for key, higher_is_dearer in (("throughput", False), ("hours", True), ("num_parameters", True)):
        r = _ratio(cost_a.get(key), cost_b.get(key))
        if r and (r >= SAME_COST or r <= 1 / SAME_COST):
            return (r > 1) == higher_is_dearer
    return None


def tradeoff_sentence(
    d: PairedDifference,
    cost_a: Mapping[str, Any],
    cost_b: Mapping[str, Any],
    scale: Scale,
    *,
    maximize: bool,
    hours_unit: str,
) -> str:
    """What the dearer model buys over the cheaper one, and at what price: "tiny-bert buys 9.6 points
    (95% CI 7.1–12.1; paired t, 8 pairs) over tiny-distilbert, at 0.57× its throughput, 1.74× its
    parameters, 1.70× its wall hours per trial"."""
    a_dear = _dearer_is_a(cost_a, cost_b)
    if a_dear is None:
        return f"{d.a} and {d.b} cost about the same per trial, so the score alone decides between them."
    dear, cheap = (d.a, d.b) if a_dear else (d.b, d.a)
    price = _price(*((cost_a, cost_b) if a_dear else (cost_b, cost_a)), hours_unit)
    if d.low is None or d.high is None or not np.isfinite(d.mean):
        return (
            f"{dear} runs at {price}, relative to {cheap}; with {d.note or 'too few pairs'} its score gain has no CI."
        )
    sign = 1.0 if a_dear else -1.0  # the difference as dear - cheap
    mean, lo, hi = sign * d.mean, *sorted((sign * d.low, sign * d.high))
    how = f"paired t, {d.n_pairs} pairs"
    if not d.significant:
        return (
            f"{dear} scores {scale.fmt(mean, signed=True)} {scale.unit} against {cheap} (95% CI "
            f"{scale.fmt(lo, signed=True)} to {scale.fmt(hi, signed=True)}; {how}; not significant) at {price}: "
            f"at these seeds its extra cost buys no measurable gain."
        )
    lo_abs, hi_abs = sorted((abs(lo), abs(hi)))
    ci = f"95% CI {scale.fmt(lo_abs)}–{scale.fmt(hi_abs)}; {how}"
    if (mean > 0) == maximize:
        return f"{dear} buys {scale.amount(mean)} ({ci}) over {cheap}, at {price}."
    return (
        f"{dear} runs at {price} and is {scale.amount(mean)} worse than {cheap} ({ci}): it buys nothing with its cost."
    )


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


def _fmt_cfg(cfg: Mapping[Any, Any], keys: Iterable[str]) -> str:
    return ", ".join(f"{k}={fmt_value(cfg[k])}" for k in keys if k in cfg)


def _comparison_takeaways(data: ReportData) -> dict[str, str]:
    """The "comparison" and "tradeoff" sentences: each group against the best, in score and in cost."""
    s = data.scale
    if not data.comparisons:
        best = data.per_model[0]
        who = f"Only {best['model']} was run" if data.compare else "All runs form one group"
        run = best["best_run"]
        return {
            "comparison": f"{who}: its best {data.metric} is {s.fmt(run['value'])} (run {run['name']}).",
            "tradeoff": pareto_sentence(data),
        }
    cost = {p["model"]: p["cost"] for p in data.per_model}
    up, unit = data.maximize, data.hours_unit
    trades = [tradeoff_sentence(c, cost[c.a], cost[c.b], s, maximize=up, hours_unit=unit) for c in data.comparisons]
    return {
        "comparison": " ".join(comparison_sentence(c, s, maximize=up) for c in data.comparisons),
        "tradeoff": " ".join(trades) + " " + pareto_sentence(data),
    }


def _leaderboard_sentence(data: ReportData) -> str:
    top = data.leaderboard.iloc[0]
    cfg = f" ({_fmt_cfg(top.to_dict(), data.params)})" if data.params else ""
    return f"The best run is {top['name']} with {data.metric} = {data.scale.fmt(float(top[data.metric]))}{cfg}."


def _heatmap_sentence(data: ReportData) -> str | None:
    if not data.heatmaps or not data.heatmap_axes:
        return None
    lr, bs = data.heatmap_axes
    parts = []
    for model, hm in data.heatmaps.items():
        st = hm.stack().dropna()
        if st.empty:
            continue
        b_, l_ = cast(tuple[Any, Any], st.idxmax() if data.maximize else st.idxmin())
        parts.append(f"{model} peaks at {lr}={l_}, {bs}={b_} ({data.scale.fmt(float(st.loc[(b_, l_)]))})")
    return ("Averaged over seeds, " + "; ".join(parts) + ".") if parts else "The grid has no complete cells."


def _curves_sentence(data: ReportData) -> str | None:
    curves = [(k, c) for k, c in data.curves.items() if not c.empty]
    if not curves:
        return None
    ends = [
        f"{k} ends at {data.scale.fmt(float(c['mean'].iloc[-1]))} (step {c['step'].iloc[-1]:.0f}, "
        f"{int(c['n'].iloc[-1])} seed(s))"
        for k, c in curves
    ]
    return "With its best config, " + "; ".join(ends) + "."


def _evp_sentence(data: ReportData) -> str | None:
    """The expected best after a few trials (its range of outcomes) and after the trials all groups ran,
    then within the time the cheapest group's sweep took."""
    evp = {k: e for k, e in data.evp.items() if len(e)}
    if not evp:
        return None
    s, m = data.scale, data.metric
    n = int(min(e["n"].max() for e in evp.values()))
    few = EVP_FEW if n > EVP_FEW else 1
    at = {k: e.set_index("n") for k, e in evp.items()}  # the curves hold every n up to 200, and n

    def mean(e: pd.DataFrame, trials: int, col: str = "mean") -> str:
        return s.fmt(cast(float, e.at[trials, col]))

    ranges = [
        f"{k} {mean(e, few)} (9 budgets in 10: {mean(e, few, 'low')}–{mean(e, few, 'high')})" for k, e in at.items()
    ]
    text = f"With {few} trial{'s' if few > 1 else ''}, the expected best {m} is " + "; ".join(ranges)
    if n > few:
        text += f"; with {n}: " + "; ".join(f"{k} {mean(e, n)}" for k, e in at.items())
    return text + "." + _evp_time_sentence(data)


def _evp_time_sentence(data: ReportData) -> str:
    timed = {k: e.dropna(subset=["mean"]) for k, e in data.evp_time.items()}
    timed = {k: e for k, e in timed.items() if len(e)}
    if not timed:
        return ""
    budget = min(float(e["budget"].max()) for e in timed.values())
    within = {k: e[e["budget"] <= budget * (1 + 1e-9)] for k, e in timed.items()}
    # A slower model's cheapest trial can cost more than a faster model's whole sweep.
    ends = [
        f"{k} {data.scale.fmt(float(e['mean'].iloc[-1]))}"
        if len(e)
        else f"{k} none (no {k} trial finishes in that time)"
        for k, e in within.items()
    ]
    return f" Given {budget:.3g} {data.hours_unit} (the smallest model's whole sweep), it is " + "; ".join(ends) + "."


def _levels_phrase(data: ReportData, param: str) -> str:
    """ "by level, against the mean of all runs: tiny-bert +4.8, tiny-distilbert -4.8 points" ("" without levels)."""
    lv = data.levels[data.levels["param"] == param] if len(data.levels) else data.levels
    if not len(lv):
        return ""
    s = data.scale
    each = ", ".join(f"{fmt_value(r['level'])} {s.fmt(float(r['effect']), signed=True)}" for _, r in lv.iterrows())
    return f"; by level, against the mean of all runs: {each} {s.unit}"


def _importance_sentence(data: ReportData) -> str:
    m = data.metric
    if np.ptp(data.usable[m].to_numpy(dtype=float)) == 0:
        return f"{m} is the same in every finished run, so no parameter explains it."
    if not len(data.importance):
        return "Too few runs or no varied parameter: importance is not estimated."
    r = data.importance.iloc[0]
    head = (
        f"{r['param']} matters most for {m}: shuffling it lowers a random forest's R² by {r['r2_drop']:.2f} "
        f"({r['importance']:.0%} of all parameters' permutation importance)"
    )
    levels = _levels_phrase(data, str(r["param"]))
    if levels or not np.isfinite(r["pearson"]):
        return head + levels + "."
    sign = "a positive" if r["pearson"] > 0 else "a negative"
    return head + f", with {sign} linear correlation (r = {r['pearson']:.2f})."


def _failures_sentence(data: ReportData) -> str:
    nf, total = len(data.failures), data.counts["total"]
    if not nf:
        return f"None of the {total} runs failed."
    common = data.failures["reason"].astype(str).value_counts()
    states = describe_counts(count_states(data.failures["state"].astype(str)))
    return (
        f"{nf} of {total} runs did not finish ({states}); the most common reason ({common.iloc[0]}×) is: "
        f"{str(common.index[0])[:120]}."
    )


def _system_sentence(data: ReportData) -> str | None:
    sysd = data.system
    if len(sysd) and sysd["peak_gpu_memory_mb"].notna().any():
        g = sysd.groupby("model")["peak_gpu_memory_mb"].max().dropna()
        return "Peak GPU memory: " + "; ".join(f"{k} {v:,.0f} MB" for k, v in g.items()) + "."
    if len(sysd):
        g = sysd.groupby("model")["gpu_util"].mean().dropna()
        return "Mean GPU utilisation: " + "; ".join(f"{k} {v:.0f}%" for k, v in g.items()) + "."
    return None


def takeaways_for(data: ReportData) -> dict[str, str]:
    """One sentence per figure (the last stage of build_report); a figure that is not drawn has none."""
    top = data.leaderboard.iloc[0]
    parallel = (
        f"Each line is one of {len(data.usable)} finished runs, coloured by {data.metric}; "
        f"the best run is {top['name']}."
    )
    sentences = {
        "leaderboard": _leaderboard_sentence(data),
        "heatmap": _heatmap_sentence(data),
        "curves": _curves_sentence(data),
        "evp": _evp_sentence(data),
        "importance": _importance_sentence(data),
        "parallel": parallel,
        "failures": _failures_sentence(data),
        "system": _system_sentence(data),
    }
    return _comparison_takeaways(data) | {k: v for k, v in sentences.items() if v is not None}
