"""random: each trial draws its params with W&B's distributions (`sample_random`), from a generator
seeded by (sweep id, trial number), so a sweep's draws are reproducible whatever the agents. A
point queued again (a re-run queued by `sweepkit rerun`, or a preempted run's point; `ask` takes
waiting trials first) runs its point as queued, not a new draw."""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

import numpy as np
import optuna

from agent.backends.local.methods.base import SearchMethod, queued_params
from agent.sweep_config import sample_random


class Random(SearchMethod):
    name: ClassVar[str] = "random"

    def next_trial(self, study: optuna.Study) -> optuna.Trial | str:
        return study.ask()

    def params(self, trial: optuna.Trial) -> dict[str, Any]:
        queued = queued_params(trial)
        if queued is not None:  # a re-run: its point as it ran
            return queued
        rng = np.random.default_rng([zlib.crc32(self.sweep_id.encode()), trial.number])
        return sample_random(self.parameters, rng)
