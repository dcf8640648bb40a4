"""The re-test of a sweep's winners: how much of each best score was luck, and which config to pick.

Per config re-tested (a sweep's top K, on N seeds the sweep never used):
- the sweep's best score, the number a sweep reports and a reader would quote;
- the re-test mean and its 95% t-interval over the N seeds (calibrated at 2 or 3 seeds);
- the optimism of the sweep's best: best - re-test mean (in the metric's better direction, so
  positive means the sweep flattered it), whose interval is the best minus the re-test interval:
  the best is a fixed, observed number and only the re-test mean is uncertain.
Across configs:
- Spearman's rank correlation between the sweep's ranking and the re-test's means;
- P(the sweep's winner is the re-test's winner): each config's true mean drawn from its
  t-distribution (mean, s/sqrt(n), n-1 df), 20,000 draws, seeded. Draws are independent, which
  ignores that configs share seeds: conservative when seeds move every config alike.
- the config to pick: the best re-test mean, and whether its lead over the runner-up holds
  (paired t over the shared seeds).

Pure: tables in, a `RetestResult` out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from agent.sweep_config.retest import CANDIDATE, candidate_configs, fixed_values
from analysis import compare as paired
from analysis import cost, tidy
from analysis.data import Scale

N_DRAWS = 20_000


@dataclass
class RetestRow:
    config: dict[str, Any]
    label: str
    sweep_rank: int
    sweep_best: float | None
    sweep_runs: int
    seeds: int
    mean: float | None = None
    low: float | None = None
    high: float | None = None
    optimism: float | None = None
    optimism_low: float | None = None
    optimism_high: float | None = None
    retest_rank: int | None = None
    hours: float | None = None  # mean cost of one re-test trial (GPU-hours, or wall hours on CPU)


@dataclass
class RetestResult:
    retest_id: str
    seed_key: str
    rows: list[RetestRow]
    spearman: float | None
    p_winner_holds: float | None
    pick: str | None
    lead: paired.PairedDifference | None
    messages: list[str] = field(default_factory=list)
    takeaway: str = ""
    hours_unit: str = "wall hours"
    method: str = (
        "re-test mean: t-interval over seeds; optimism: sweep best - re-test mean; P(winner holds): "
        "t-distribution draws of each mean; lead: paired t over shared seeds"
    )

    def to_json(self) -> dict:
        out = asdict(self)
        out["lead"] = self.lead.to_json() if self.lead is not None else None
        return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float, np.integer, np.floating)) and isinstance(b, (int, float, np.integer, np.floating)):
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b or a == b and type(a) is type(b)
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-15)
    return str(a) == str(b)


def _matches(runs: pd.DataFrame, config: dict[str, Any]) -> pd.Series:
    mask = pd.Series(True, index=runs.index)
    for k, v in config.items():
        col = runs[k] if k in runs else pd.Series(None, index=runs.index, dtype=object)
        mask &= col.map(lambda x, v=v: x is not None and not (isinstance(x, float) and math.isnan(x)) and _same(x, v))
    return mask


def _flat_candidate(runs: pd.DataFrame) -> pd.DataFrame:
    """A re-test run's `candidate.<key>` columns as plain `<key>` columns, where those are missing."""
    out = runs.copy()
    prefix = CANDIDATE + "."
    for c in [c for c in out.columns if c.startswith(prefix)]:
        k = c[len(prefix) :]
        out[k] = out[c] if k not in out else out[k].where(out[k].notna(), out[c])
    return out


def _label(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items()) or "the sweep's config"


