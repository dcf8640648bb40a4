"""bayes: Optuna's GPSampler, a Gaussian process as W&B's bayes fits one, over the space in
`..space`; trials still running in other agents enter its batch acquisition (qLogEI), so
concurrent agents do not propose the same point. It beat TPE on every objective of
benchmarks/search_quality.py.

What it learns is W&B's rule (`..results.learned_value`): a run's best logged value; for a run
that failed, crashed or was killed, or finished without the metric, a value imputed as
`metric.impute` says; a pruned run learns as a finished one (its best so far).

Each point enters the GP once. A re-run (`sweepkit rerun`) is queued with the earlier trial's own
Optuna params, so the GP sees it at that very point, and is told its own lesson; once it has told
a value, the sampler's view of the study (`SweepGP`) leaves out the trial it replaces: the earlier
failed trial's imputed value is what bayes knew of the point until then, and the re-run's value
replaces it instead of joining it. A warm start's prior runs are complete trials added with the
new space's distributions and their values, so they count towards the startup trials as well.
The GP models the sweep's current space, not the intersection of the trials' distributions (which
an extension would shrink: a widened range is a new distribution).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from agent.backends.local.methods.base import EndedTrial, Lesson, SearchMethod, queued_params
from agent.backends.local.optuna_internals import trials_view
from agent.backends.local.results import extremes, learned_value
from agent.backends.local.schema import QueuedPoint
from agent.backends.local.space import percentile_coded, search_space, suggest, to_optuna_params
from agent.states import RunState
from agent.sweep_config import Extension, SweepConfigError, parameter_specs
from agent.sweep_config.distributions import CATEGORICAL

# W&B's bayes samples at random until 2 runs have finished, then fits its GP.
STARTUP_TRIALS = 2


def once_per_point(trials: list[FrozenTrial], keys: set[str]) -> list[FrozenTrial]:
    """The trials less those a complete re-run replaces, and less complete ones lacking a key of the
    space (the GP needs every coordinate)."""
    replaced = set()
    for t in trials:
        point = QueuedPoint.from_attrs(t.user_attrs) if t.state == TrialState.COMPLETE else None
        if point is not None and point.rerun_of is not None:
            replaced.add(point.rerun_of)
    return [
        t for t in trials if t.number not in replaced and (t.state != TrialState.COMPLETE or keys <= t.params.keys())
    ]


class SweepGP(optuna.samplers.GPSampler):
    """Optuna's GPSampler over the sweep's own space, seeing each point once (see the module notes)."""

    def __init__(self, space: Mapping[str, BaseDistribution], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.space = {name: d for name, d in space.items() if not d.single()}

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.space)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        keys = set(search_space)
        return super().sample_relative(trials_view(study, lambda ts: once_per_point(ts, keys)), trial, search_space)


class Bayes(SearchMethod):
    name: ClassVar[str] = "bayes"

    def sampler(self) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return SweepGP(
                search_space(self.parameters), n_startup_trials=STARTUP_TRIALS, warn_independent_sampling=False
            )

    def next_trial(self, study: optuna.Study) -> optuna.Trial | str:
        return study.ask()

    def params(self, trial: optuna.Trial) -> dict[str, Any]:
        drawn = suggest(trial, self.parameters)  # a queued point's fixed params come back as queued
        queued = queued_params(trial)
        return drawn if queued is None else queued

    def fixed_params(self, earlier: FrozenTrial) -> dict[str, Any]:
        return dict(earlier.params)

    def prior_params(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
        space = search_space(self.parameters)
        return to_optuna_params(params, self.parameters), space

    def check_extension(self, old: dict[str, Any], ext: Extension) -> None:
        """What the study holds must keep its meaning: Optuna fixes a categorical's choices for a whole
        study, and holds some leaves as a percentile of their range (a wider range moves every one)."""
        specs = parameter_specs(self.parameters)
        for name in ext.widened:
            dist = specs[name].distribution
            if dist in CATEGORICAL:
                why = "Optuna fixes a categorical's values for the whole study"
            elif name in percentile_coded(self.parameters):
                why = "its model holds the value as a percentile of the range"
            else:
                continue
            raise SweepConfigError(
                f"cannot extend: parameters.{name} ({dist}) cannot grow in a bayes sweep: {why} "
                "(make a new sweep with --prior SWEEP: it learns from this one's runs)"
            )

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
