"""Every sweeps/*.yaml is a W&B-valid sweep whose parameters are real trial keys with valid values."""

from pathlib import Path

import pytest
import yaml

from agent.trial.config import FIELDS

SWEEPS = sorted((Path(__file__).resolve().parents[1] / "sweeps").glob("*.yaml"))
REQUIRED = {"bert_vs_distilbert.yaml", "lr_batch_bayes.yaml", "lr_batch_random.yaml", "smoke.yaml"}


def test_the_four_sweeps_ship():
    assert {p.name for p in SWEEPS} >= REQUIRED


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_is_valid_for_wandb_and_for_the_trial(path):
    from agent.cli.validate import problems_of, trial_check

    config, problems = problems_of(str(path))
    assert problems == []
    assert config["metric"]["name"] == "eval/accuracy"  # a key the trial really logs (see tests/trial)
    assert trial_check(config) is not None  # the trial's own keys and ranges were checked too
    assert set(config["parameters"]) <= set(FIELDS)


def test_smoke_is_a_grid_of_at_least_8_offline_trials_with_paired_seeds():
    from agent.sweep_config import grid_size

    config = yaml.safe_load((SWEEPS[0].parent / "smoke.yaml").read_text())
    assert config["method"] == "grid" and grid_size(config["parameters"]) >= 8
    params = config["parameters"]
    assert set(params["model_name_or_path"]["values"]) == {"tiny-bert", "tiny-distilbert"}
    assert params["task_name"]["value"] == "mrpc-mini"
    assert len(params["seed"]["values"]) >= 2


def test_bayes_sweep_has_hyperband_and_log_uniform_lr():
    config = yaml.safe_load((SWEEPS[0].parent / "lr_batch_bayes.yaml").read_text())
    assert config["early_terminate"]["type"] == "hyperband"
    assert config["parameters"]["learning_rate"]["distribution"] == "log_uniform_values"
