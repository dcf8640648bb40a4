"""The re-test in the report: a re-test sweep analysed beside the report's sweep, and its sentence.

The numbers are `analysis.stats.retest`'s; this writes what they say, never more than the CIs allow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from agent.states import RunState
from analysis.report.data import ReportData, ReportError, Scale
from analysis.stats.retest import RetestResult, RetestRow, analyze_retest


def _optimism_sentence(win: RetestRow, s: Scale) -> str:
    if win.mean is None or win.sweep_best is None:
        return ""
    head = f"The sweep's best config ({win.label}) scored {s.fmt(win.sweep_best)} in the sweep and {s.fmt(win.mean)}"
    lo, hi, opt = win.optimism_low, win.optimism_high, win.optimism
    if win.low is None or win.high is None or lo is None or hi is None or opt is None:
        return f"{head} on re-test, with too few seeds for an interval."
    sig = "" if lo > 0 or hi < 0 else ", an interval that includes 0"
    return (
        f"{head} (95% CI {s.fmt(win.low)}–{s.fmt(win.high)}) over {win.seeds} fresh seeds: the sweep's best was "
        f"{s.amount(opt)} {'optimistic' if opt > 0 else 'pessimistic'} "
        f"(95% CI {s.fmt(lo, signed=True)} to {s.fmt(hi, signed=True)}{sig})."
    )


def _pick_sentence(res: RetestResult, done: list[RetestRow], s: Scale) -> str:
    pick = next(r for r in done if r.label == res.pick)
    ci = f" (95% CI {s.fmt(pick.low)}–{s.fmt(pick.high)})" if pick.low is not None else ""
    line = f"Pick {res.pick}: the best re-test mean, {s.fmt(pick.mean)}{ci}"
    lead = res.lead
    if lead is None or lead.low is None or lead.high is None:
        return line + "."
    how = f"paired t over {lead.n_pairs} seeds"
    if lead.significant:
        lo, hi = sorted((abs(lead.low), abs(lead.high)))
        return line + f"; its lead over {lead.b} is {s.amount(lead.mean)} (95% CI {s.fmt(lo)}–{s.fmt(hi)}; {how})."
    runner = next(r for r in done if r.label == lead.b)
    return line + (
        f"; its lead over {lead.b} ({s.fmt(lead.mean, signed=True)}, 95% CI {s.fmt(lead.low, signed=True)} to "
        f"{s.fmt(lead.high, signed=True)}, {how}) is not significant: at these seeds the two are tied"
        f"{_cheaper(pick, runner, res.hours_unit)}."
    )


def takeaway(res: RetestResult, s: Scale, *, maximize: bool) -> str:
    done = [r for r in res.rows if r.mean is not None]
    if not done:
        return f"The re-test {res.retest_id} has no finished run yet."
    parts = [_optimism_sentence(res.rows[0], s)]
    if res.spearman is not None:
        parts.append(
            f"The sweep's ranking of the top {len(done)} has Spearman rank correlation {res.spearman:.2f} "
            f"with the re-test's."
        )
    elif len(done) == 2 and done[0].sweep_rank == 1:
        parts.append(f"The re-test {'keeps' if done[0].retest_rank == 1 else 'reverses'} the sweep's order of the two.")
    if res.p_winner_holds is not None:
        parts.append(f"P(the sweep's winner is the re-test's winner) = {res.p_winner_holds:.2f}.")
    if res.pick is not None:
        parts.append(_pick_sentence(res, done, s))
    return " ".join(p for p in parts if p)


def _cheaper(a: RetestRow, b: RetestRow, unit: str) -> str:
    if not a.hours or not b.hours:
        return ""
    (cheap, ch), (_, dh) = sorted(((a, a.hours), (b, b.hours)), key=lambda pair: pair[1])
    ratio = dh / ch
    if ratio < 1.05:
        return ", at about the same cost"
    return f", and {cheap.label} costs {ratio:.1f}× fewer {unit} per trial"


def attach_retest(
    data: ReportData, retest_runs: pd.DataFrame, retest_config: dict[str, Any], *, retest_id: str, seed_key: str
) -> None:
    """Analyse a re-test of the report's sweep into `data.retest` and its takeaway."""
    runs = retest_runs.copy()
    if data.metric not in runs:
        raise ReportError(f"re-test {retest_id} has no run that logged {data.metric} yet; run its agent first")
    runs[data.metric] = pd.to_numeric(runs[data.metric], errors="coerce")
    done = runs[(runs["state"].astype(str) == RunState.FINISHED) & np.isfinite(runs[data.metric].to_numpy(dtype=float))]
    res = analyze_retest(
        data.usable,
        done,
        retest_config,
        retest_id=retest_id,
        metric=data.metric,
        maximize=data.maximize,
        seed_key=seed_key,
        bounds=data.bounds,
    )
    res.takeaway = takeaway(res, data.scale, maximize=data.maximize)
    if (runs["state"].astype(str) == RunState.RUNNING).any():
        res.messages.append("Some re-test runs are still running; rerun the report when the re-test finishes.")
    data.retest = res
    data.takeaways["retest"] = res.takeaway
