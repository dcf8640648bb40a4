"""W&B's hyperband early-terminate rule as an Optuna pruner.

Optuna's own HyperbandPruner runs brackets of successive halving with its own budget maths;
W&B's rule is simpler and users compare against it, so we implement W&B's exactly
(wandb/sweeps `hyperband_stopping.py`): an iteration is the number of times the metric was
logged (the agent reports it as the 0-based `step`); at each band b the threshold is element
`int(n / eta)` of the sorted values at index b of every run that got past b (best first); a
running run whose value at its latest passed band is worse than that threshold is stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Optional

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial


class WandbHyperbandPruner(optuna.pruners.BasePruner):
    def __init__(self, bands: Sequence[int], eta: float):
        if not bands:
            raise ValueError("hyperband needs at least one band; increase s or max_iter, or lower eta")
        self.bands = sorted(int(b) for b in bands)
        self.eta = float(eta)

    def threshold(self, values: list[float]) -> float:
        return sorted(values)[int(len(values) / self.eta)]

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        history = trial.intermediate_values
        if not history:
            return False
        last = max(history)
        passed = [b for b in self.bands if b <= last]
        if not passed:
            return False
        band = passed[-1]
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        values = [
            sign * t.intermediate_values[band]
            for t in study.get_trials(deepcopy=False)
            if band in t.intermediate_values
        ]
        if band not in history or not values:
            return False
        return sign * history[band] > self.threshold(values)


class MetricFeed:
    """Turns a trial's logged rows into (iteration, value) of the sweep metric.

    Rows may come from several sources (a child's `.wandb` history, which lags by the flush
    interval, and its `$SWEEPKIT_PROGRESS_FILE`, which is immediate; or an in-process trial).
    Whichever yields the metric first is used alone, so no iteration is counted twice. An
    iteration is the number of times the metric was logged (W&B's hyperband definition), 0-based here.
    """

    def __init__(self, metric: str, on_value: Callable[[int, float], None]):
        self.metric = metric
        self.on_value = on_value
        self._source: Optional[str] = None
        self._n = 0
        self._lock = threading.Lock()

    def row(self, source: str, row: dict) -> None:
        value = row.get(self.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            return
        with self._lock:
            if self._source is None:
                self._source = source
            if source != self._source:
                return
            step, self._n = self._n, self._n + 1
        self.on_value(step, float(value))
