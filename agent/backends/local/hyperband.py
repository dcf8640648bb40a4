"""W&B's hyperband early-terminate rule as an Optuna pruner (the sweep's stopper, whatever its search
method), and the metric feed it reads.

Optuna's own HyperbandPruner runs brackets of successive halving with its own budget maths;
users compare sweepkit with W&B, so the decision is W&B's (`agent.sweep_config.judge`, 1-based
bands, `strict`) over every trial's history, each trial's history being its intermediate values
in step order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Optional

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from agent.sweep_config import Verdict, hyperband_rungs, judge
from agent.sweep_config.metric import finite


def history(trial: FrozenTrial) -> list[float]:
    """A trial's metric history: its intermediate values, step 0 first."""
    values = trial.intermediate_values
    return [values[k] for k in sorted(values)]


class WandbHyperbandPruner(optuna.pruners.BasePruner):
    def __init__(self, bands: Sequence[int], eta: float, strict: bool = True):
        if not bands:
            raise ValueError("hyperband needs at least one band; increase s or max_iter, or lower eta")
        self.bands = sorted(int(b) for b in bands)
        self.eta = float(eta)
        self.strict = bool(strict)

    def verdict(self, study: optuna.Study, trial: FrozenTrial) -> Optional[Verdict]:
        others = [history(t) for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        own = history(trial)
        return judge(
            own,
            [own, *others],
            self.bands,
            self.eta,
            maximize=study.direction == StudyDirection.MAXIMIZE,
            strict=self.strict,
        )

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        v = self.verdict(study, trial)
        return bool(v and v.stop)


def stopper(config: dict[str, Any]) -> optuna.pruners.BasePruner:
    """The sweep's stopper, from `early_terminate`: W&B's hyperband, or none."""
    et = config.get("early_terminate") or {}
    if et.get("type") != "hyperband":
        return optuna.pruners.NopPruner()
    return WandbHyperbandPruner(hyperband_rungs(et), et.get("eta", 3), et.get("strict", True))


class MetricFeed:
    """Turns a trial's logged rows into (iteration, value) of the sweep metric.

    Rows may come from several sources (a child's `.wandb` history, which lags by the flush
    interval, and its `$SWEEPKIT_PROGRESS_FILE`, which is immediate; or an in-process trial).
    Whichever yields the metric first is used alone, so no iteration is counted twice. An
    iteration is the number of times the metric was logged (W&B's hyperband definition): the k-th
    value (from 0) is reported as step k, so a trial's history is its intermediate values in order.
    """

    def __init__(self, metric: str, on_value: Callable[[int, float], None]):
        self.metric = metric
        self.on_value = on_value
        self._source: Optional[str] = None
        self._n = 0
        self._lock = threading.Lock()

    def row(self, source: str, row: dict[str, Any]) -> None:
        value: Any = row.get(self.metric)
        if not finite(value):  # W&B's rule counts finite numbers only
            return
        with self._lock:
            if self._source is None:
                self._source = source
            if source != self._source:
                return
            step, self._n = self._n, self._n + 1
        self.on_value(step, float(value))