def analyze_retest(
    sweep_runs: pd.DataFrame,
    retest_runs: pd.DataFrame,
    retest_config: dict,
    *,
    retest_id: str,
    metric: str,
    maximize: bool,
    seed_key: str,
    scale: Scale,
    seed: int = 0,
) -> RetestResult:
    """`sweep_runs` / `retest_runs`: finished runs with a finite metric (tidy run tables)."""
    configs = candidate_configs(retest_config, seed_key)
    fixed = tidy.flatten(fixed_values(retest_config, seed_key))
    sign = 1.0 if maximize else -1.0
    retest_runs = cost.with_cost(_flat_candidate(retest_runs))
    rows, per_seed = [], {}
    for rank, cfg in enumerate(configs, start=1):
        whole = {**fixed, **tidy.flatten(cfg)}
        mine = sweep_runs[_matches(sweep_runs, whole)][metric].astype(float)
        theirs = retest_runs[_matches(retest_runs, whole)]
        values = theirs[metric].astype(float)
        best = float(mine.max() if maximize else mine.min()) if len(mine) else None
        row = RetestRow(cfg, _label(cfg), rank, best, int(len(mine)), int(values.notna().sum()))
        hours = pd.to_numeric(theirs["cost_hours"], errors="coerce").mean()
        row.hours = float(hours) if np.isfinite(hours) else None
        if seed_key in theirs:
            per_seed[rank] = theirs.groupby(theirs[seed_key].astype(str))[metric].mean()
        ti = paired.t_interval(values)
        if len(values):
            row.mean = float(values.mean())
        if ti is not None:
            row.mean, row.low, row.high = ti
        if best is not None and row.mean is not None:
            row.optimism = sign * (best - row.mean)
            if row.low is not None and row.high is not None:
                row.optimism_low, row.optimism_high = sorted((sign * (best - row.high), sign * (best - row.low)))
        rows.append(row)
    done = [r for r in rows if r.mean is not None]

    def worse_first(r: RetestRow) -> float:  # sort key: the best re-test mean first
        return -sign * (r.mean if r.mean is not None else math.nan)

    for i, r in enumerate(sorted(done, key=worse_first), start=1):
        r.retest_rank = i
    msgs = []
    if len(done) < len(rows):
        msgs.append(f"{len(rows) - len(done)} re-tested config(s) have no finished re-test run yet.")
    spearman = None
    ranked = [r for r in done if r.sweep_best is not None]
    if len(ranked) >= 3:
        spearman = float(sps.spearmanr([r.sweep_best for r in ranked], [r.mean for r in ranked]).statistic)
        if not math.isfinite(spearman):
            spearman = None
    p_hold = _p_winner_holds(rows, sign, seed)
    pick_row = min(done, key=worse_first) if done else None
    lead = None
    if pick_row is not None and len(done) > 1:
        runner = sorted(done, key=worse_first)[1]
        a, b = per_seed.get(pick_row.sweep_rank), per_seed.get(runner.sweep_rank)
        if a is not None and b is not None:
            both = pd.concat([a, b], axis=1, join="inner").dropna()
            lead = paired.paired_difference(
                (both.iloc[:, 0] - both.iloc[:, 1]).to_numpy(), a=pick_row.label, b=runner.label, maximize=maximize
            )
    if fixed:
        msgs.append("Every re-tested config has " + _label(fixed) + ".")
    res = RetestResult(retest_id, seed_key, rows, spearman, p_hold, pick_row.label if pick_row else None, lead, msgs)
    res.hours_unit = cost.hours_unit(retest_runs)
    res.takeaway = takeaway(res, scale, maximize=maximize)
    return res


def _p_winner_holds(rows: list[RetestRow], sign: float, seed: int) -> float | None:
    """P(the sweep's rank-1 config has the best true re-test mean), by t draws of each mean."""
    usable = [(r.sweep_rank, r.mean, r.high, r.seeds) for r in rows if r.mean is not None and r.high is not None]
    if len(usable) < 2 or usable[0][0] != 1:
        return None
    rng = np.random.default_rng(seed)
    draws = []
    for _, mean, high, seeds in usable:
        se = (high - mean) / sps.t.ppf(0.975, seeds - 1)
        draws.append(sign * (mean + se * rng.standard_t(seeds - 1, N_DRAWS)))
    d = np.vstack(draws)
    return float(np.mean(np.argmax(d, axis=0) == 0))


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


def attach_retest(data, retest_runs: pd.DataFrame, retest_config: dict, *, retest_id: str, seed_key: str) -> None:
    """Analyse a re-test of the report's sweep into `data.retest` and its takeaway."""
    from analysis.data import ReportError

    runs = retest_runs.copy()
    if data.metric not in runs:
        raise ReportError(f"re-test {retest_id} has no run that logged {data.metric} yet; run its agent first")
    runs[data.metric] = pd.to_numeric(runs[data.metric], errors="coerce")
    done = runs[(runs["state"].astype(str) == "finished") & np.isfinite(runs[data.metric].to_numpy(dtype=float))]
    res = analyze_retest(
        data.usable,
        done,
        retest_config,
        retest_id=retest_id,
        metric=data.metric,
        maximize=data.maximize,
        seed_key=seed_key,
        scale=data.scale,
    )
    if (runs["state"].astype(str) == "running").any():
        res.messages.append("Some re-test runs are still running; rerun the report when the re-test finishes.")
    data.retest = res
    data.takeaways["retest"] = res.takeaway
