"""W&B's own sweep engine (the `sweeps` package) as a test oracle, never imported by sweepkit itself.

Its metadata pins numpy<2, so `make venv` installs it with --no-deps beside numpy 2, where its code
runs. Tests that compare against it skip, naming why, only when it cannot be imported.
"""

from __future__ import annotations

import warnings

import pytest

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sweeps as _sweeps
        from sweeps import RunState, SweepRun, schema_violations_from_proposed_config
        from sweeps.grid_search import grid_search_next_runs
        from sweeps.random_search import random_search_next_runs
except Exception as exc:  # any import failure means: no oracle on this machine
    _sweeps = None
    REASON = (
        f"W&B's engine (`sweeps` 0.3.0) cannot be imported ({type(exc).__name__}: {exc}); "
        "install it with `pip install --no-deps sweeps==0.3.0 jsonschema jsonref` (make venv does)"
    )
else:
    REASON = ""

needs_oracle = pytest.mark.skipif(_sweeps is None, reason=REASON or "the oracle is available")
STATES = ("running", "finished", "failed", "crashed", "killed", "preempted")


def stop_runs(config: dict, runs: list[tuple[str, list[dict]]]) -> list[bool]:
    """W&B's stop decision for each run, given (state, logged rows) per run."""
    swept = [SweepRun(name=str(i), state=RunState(state), history=rows) for i, (state, rows) in enumerate(runs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stopped = {r.name for r in _sweeps.stop_runs(config, swept)}
    return [str(i) in stopped for i in range(len(runs))]


def grid_points(config: dict) -> list[dict]:
    """Every point W&B's grid hands out, in its order, as plain nested values."""
    runs: list = []
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (nxt,) = grid_search_next_runs(runs, config)
        if nxt is None:
            return [{k: v["value"] for k, v in r.config.items()} for r in runs]
        runs.append(SweepRun(name=str(len(runs)), config=nxt.config, state=RunState.finished))


def random_draws(config: dict, n: int) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [{k: v["value"] for k, v in r.config.items()} for r in random_search_next_runs(config, n=n)]


def fill(config: dict) -> dict:
    """The config with W&B's schema defaults written in (goal, impute, eta, strict...)."""
    from sweeps.config.schema import fill_validate_schema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fill_validate_schema(config)


def schema_violations(config: dict) -> list[str]:
    """W&B's findings for a proposed sweep config (it raises, instead, for a parameter that is no mapping)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return list(schema_violations_from_proposed_config(config))
        except ValueError as exc:
            return [str(exc)]
