"""analysis.stats.cost as pure functions: GPU-hours, the Pareto front, EVP against a budget of time."""

import numpy as np
import pandas as pd
import pytest

from analysis.stats import cost, evp
from analysis.stats.cells import seed_summary


def test_gpu_hours_use_the_gpu_share_and_fall_back_to_wall_hours_on_cpu():
    runs = pd.DataFrame({"runtime_s": [3600.0, 1800.0], "gpu_share": [0.25, 0.5]})
    c = cost.with_cost(runs)
    assert c["cost_hours"].tolist() == pytest.approx([0.25, 0.25]) and cost.hours_unit(runs) == "GPU-hours"
    cpu = cost.with_cost(runs.drop(columns="gpu_share"))
    assert cpu["cost_hours"].tolist() == pytest.approx([1.0, 0.5]) and cost.hours_unit(cpu) == "wall hours"
    mixed = runs.assign(gpu_share=[0.25, None])  # one run without a GPU: no GPU-hours for the sweep
    assert cost.hours_unit(mixed) == "wall hours"


def test_pareto_front_by_hand():
    metric = [0.80, 0.85, 0.84, 0.70, 0.85]
    hours = [1.0, 2.0, 3.0, 0.5, 2.0]
    assert cost.pareto_mask(metric, hours, maximize=True).tolist() == [True, True, False, True, True]
    loss = [0.2, 0.1, 0.3]
    assert cost.pareto_mask(loss, [1.0, 2.0, 0.5], maximize=False).tolist() == [True, True, True]
    assert cost.pareto_mask([0.5, np.nan], [1.0, 0.1], maximize=True).tolist() == [True, False]


def test_evp_by_time_by_hand():
    e = cost.expected_best_by_budget([1.0, 2.0], [1.0, 3.0], maximize=True, budgets=[0.5, 1.0, 3.0, 4.0])
    assert e["share"].tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0], abs=0.04)
    assert e["mean"].iloc[1] == 1.0 and e["mean"].iloc[2] == pytest.approx(1.5, abs=0.04)
    assert e["mean"].iloc[3] == 2.0 and np.isnan(e["mean"].iloc[0])


def test_evp_by_time_with_equal_costs_is_the_per_trial_curve():
    rng = np.random.default_rng(2)
    v = rng.normal(0.8, 0.03, 12)
    by_trials = evp.expected_max_curve(v, maximize=True)
    by_time = cost.expected_best_by_budget(v, np.full(12, 0.1), maximize=True, budgets=0.1 * np.arange(1, 13))
    assert by_time["mean"].to_numpy() == pytest.approx(by_trials["mean"].to_numpy(), abs=0.002)
    assert (by_time["share"] == 1).all()
    loss = cost.expected_best_by_budget(v, np.full(12, 0.1), maximize=False, budgets=[1.2])
    assert loss["mean"].iloc[0] == pytest.approx(v.min())


def test_config_costs_are_means_per_config_with_the_front():
    runs = pd.DataFrame(
        {
            "lr": [1, 1, 2, 2],
            "seed": [1, 2, 1, 2],
            "m": [0.8, 0.82, 0.7, 0.72],
            "runtime_s": [3600.0, 3600.0, 1800.0, 1800.0],
            "train/train_samples_per_second": [100.0, 110.0, 200.0, 220.0],
            "num_parameters": [10, 10, 5, 5],
        }
    )
    cells = seed_summary(runs, config_keys=["lr"], metric="m")
    cc = cost.config_costs(runs, cells, ["lr"], maximize=True).set_index("lr")
    assert cc.loc[1, "hours"] == pytest.approx(1.0) and cc.loc[2, "throughput"] == pytest.approx(210.0)
    assert cc["pareto"].all()  # better but dearer vs worse but cheaper: both on the front
    assert cost.cost_summary(cost.with_cost(runs))["num_parameters"] == pytest.approx(7.5)
