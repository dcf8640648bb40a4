"""What the report templates show: ReportData's tables, scaled for display and cut to a readable size."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from agent.paths import run_page
from analysis.render.cells import fmt_num
from analysis.render.figures import FIGURES
from analysis.report.data import ReportData

CELL_STATS = ("mean", "std", "low", "high", "seeds")
MAX_TABLE_ROWS = 200


def table(df: pd.DataFrame, limit: int = MAX_TABLE_ROWS) -> dict[str, Any]:
    """A table for a template: its columns, its first `limit` rows, and how many more there are."""
    shown = df.head(limit)
    return {"columns": list(shown.columns), "rows": shown.to_dict(orient="records"), "more": max(0, len(df) - limit)}


def _per_model_rows(d: ReportData) -> list[dict[str, Any]]:
    f = d.scale.factor
    rows = []
    for pm in d.per_model:
        bc, c = pm["best_config"] or {}, pm["cost"]
        low, high = bc.get("low"), bc.get("high")
        rows.append(
            {
                "model": pm["model"],
                "runs": pm["runs"],
                "best run": pm["best_run"]["name"],
                "best value": pm["best_run"]["value"] * f,
                "best config": ", ".join(f"{k}={v}" for k, v in bc.items() if k not in CELL_STATS and k != d.compare),
                "best config mean": bc.get("mean", np.nan) * f,
                "95% CI": "n/a (one seed)"
                if low is None or high is None
                else f"{fmt_num(low * f)} to {fmt_num(high * f)}",
                "seeds": bc.get("seeds"),
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
        "cells": table(_scaled(d.cells, ("mean", "std", "low", "high"), d.scale.factor)),
        "costs": table(costs),
        "leaderboard": lb.to_dict(orient="records"),
        "lb_columns": [c for c in lb.columns if c not in ("run_id", "url", "name", "page")],
        "failures": table(d.failures),
        "goal": "maximize" if d.maximize else "minimize",
        "figure_titles": {k: t for k, t, _ in FIGURES},
        "retest": retest_context(d),
    }
