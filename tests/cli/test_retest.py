"""`sweepkit retest` and `report --retest` on the local backend, trials in-process and instant."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import env_for, run_in_process, sk

CONFIG = {
    "method": "grid",
    "metric": {"name": "eval/accuracy", "goal": "maximize"},
    "command": ["${env}", "${interpreter}", "-m", "agent", "${args}"],
    "parameters": {
        "model_name_or_path": {"values": ["tiny-bert", "tiny-distilbert"]},
        "learning_rate": {"values": [1e-4, 3e-4]},
        "task_name": {"value": "mrpc-mini"},
        "seed": {"values": [1, 2]},
    },
}
TRUTH = {
    ("tiny-bert", 1e-4): 0.80,
    ("tiny-bert", 3e-4): 0.84,
    ("tiny-distilbert", 1e-4): 0.83,
    ("tiny-distilbert", 3e-4): 0.82,
}


def trial(spec):
    cfg = {**spec.params, **spec.params.get("candidate", {})}
    noise = {1: 0.01, 2: -0.01, 3: 0.004, 4: -0.002, 5: 0.0}[cfg["seed"]]
    return {
        "eval/accuracy": TRUTH[(cfg["model_name_or_path"], cfg["learning_rate"])] + noise,
        "train/train_samples_per_second": 100.0 if cfg["model_name_or_path"] == "tiny-bert" else 180.0,
    }


@pytest.fixture
def swept(tmp_path, monkeypatch):
    for k, v in env_for(tmp_path, SWEEPKIT_CACHE=str(tmp_path / "cache")).items():
        monkeypatch.setenv(k, v)
    from agent.backends.local import LocalBackend

    backend = LocalBackend()
    sweep_id = backend.create_sweep(CONFIG)
    assert run_in_process(backend, sweep_id, trial) == 0
    return tmp_path, sweep_id


def test_retest_runs_the_top_configs_on_fresh_seeds_and_the_report_sets_them_against_the_sweep(swept):
    from agent.backends.local import LocalBackend

    tmp, sweep_id = swept
    res = sk(tmp, "retest", sweep_id, "--top", "2", "--seeds", "3")
    assert res.returncode == 0, res.stderr
    retest_id = res.stdout.strip().splitlines()[-1]
    written = yaml.safe_load((tmp / f"retest-{sweep_id}.yaml").read_text())
    assert written["method"] == "grid" and written["parameters"]["seed"] == {"values": [3, 4, 5]}
    assert written["parameters"]["candidate"]["values"] == [
        {"model_name_or_path": "tiny-bert", "learning_rate": 3e-4},
        {"model_name_or_path": "tiny-distilbert", "learning_rate": 1e-4},
    ]
    assert f"sweepkit report {sweep_id} --retest {retest_id}" in res.stderr
    assert sk(tmp, "validate", f"retest-{sweep_id}.yaml").returncode == 0
    backend = LocalBackend()
    assert run_in_process(backend, retest_id, trial) == 0
    assert len(backend.runs(retest_id)) == 6
    rep = sk(tmp, "report", sweep_id, "--retest", retest_id, "--out", "out")
    assert rep.returncode == 0, rep.stderr
    rj = json.loads((tmp / "out" / "report.json").read_text())["retest"]
    top, second = rj["rows"]
    assert top["config"] == {"model_name_or_path": "tiny-bert", "learning_rate": 3e-4} and top["seeds"] == 3
    assert top["sweep_best"] == pytest.approx(0.85) and top["mean"] == pytest.approx(0.84 + 0.002 / 3)
    assert top["optimism"] == pytest.approx(0.85 - top["mean"]) and top["optimism_low"] < top["optimism"]
    assert rj["pick"] == "model_name_or_path=tiny-bert, learning_rate=0.0003" and rj["lead"]["significant"]
    html = (tmp / "out" / "report.html").read_text()
    assert "Re-test of the top configs on fresh seeds" in html and "optimism" in html
    assert "(figures/retest.png)" in (tmp / "out" / "report.md").read_text()


def test_retest_errors_are_one_line(swept):
    tmp, sweep_id = swept
    for args in (["retest", "nosuchsweep"], ["report", sweep_id, "--retest", "nosuchsweep"]):
        res = sk(tmp, *args)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.strip().splitlines()[-1].startswith("sweepkit: error:") and "nosuchsweep" in res.stderr
    res = sk(tmp, "retest", sweep_id, "--seeds", "1")
    assert res.returncode == 2 and "--seeds" in res.stderr
