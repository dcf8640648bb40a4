"""The interface every search method implements, and the rule all but bayes share for what the
sampler learns from an ended trial (modelled on Optuna's `BaseSampler`/`BasePruner` split: the
method proposes, a stopper prunes).

A method knows how to set a new sweep up (grid enqueues its points, less those already run), whether
the sweep is exhausted, how an agent takes its next trial (grid pops a waiting point without the
claim lock; random and bayes sample under it, so each sees the others' trials), which params a
started trial runs (a queued point's own, whatever the method), whether a lost or killed run's point
runs again, what the sampler learns when it ends, and how a re-run, a warm start's prior run and an
extended config enter its model.
"""

from __future__ import annotations

import abc
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from agent.backends.local.schema import QueuedPoint
from agent.states import RunState
from agent.sweep_config import Extension


@dataclass
class EndedTrial:
    """What the sampler may learn from: the trial's state, its metric value, and, read only if a
    method asks, its logged history of the metric and the [min, max] of every ended trial."""

    state: RunState
    value: Optional[float]
    summary: dict[str, Any]
    history: Callable[[], list[float]] = field(default=list)
    ended_extremes: Callable[[], list[Optional[list[float]]]] = field(default=list)


@dataclass(frozen=True)
class Lesson:
    """What to tell the study: a value (the trial completes) or a state; and what the result keeps
    of how the value was chosen (bayes)."""

    value: Optional[float] = None
    state: TrialState = TrialState.COMPLETE
    extremes: Optional[list[float]] = None
    imputed: Optional[float] = None
    has_imputed: bool = False


class SearchMethod(abc.ABC):
    name: ClassVar[str]
    requeues: ClassVar[bool] = False  # a lost or killed run's point runs again (every grid point must run)
    claims_under_lock: ClassVar[bool] = True  # the next trial depends on the others: take it under the claim lock

    def __init__(self, config: dict[str, Any], sweep_id: str) -> None:
        self.config, self.sweep_id = config, sweep_id
        self.parameters: dict[str, Any] = config.get("parameters") or {}
        self.metric: dict[str, Any] = config.get("metric") or {}

    def sampler(self) -> optuna.samplers.BaseSampler:
        """The study's sampler: seeded by the sweep id, so a sweep's draws are reproducible."""
        return optuna.samplers.RandomSampler(seed=zlib.crc32(self.sweep_id.encode()))

    def setup(self, study: optuna.Study, skip: Collection[tuple[str, ...]] = ()) -> int:
        """Prepare the study for this config: queue the points the method knows up front, less those
        in `skip` (`point_key`s already run or queued); how many it queued. Called when a sweep is
        made and again when an extension replaced its config."""
        return 0

    def check_extension(self, old: dict[str, Any], ext: Extension) -> None:  # noqa: B027 (most accept any)
        """SweepConfigError when this method cannot carry what it learned over an `extension` from `old`."""

    def fixed_params(self, earlier: FrozenTrial) -> dict[str, Any]:
        """Optuna's params for a trial that runs `earlier`'s point again (a model must see it there)."""
        return {}

    def prior_params(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
        """(Optuna's params, their distributions) of a prior run at `params` that the sampler learns from."""
        return {}, {}

    def exhausted(self, live: Callable[[], tuple[int, int]]) -> Optional[str]:
        """Why the sweep has nothing left to hand out, whatever its caps; `live()`: (waiting, running)."""
        return None

    @abc.abstractmethod
    def next_trial(self, study: optuna.Study) -> optuna.Trial | str:
        """A trial now running and ours; or why there is none ("wait: ..." = try again later)."""

    @abc.abstractmethod
    def params(self, trial: optuna.Trial) -> dict[str, Any]:
        """The (nested) params the started trial runs: a queued point's own (`queued_params`)."""

    def lesson(self, ended: EndedTrial) -> Lesson:
        """A finished run teaches its value (0.0 when the sweep names no metric: samplers ignore it);
        one that finished without the metric, or failed, teaches nothing; a pruned one stays pruned."""
        if ended.state == RunState.FINISHED and (ended.value is not None or not self.metric.get("name")):
            return Lesson(value=0.0 if ended.value is None else ended.value)
        if ended.state == RunState.PRUNED:
            return Lesson(state=TrialState.PRUNED)
        return Lesson(state=TrialState.FAIL)


def queued_params(trial: optuna.Trial) -> Optional[dict[str, Any]]:
    """The params a queued trial (a grid point, a requeued or re-run point) was queued with; None for
    a trial the method draws itself."""
    point = QueuedPoint.from_attrs(trial.user_attrs)
    return point.params if point else None
