"""W&B's hyperband early-terminate rule as an Optuna pruner.

Optuna's own HyperbandPruner runs brackets of successive halving with its own budget maths;
W&B's rule is simpler and users compare against it, so we implement W&B's exactly
(wandb/sweeps `hyperband_stopping.py`): an iteration is the number of times the metric was
logged (the agent reports it as the 0-based `step`); at each band b the threshold is element
`int(n / eta)` of the sorted values at index b of every run that got past b (best first); a
running run whose value at its latest passed band is worse than that threshold is stopped.
"""
from __future__ import annotations

from typing import Sequence

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

    def prune(self, study: "optuna.study.Study", trial: FrozenTrial) -> bool:
        history = trial.intermediate_values
        if not history:
            return False
        last = max(history)
        passed = [b for b in self.bands if b <= last]
        if not passed:
            return False
        band = passed[-1]
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        values = [sign * t.intermediate_values[band]
                  for t in study.get_trials(deepcopy=False) if band in t.intermediate_values]
        if band not in history or not values:
            return False
        return sign * history[band] > self.threshold(values)
