"""bayes: Optuna's GPSampler, a Gaussian process as W&B's bayes fits one, over the space in
`..space`; trials still running in other agents enter its batch acquisition (qLogEI), so
concurrent agents do not propose the same point. It beat TPE on every objective of
benchmarks/search_quality.py.

What it learns is W&B's rule (`..results.learned_value`): a run's best logged value; for a run
that failed, crashed or was killed, or finished without the metric, a value imputed as
`metric.impute` says; a pruned run learns as a finished one (its best so far).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import optuna
from optuna.trial import TrialState

from agent.backends.local.methods.base import EndedTrial, Lesson, SearchMethod
from agent.backends.local.results import extremes, learned_value
from agent.backends.local.space import suggest
from agent.states import RunState

# W&B's bayes samples at random until 2 runs have finished, then fits its GP.
STARTUP_TRIALS = 2


class Bayes(SearchMethod):
    name: ClassVar[str] = "bayes"

    def sampler(self) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.GPSampler(n_startup_trials=STARTUP_TRIALS, warn_independent_sampling=False)

    def next_trial(self, study: optuna.Study) -> optuna.Trial | str:
        return study.ask()

    def params(self, trial: optuna.Trial) -> dict[str, Any]:
        return suggest(trial, self.parameters)

    def lesson(self, ended: EndedTrial) -> Lesson:
        metric = self.metric.get("name")
        if not metric:
            return super().lesson(ended)
        history = ended.history()
        own = extremes([*history, ended.summary.get(metric)])
        as_state = RunState.FINISHED if ended.state == RunState.PRUNED else ended.state
        learned, imputed = learned_value(self.metric, as_state, history, own, [*ended.ended_extremes(), own])
        recorded = imputed or as_state != RunState.FINISHED
        if learned is None:  # nothing to learn from yet
            return Lesson(state=TrialState.FAIL, extremes=own, imputed=None, has_imputed=recorded)
        # a run's best value, or one imputed; the run keeps its own state
        return Lesson(value=learned, extremes=own, imputed=learned if imputed else None, has_imputed=recorded)
