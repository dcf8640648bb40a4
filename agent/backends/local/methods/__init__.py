"""One module per W&B search method behind one interface (`base.SearchMethod`): the engine asks the
method, never which method it runs. Early termination (hyperband) is a stopper of its own
(`..hyperband`), chosen from `early_terminate`, whatever the method."""

from __future__ import annotations

from typing import Any

from agent.backends.base import BackendError
from agent.backends.local.methods.base import EndedTrial, Lesson, SearchMethod
from agent.backends.local.methods.bayes import Bayes
from agent.backends.local.methods.grid import Grid
from agent.backends.local.methods.random import Random

METHODS: dict[str, type[SearchMethod]] = {m.name: m for m in (Grid, Random, Bayes)}

__all__ = ["METHODS", "EndedTrial", "Lesson", "SearchMethod", "method_for"]


def method_for(config: dict[str, Any], sweep_id: str) -> SearchMethod:
    """The sweep's search method (validated configs name one of W&B's three)."""
    name = str(config.get("method") or "")
    if name not in METHODS:
        known = ", ".join(METHODS)
        raise BackendError(f"sweep {sweep_id}: unknown search method {name!r} (known: {known}); not a sweepkit sweep?")
    return METHODS[name](config, sweep_id)
