"""The local engine's live hyperband decisions equal W&B's engine's, at every logged value.

Trials run in-process through the real agent loop; after each logged row the trial asks whether to
stop, and that answer is compared with `sweeps.stop_runs` on the histories of that moment.
"""

from __future__ import annotations

import random

import pytest

from agent.backends.local import LocalBackend
from tests import oracle
from tests.helpers import FunctionRunner, run_in_process


@oracle.needs_oracle
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_each_live_decision_matches_wandb(home, strict, goal):
    config = {
        "method": "grid",
        "program": "train.py",
        "metric": {"name": "loss", "goal": goal},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2, "strict": strict},
        "parameters": {"x": {"values": list(range(10))}},
    }
    b = LocalBackend()
    sid = b.create_sweep(config)
    ended: list[tuple[str, list[dict]]] = []
    checks: list[tuple[list, bool]] = []

    def trial(spec, control):
        rng = random.Random(spec.params["x"])
        level, rows = rng.gauss(0, 1), []
        for i in range(8):
            row = {"loss": level + rng.gauss(0, 0.3) + (float("nan") if i == 3 else 0.0), "_step": i}
            rows.append(row)
            control.on_row("trial", row)
            stop = control.stop_reason() is not None
            checks.append(([*ended, ("running", list(rows))], stop))
            if stop:
                break
        ended.append(("finished", rows))
        return {"loss": rows[-1]["loss"]}

    assert run_in_process(b, sid, FunctionRunner(trial, report_rows=True)) == 0
    states = [r.state for r in b.runs(sid)]
    assert "pruned" in states and "finished" in states
    for runs, stopped in checks:
        assert oracle.stop_runs(config, runs)[-1] == stopped, runs
