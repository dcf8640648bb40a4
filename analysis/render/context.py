"""What the report templates show: ReportData's tables, scaled for display and cut to a readable size."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from agent.paths import run_page
from analysis.render.cells import fmt_num
from analysis.render.figures import FIGURES
from analysis.report.data import ReportData, fmt_value

CELL_STATS = ("mean", "std", "low", "high", "seeds")
MAX_TABLE_ROWS = 200


def table(df: pd.DataFrame, limit: int = MAX_TABLE_ROWS) -> dict[str, Any]:
    """A table for a template: its columns, its first `limit` rows, and how many more there are."""
    shown = df.head(limit)
    return {"columns": list(shown.columns), "rows": shown.to_dict(orient="records"), "more": max(0, len(df) - limit)}


def _with_n(low: Any, high: Any, n: Any, f: float) -> str:
    """An interval as a table states it: with the n it rests on."""
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return f"n/a (n={n})" if n is not None else "n/a"
    return f"{fmt_num(low * f)} to {fmt_num(high * f)} (n={n})"


def _per_model_rows(d: ReportData) -> list[dict[str, Any]]:
    f = d.scale.factor
    means = d.model_means.set_index("model") if len(d.model_means) else pd.DataFrame()
    rows = []
    for pm in d.per_model:
        bc, c = pm["best_config"] or {}, pm["cost"]
        mm = means.loc[pm["model"]] if pm["model"] in means.index else None
        rows.append(
            {
                "model": pm["model"],
                "runs": pm["runs"],
                "best run": pm["best_run"]["name"],
                "best value": pm["best_run"]["value"] * f,
                "mean (shared cells)": np.nan if mm is None else mm["mean"] * f,
                "its 95% CI": "n/a" if mm is None else _with_n(mm["low"], mm["high"], f"{mm['n']} {mm['unit']}", f),
                "best config": ", ".join(
                    f"{k}={fmt_value(v)}" for k, v in bc.items() if k not in CELL_STATS and k != d.compare
                ),
                "best config mean": bc.get("mean", np.nan) * f,
                "best config 95% CI": _with_n(bc.get("low"), bc.get("high"), bc.get("seeds"), f),
                f"{d.hours_unit}/trial": c["hours"],
                "wall s/trial": c["wall_s"],
                "samples/s": c["throughput"],
                "parameters": int(c["num_parameters"]) if c["num_parameters"] else None,
                "peak GPU MB": c["peak_gpu_memory_mb"],
            }
        )
    return rows


def _scaled_or_none(v: float | None, f: float) -> float | None:
    return None if v is None else v * f


def _comparison_rows(d: ReportData) -> list[dict[str, Any]]:
    f = d.scale.factor
    return [
        {
            "a": c.a,
            "b": c.b,
            "mean": c.mean * f,
            "low": _scaled_or_none(c.low, f),
            "high": _scaled_or_none(c.high, f),
            "pairs": c.n_pairs,
            "p": c.p_value,
            "sign_flip_p": c.sign_flip_p,
            "significant": c.significant,
            "detectable": _scaled_or_none(c.detectable, f),
            "seeds_needed": c.seeds_needed,
            "underpowered": c.underpowered,
            "note": c.note,
            "method": c.method,
        }
        for c in d.comparisons
    ]


def _interval(low: float | None, high: float | None, f: float) -> str:
    return "n/a" if low is None or high is None else f"{fmt_num(low * f)} to {fmt_num(high * f)}"


def retest_context(d: ReportData) -> dict[str, Any] | None:
    """The re-test table, scaled for display; None without a re-test."""
    if d.retest is None:
        return None
    f = d.scale.factor
    rows = [
        {
            "sweep rank": r.sweep_rank,
            "config": r.label,
            "sweep best": _scaled_or_none(r.sweep_best, f),
            "sweep runs": r.sweep_runs,
            "re-test mean": _scaled_or_none(r.mean, f),
            "95% CI": _interval(r.low, r.high, f),
            "seeds": r.seeds,
            "optimism": _scaled_or_none(r.optimism, f),
            "optimism 95% CI": _interval(r.optimism_low, r.optimism_high, f),
            "re-test rank": r.retest_rank,
        }
        for r in d.retest.rows
    ]
    return {
        "id": d.retest.retest_id,
        "table": table(pd.DataFrame(rows)),
        "messages": d.retest.messages,
        "method": d.retest.method,
    }


def _scaled(df: pd.DataFrame, cols: Iterable[str], factor: float) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        if c in out:
            out[c] = out[c] * factor
    return out


def report_context(d: ReportData) -> dict[str, Any]:
    """Everything report.html.j2 and report.md.j2 show besides the figures."""
    lb = d.leaderboard.copy()
    lb[d.metric] = lb[d.metric] * d.scale.factor
    lb["page"] = [run_page(str(r)) for r in lb["run_id"]]
    costs = _scaled(d.config_costs, ("mean", "std", "low", "high"), d.scale.factor).rename(
        columns={
            "hours": f"{d.hours_unit}/trial",
            "wall_s": "wall s/trial",
            "throughput": "samples/s",
            "num_parameters": "parameters",
            "peak_gpu_memory_mb": "peak GPU MB",
        }
    )
    if "pareto" in costs:
        costs["pareto"] = costs["pareto"].map({True: "yes", False: ""})
    return {
        "d": d,
        "per_model": table(pd.DataFrame(_per_model_rows(d))),
        "comparisons": _comparison_rows(d),
        "cells": table(_scaled(d.cells, ("mean", "std", "low", "high"), d.scale.factor).rename(columns={"count": "n"})),
        "costs": table(costs),
        "leaderboard": lb.to_dict(orient="records"),
        "lb_columns": [c for c in lb.columns if c not in ("run_id", "url", "name", "page")],
        "failures": table(d.failures),
        "goal": "maximize" if d.maximize else "minimize",
        "figure_titles": {k: t for k, t, _ in FIGURES},
        "retest": retest_context(d),
        "notes": figure_notes(d),
    }


def figure_notes(d: ReportData) -> dict[str, str]:
    """What each figure draws, in words: which interval, or the seeds instead, and on which scale."""
    n = int(d.model_means["n"].min()) if len(d.model_means) else 0
    unit = str(d.model_means["unit"].iloc[0]) if len(d.model_means) else "seeds"
    few = n < d.band_min_seeds
    over = str(d.model_means["over"].iloc[0]) if len(d.model_means) else "all its runs"
    how = f"{d.interval_note}"
    means = (
        f"at {n} {unit} the runs themselves are drawn instead of an interval (below {d.band_min_seeds} a 95% "
        f"interval of a mean is too wide to draw usefully); the table above gives the interval with its n: {how}"
        if few
        else f"with its {how}"
    )
    return {
        "comparison": (
            f"Left: each dot is one run, of {over}; the dash is the model's mean over them, {means}. Right: the "
            f"paired difference over the matched cells, the number the takeaway states, with its 95% paired "
            f"t-interval (calibrated at every number of pairs; a difference is not bounded like the metric, so it "
            f"keeps the plain t); the dashed line is no difference."
        ),
        "tradeoff": (
            f"Each filled point is a config: its mean over seeds against its mean {d.hours_unit} per trial (wall time "
            f"× the trial's share of its GPU; wall hours on a CPU-only sweep); a config with fewer than "
            f"{d.band_min_seeds} seeds shows its runs as open dots at their own cost instead of an interval, the "
            f"others their {how}. Circled: the Pareto front, the configs no other config beats on both."
        ),
        "curves": (
            f"The thick line is the mean over seeds of each model's best config; with fewer than {d.band_min_seeds} "
            f"seeds the thin lines are the seeds themselves, else the band is the {how}."
        ),
        "importance": (
            "Left: how much a random forest's R² drops when a parameter's column is shuffled (all its levels "
            "together, so a categorical parameter is one row), as a share of all parameters'. Right: each level's "
            "mean minus the mean of all runs (not adjusted for the other parameters)."
        ),
        "parallel": "Log-scaled axes are ticked in real values; categorical axes name their levels.",
    }
