"""What a report states: every number and sentence in one `ReportData`, and how values are scaled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from agent.sweep_config.metric import UNBOUNDED, Bounds
from analysis.stats.compare import PairedDifference
from analysis.stats.intervals import BAND_MIN_SEEDS
from analysis.stats.retest import RetestResult


class ReportError(RuntimeError):
    """Nothing to report; the message is one line for the CLI to print."""


def fmt_value(v: Any) -> str:
    """A parameter value as people write it: 3e-4 and 1.5e-5 for small or large numbers, else as is."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return str(v)
    x = float(v)
    if x != 0 and np.isfinite(x) and (abs(x) < 1e-3 or abs(x) >= 1e5):
        mant, exp = f"{x:.2e}".split("e")
        return f"{mant.rstrip('0').rstrip('.')}e{int(exp)}"
    return f"{x:g}"


@dataclass
class Scale:
    """Fractions in [0, 1] (accuracy, F1) are stated in points (x100); anything else as is."""

    factor: float
    unit: str

    @classmethod
    def for_values(cls, metric: str, values: pd.Series) -> Scale:
        v = pd.to_numeric(values, errors="coerce").dropna()
        if len(v) and v.between(0, 1).all() and "loss" not in metric.lower():
            return cls(100.0, "points")
        return cls(1.0, f"({metric})")

    def fmt(self, x: float | None, signed: bool = False) -> str:
        if x is None or not np.isfinite(x):
            return "n/a"
        y = x * self.factor
        if self.factor != 1:
            y = float(f"{y:.1f}") + 0.0  # no "-0.0"
            s = f"{y:+.1f}" if signed else f"{y:.1f}"
        else:
            s = f"{y:+.4g}" if signed else f"{y:.4g}"
        return s

    def amount(self, x: float) -> str:
        return f"{self.fmt(abs(x))} {self.unit}"


@dataclass
class ReportData:
    sweep_id: str
    metric: str
    maximize: bool
    method: str
    compare: str | None
    seed_key: str | None
    params: list[str]
    models: list[str]
    counts: dict[str, int]
    messages: list[str]
    usable: pd.DataFrame  # finished runs with a finite metric
    leaderboard: pd.DataFrame
    per_model: list[dict[str, Any]]
    cells: pd.DataFrame  # mean/std/count over seeds per config
    comparisons: list[PairedDifference]
    heatmaps: dict[str, pd.DataFrame]  # model -> lr x batch pivot (mean over seeds)
    heatmap_axes: tuple[str, str] | None
    curves: dict[str, pd.DataFrame]  # model -> step, mean, std, n
    evp: dict[str, pd.DataFrame]  # model -> n, mean, std, low, high
    evp_time: dict[str, pd.DataFrame]  # model -> budget (hours), mean, low, high, share
    hours_unit: str  # "GPU-hours", or "wall hours" on a CPU-only sweep
    config_costs: pd.DataFrame  # per config: metric mean/CI, costs, pareto
    importance: pd.DataFrame
    failures: pd.DataFrame
    system: pd.DataFrame  # run_id, model, peak_gpu_memory_mb, gpu_util
    scale: Scale
    bounds: Bounds = UNBOUNDED  # what the metric can be; every interval of a mean keeps to it
    interval_note: str = ""  # how those intervals are made, for the figure notes
    band_min_seeds: int = BAND_MIN_SEEDS  # below this many seeds figures show the seeds, not a band
    points: pd.DataFrame = field(default_factory=pd.DataFrame)  # every usable run: model, seed, config, value, hours
    model_means: pd.DataFrame = field(default_factory=pd.DataFrame)  # per model, over the cells all models ran
    curve_seeds: dict[str, pd.DataFrame] = field(default_factory=dict)  # model -> each seed's curve
    levels: pd.DataFrame = field(default_factory=pd.DataFrame)  # each parameter level's effect on the metric
    log_params: list[str] = field(default_factory=list)  # parameters shown on a log axis
    config: dict[str, Any] = field(default_factory=dict)  # the sweep config the report read
    takeaways: dict[str, str] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)
    retest: RetestResult | None = None  # when the report reads a re-test sweep (analysis.report.retest)
    sweep_state: str = ""  # the state a person set on the sweep (paused, stopped, cancelled), else ""
