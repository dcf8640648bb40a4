"""The re-test of a sweep's winners: how much of each best score was luck, and which config to pick.

Per config re-tested (a sweep's top K, on N seeds the sweep never used):
- the sweep's best score, the number a sweep reports and a reader would quote;
- the re-test mean and its 95% t-interval over the N seeds (calibrated at 2 or 3 seeds; within the
  metric's bounds, `intervals.mean_interval`);
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

Pure: tables in, a `RetestResult` out; its takeaway sentence is the report's (`analysis.report.retest`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from agent.sweep_config.metric import UNBOUNDED, Bounds
from agent.sweep_config.retest import CANDIDATE, candidate_configs, fixed_values
from analysis.stats import compare as paired
from analysis.stats import cost
from analysis.stats.arrays import floats, numeric
from analysis.stats.intervals import mean_interval
from analysis.tables import tidy

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
    se: float | None = None  # standard error of the re-test mean, s / sqrt(n)


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
    takeaway: str = ""  # the report's sentence about it (analysis.report.retest), kept beside the numbers
    hours_unit: str = "wall hours"
    method: str = (
        "re-test mean: t-interval over seeds; optimism: sweep best - re-test mean; P(winner holds): "
        "t-distribution draws of each mean; lead: paired t over shared seeds"
    )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["lead"] = self.lead.to_json() if self.lead is not None else None
        return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float, np.integer, np.floating)) and isinstance(b, (int, float, np.integer, np.floating)):
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b or a == b and type(a) is type(b)
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-15)
    return str(a) == str(b)


def _present(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _matches(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.Series:
    mask = pd.Series(True, index=runs.index)
    for k, v in config.items():
        col = runs[k] if k in runs else pd.Series(None, index=runs.index, dtype=object)
        mask &= col.map(lambda x, v=v: _present(x) and _same(x, v))
    return mask


def _flat_candidate(runs: pd.DataFrame) -> pd.DataFrame:
    """A re-test run's `candidate.<key>` columns as plain `<key>` columns, where those are missing."""
    out = runs.copy()
    prefix = CANDIDATE + "."
    for c in [c for c in out.columns if c.startswith(prefix)]:
        k = c[len(prefix) :]
        out[k] = out[c] if k not in out else out[k].where(out[k].notna(), out[c])
    return out


def label(config: Mapping[str, Any]) -> str:
    """A config as the report names it: "lr=0.1, batch=32"."""
    return ", ".join(f"{k}={v}" for k, v in config.items()) or "the sweep's config"


def _retest_row(
    rank: int,
    cfg: dict[str, Any],
    sweep: pd.Series,
    retest: pd.DataFrame,
    *,
    metric: str,
    maximize: bool,
    bounds: Bounds = UNBOUNDED,
) -> RetestRow:
    """One re-tested config: its sweep best (`sweep`: its sweep runs' metric), re-test mean and optimism."""
    values = retest[metric].astype(float)
    best = float(sweep.max() if maximize else sweep.min()) if len(sweep) else None
    row = RetestRow(cfg, label(cfg), rank, best, int(len(sweep)), int(values.notna().sum()))
    hours = float(numeric(retest["cost_hours"]).mean())
    row.hours = hours if np.isfinite(hours) else None
    ti = mean_interval(floats(values), bounds)
    if len(values):
        row.mean = float(values.mean())
    if ti is not None:
        row.mean, row.low, row.high = ti
        row.se = float(values.std(ddof=1) / math.sqrt(values.notna().sum()))
    sign = 1.0 if maximize else -1.0
    if best is not None and row.mean is not None:
        row.optimism = sign * (best - row.mean)
        if row.low is not None and row.high is not None:
            row.optimism_low, row.optimism_high = sorted((sign * (best - row.high), sign * (best - row.low)))
    return row


def _spearman(done: list[RetestRow]) -> float | None:
    """Rank correlation of the sweep's best and the re-test mean (None below 3 configs or when undefined)."""
    ranked = [(r.sweep_best, r.mean) for r in done if r.sweep_best is not None]
    if len(ranked) < 3:
        return None
    rho = float(sps.spearmanr([b for b, _ in ranked], [m for _, m in ranked]).statistic)
    return rho if math.isfinite(rho) else None


def _lead(order: list[RetestRow], per_seed: dict[int, pd.Series], *, maximize: bool) -> paired.PairedDifference | None:
    """The pick's lead over the runner-up: paired t over the seeds both were re-tested on."""
    if len(order) < 2:
        return None
    pick, runner = order[0], order[1]
    a, b = per_seed.get(pick.sweep_rank), per_seed.get(runner.sweep_rank)
    if a is None or b is None:
        return None
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    diffs = floats(both.iloc[:, 0] - both.iloc[:, 1])
    return paired.paired_difference(diffs, a=pick.label, b=runner.label, maximize=maximize)


def analyze_retest(
    sweep_runs: pd.DataFrame,
    retest_runs: pd.DataFrame,
    retest_config: Mapping[str, Any],
    *,
    retest_id: str,
    metric: str,
    maximize: bool,
    seed_key: str,
    seed: int = 0,
    bounds: Bounds = UNBOUNDED,
) -> RetestResult:
    """`sweep_runs` / `retest_runs`: finished runs with a finite metric (tidy run tables); `bounds`:
    what the metric can be, which the re-test means' intervals keep to."""
    fixed = tidy.flatten(fixed_values(retest_config, seed_key))
    sign = 1.0 if maximize else -1.0
    retest_runs = cost.with_cost(_flat_candidate(retest_runs))
    rows: list[RetestRow] = []
    per_seed: dict[int, pd.Series] = {}
    for rank, cfg in enumerate(candidate_configs(retest_config, seed_key), start=1):
        whole = {**fixed, **tidy.flatten(cfg)}
        theirs = retest_runs[_matches(retest_runs, whole)]
        mine = sweep_runs[_matches(sweep_runs, whole)][metric].astype(float)
        rows.append(_retest_row(rank, cfg, mine, theirs, metric=metric, maximize=maximize, bounds=bounds))
        if seed_key in theirs:
            per_seed[rank] = theirs.groupby(theirs[seed_key].astype(str))[metric].mean()
    done = [r for r in rows if r.mean is not None]
    order = sorted(done, key=lambda r: -sign * (r.mean if r.mean is not None else math.nan))  # best mean first
    for i, r in enumerate(order, start=1):
        r.retest_rank = i
    msgs = []
    if len(done) < len(rows):
        msgs.append(f"{len(rows) - len(done)} re-tested config(s) have no finished re-test run yet.")
    if fixed:
        msgs.append("Every re-tested config has " + label(fixed) + ".")
    pick = order[0].label if order else None
    lead = _lead(order, per_seed, maximize=maximize)
    res = RetestResult(retest_id, seed_key, rows, _spearman(done), _p_winner_holds(rows, sign, seed), pick, lead, msgs)
    res.hours_unit = cost.hours_unit(retest_runs)
    return res


def _p_winner_holds(rows: list[RetestRow], sign: float, seed: int) -> float | None:
    """P(the sweep's rank-1 config has the best true re-test mean), by t draws of each mean."""
    usable = [(r.sweep_rank, r.mean, r.se, r.seeds) for r in rows if r.mean is not None and r.se is not None]
    if len(usable) < 2 or usable[0][0] != 1:
        return None
    rng = np.random.default_rng(seed)
    draws = []
    for _, mean, se, seeds in usable:
        draws.append(sign * (mean + se * rng.standard_t(seeds - 1, N_DRAWS)))
    d = np.vstack(draws)
    return float(np.mean(np.argmax(d, axis=0) == 0))
