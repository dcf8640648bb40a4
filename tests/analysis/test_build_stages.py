"""build_report's stages one at a time (analysis.report.scope, .sections) and the sweep-config readers they
share with the live payload (analysis.tables.sweep), on small hand-made tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.report import sections
from analysis.report.data import ReportError
from analysis.report.scope import GROUP, Tables, choose_groups, read_tables, resolve_metric
from analysis.stats.compare import PairedDifference
from analysis.tables.sweep import default_compare, group_labels, sweep_params, varying
from analysis.tables.tidy import empty_history

CONFIG = {
    "method": "grid",
    "metric": {"name": "acc", "goal": "maximize"},
    "parameters": {
        "model": {"values": ["a", "b"]},
        "lr": {"values": [0.1, 0.2]},
        "batch_size": {"values": [8]},
        "seed": {"values": [1, 2, 3]},
    },
}


def grid(*, gap: float = 0.1, seeds=(1, 2, 3), models=("a", "b"), noise=(0.0, 0.01, -0.01)) -> pd.DataFrame:
    """model x lr x seed, batch size fixed: model b is `gap` below a, lr 0.2 is 0.05 above lr 0.1."""
    rows = []
    for mi, m in enumerate(models):
        for lr in (0.1, 0.2):
            for si, s in enumerate(seeds):
                acc = 0.8 - gap * mi + (0.05 if lr == 0.2 else 0.0) + noise[si % len(noise)]
                cost = 60.0 * (mi + 1)
                rows.append({"model": m, "lr": lr, "batch_size": 8, "seed": s, "acc": acc, "runtime_s": cost})
    runs = pd.DataFrame(rows)
    runs.insert(0, "run_id", [f"r{i}" for i in range(len(runs))])
    runs.insert(1, "name", runs["run_id"])
    return runs.assign(state="finished", reason=None)


def stages(runs: pd.DataFrame, config=CONFIG, *, compare=None, seed_key="seed", history=None):
    t = read_tables(runs, empty_history() if history is None else history, config, compare=compare, sweep_id="s")
    return t, choose_groups(t, config, compare=compare, seed_key=seed_key)


# ------------------------------------------------------------------ tables/sweep: the config's view of the runs
def test_sweep_params_flatten_nested_parameters():
    config = {"parameters": {"lr": {"values": [1]}, "opt": {"parameters": {"beta": {"value": 0.9}}}}}
    assert sweep_params(config) == ["lr", "opt.beta"]


def test_default_compare_prefers_a_model_key_even_with_one_value():
    runs = pd.DataFrame({"task": ["x", "y"], "model_name": ["m", "m"], "lr": [0.1, 0.2]})
    assert default_compare(["task", "model_name", "lr"], runs) == "model_name"
    assert default_compare(["task", "lr"], runs) == "task"  # else the first varied string key
    assert default_compare(["lr"], runs) is None  # numbers are never the default


def test_group_labels_name_the_key_for_numbers_and_varying_counts_missing_as_a_value():
    df = pd.DataFrame({"lr": [0.1, 0.2], "model": ["a", "b"], "c": [1, None], "k": [1, 1]})
    assert group_labels(df, "lr").tolist() == ["lr=0.1", "lr=0.2"]
    assert group_labels(df, "model").tolist() == ["a", "b"]
    assert group_labels(df, None).tolist() == ["all", "all"]
    assert varying(df, ["lr", "c", "k", "absent"]) == ["lr", "c"]


# ------------------------------------------------------------------ stage 1: tables
def test_tables_count_every_state_and_say_what_is_left_out():
    runs = grid()
    runs.loc[0, "state"] = "running"
    runs.loc[1, "acc"] = np.inf
    runs.loc[2, "state"] = "failed"
    t = read_tables(runs, empty_history(), CONFIG, compare=None, sweep_id="s")
    assert t.counts == {"total": 12, "finished": 10, "running": 1, "failed": 1, "usable": 9}
    assert len(t.usable) == 9 and t.metric == "acc" and t.maximize
    assert t.messages == [
        "1 run(s) still running are left out; rerun the report when the sweep finishes.",
        "1 finished run(s) have a missing, NaN or infinite acc and are left out.",
    ]


def test_a_sweep_without_a_metric_reads_an_eval_metric_and_says_which():
    runs = pd.DataFrame({"eval/loss": [0.3], "eval/f1": [0.8]})
    assert resolve_metric(runs, {}) == (
        "eval/loss",
        False,
        ["The sweep names no metric; using eval/loss (lower is better)."],
    )
    runs["eval/accuracy"] = 0.9
    assert resolve_metric(runs, {})[:2] == ("eval/accuracy", True)
    with pytest.raises(ReportError, match="names no metric and runs logged no eval"):
        resolve_metric(pd.DataFrame({"loss": [1.0]}), {})


def test_a_bad_compare_key_is_named_before_there_being_nothing_to_report():
    runs = grid().assign(state="running")
    with pytest.raises(ReportError, match=r"--compare 'nope' .* choose one of: batch_size, lr, model, seed"):
        read_tables(runs, empty_history(), CONFIG, compare="nope", sweep_id="s")
    with pytest.raises(ReportError, match="no finished run with a finite acc"):
        read_tables(runs, empty_history(), CONFIG, compare=None, sweep_id="s")


# ------------------------------------------------------------------ stage 2: groups
def test_groups_compare_the_model_best_mean_first_and_pair_on_the_varied_keys():
    t, g = stages(grid(gap=-0.1))  # b above a
    assert g.compare == "model" and g.models == ["b", "a"] and g.seed_key == "seed" and not g.single_seed
    assert g.varying == ["model", "lr"]  # batch is constant, the seed is what pairs
    assert g.usable[GROUP].tolist() == g.usable["model"].tolist()
    assert len(g.cells) == 4 and set(g.cells["count"]) == {3}  # model x lr, each over 3 seeds
    assert g.messages == []
    t, g = stages(grid(gap=-0.1), {**CONFIG, "metric": {"name": "acc", "goal": "minimize"}})
    assert g.models == ["a", "b"]  # minimize: the lower mean first


def test_groups_say_when_the_seed_key_cannot_pair_runs():
    _, g = stages(grid(), compare="seed")
    assert g.seed_key is None and g.models == ["seed=2", "seed=1", "seed=3"]  # seed 2 drew +0.01
    assert g.messages == ["Comparing seeds themselves: runs are not paired by seed."]
    _, g = stages(grid(), seed_key="trial_seed")
    assert g.seed_key is None and "Seed key 'trial_seed' is not in the run configs" in g.messages[0]
    _, g = stages(grid(seeds=(7,)))
    assert g.single_seed and g.seed_key == "seed"


def test_without_a_string_key_all_runs_form_one_group():
    runs = grid(models=("a",)).drop(columns="model")
    _, g = stages(runs, {**CONFIG, "parameters": {k: v for k, v in CONFIG["parameters"].items() if k != "model"}})
    assert g.compare is None and g.models == ["all"]
    assert g.messages[0].startswith("No categorical model parameter to compare")


# ------------------------------------------------------------------ sections
def test_model_summary_names_the_best_run_and_the_best_config_over_seeds():
    t, g = stages(grid())
    a = sections.model_summary(t, g, "a")
    assert a["runs"] == 6 and a["best_run"]["name"] == "r4"  # lr 0.2, seed 2: the +0.01 draw
    assert a["best_run"]["config"] == {"model": "a", "lr": 0.2}
    bc = a["best_config"]
    assert (bc["lr"], bc["seeds"]) == (0.2, 3) and bc["mean"] == pytest.approx(0.85)
    assert bc["low"] < 0.85 < bc["high"]
    assert a["cost"]["wall_s"] == 60.0 and a["cost"]["hours"] == pytest.approx(60 / 3600)


def test_comparisons_pair_each_model_with_the_best_by_lr_and_seed():
    t, g = stages(grid(gap=0.1))  # a seed moves both models alike: every pair differs by exactly 0.1
    (c,), msgs = sections.compare_models(t, g)
    assert (c.a, c.b, c.n_pairs) == ("b", "a", 6) and c.mean == pytest.approx(-0.1) and msgs == []
    assert c.significant and c.better == "a" and c.seeds_for_sign_flip == 3  # 6 pairs: 2 per seed


def test_a_single_seed_gives_a_difference_without_an_interval():
    t, g = stages(grid(seeds=(7,)))
    (c,), msgs = sections.compare_models(t, g)
    assert c.low is None and c.note == "a single seed" and c.n_pairs == 2 and c.mean == pytest.approx(-0.1)
    assert msgs == [
        "Only one seed (seed=7): no confidence interval for the model difference; rerun with several seeds."
    ]
    t, g = stages(grid(models=("a",)))
    assert sections.compare_models(t, g) == ([], ["Only one model in the runs: there is nothing to compare."])


def test_pairs_needed_become_seeds_per_matched_config():
    c = PairedDifference("a", "b", 0.01, -0.01, 0.03, 6, 0.95, False, None, pairs_needed=9, min_pairs_sign_flip=6)
    pairs = pd.DataFrame({"seed": ["1", "1", "2", "2", "3", "3"], "diff": [0.01] * 6})  # 2 configs per seed
    out = sections.with_seed_counts(c, pairs, "seed")
    assert (out.seeds_needed, out.seeds_for_sign_flip) == (5, 3)
    assert sections.with_seed_counts(c, pairs.iloc[:1], "seed").seeds_needed == 9


def test_heatmaps_need_a_learning_rate_and_a_batch_size_that_vary():
    t, g = stages(grid())
    assert sections.heatmap_grid(t, g) == (
        {},
        None,
        ["No learning-rate x batch-size grid among the varied parameters: heatmaps skipped."],
    )
    runs = grid().assign(batch_size=lambda r: np.where(r["seed"] == 1, 8, 16))
    t, g = stages(runs, seed_key=None)
    maps, axes, msgs = sections.heatmap_grid(t, g)
    assert axes == ("lr", "batch_size") and msgs == [] and maps["a"].shape == (2, 2)
    assert maps["a"].loc[8, 0.2] == pytest.approx(0.85)


def test_learning_curves_follow_each_models_best_config_only():
    runs = grid()
    hist = pd.DataFrame(
        [
            {"run_id": r.run_id, "step": float(step), "metric": "acc", "value": r.acc * step / 2}
            for r in runs.itertuples()
            for step in (1, 2)
        ]
    )
    t, g = stages(runs, history=hist)
    per_model = [sections.model_summary(t, g, m) for m in g.models]
    curves, seeds, msgs = sections.learning_curves(t, g, per_model)
    assert msgs == [] and set(curves) == {"a", "b"}
    a = curves["a"]
    assert a["n"].tolist() == [3, 3] and a["mean"].iloc[-1] == pytest.approx(0.85)  # lr 0.2 only
    assert not a["band"].any()  # 3 seeds: too few for a band; the seeds are drawn instead
    assert sorted(seeds["a"]["seed"].unique()) == [1, 2, 3] and len(seeds["a"]) == 6  # 3 runs x 2 steps
    t, g = stages(runs)
    assert sections.learning_curves(t, g, per_model)[2] == ["No acc history was logged: learning curves skipped."]


def test_cost_table_labels_configs_by_model_and_marks_the_pareto_front():
    t, g = stages(grid(gap=0.1))
    cc = sections.cost_table(t, g)
    assert list(cc.columns[:2]) == ["model", "lr"] and len(cc) == 4
    front = cc[cc["pareto"]]
    assert front[["model", "lr"]].values.tolist() == [["a", 0.2]]  # a is better and as cheap per hour


def test_failures_are_the_runs_that_went_wrong_with_a_reason_each():
    runs = grid()
    runs["state"] = ["failed", "crashed", "killed", "pruned", "preempted", "running"] + ["finished"] * 6
    t = read_tables(runs, empty_history(), CONFIG, compare=None, sweep_id="s")
    f = sections.failures_table(t, "model")
    assert f["state"].tolist() == ["failed", "crashed", "killed", "pruned", "preempted"]  # every run not finished
    assert list(f.columns) == ["run_id", "name", "state", "reason", "model"]
    assert set(f["reason"]) == {"(no reason recorded)"}


def test_leaderboard_and_caveats():
    t, g = stages(grid())
    lb = sections.leaderboard(t, g, size=3)
    assert lb["acc"].is_monotonic_decreasing and len(lb) == 3
    assert list(lb.columns) == ["run_id", "name", "model", "lr", "seed", "acc"]  # no url column in these runs
    assert sections.caveats("random") == [] and "grid sweep" in sections.caveats("grid")[0]


def test_system_table_keeps_runs_with_gpu_memory_or_utilisation():
    runs = grid().assign(peak_gpu_memory_mb=[np.nan] * 11 + [900.0])
    hist = pd.DataFrame({"run_id": ["r0", "r0"], "step": [0.0, 1.0], "metric": "system.gpu.0.gpu", "value": [40, 60]})
    t, g = stages(runs, history=hist)
    s = sections.system_table(t, g).set_index("run_id")
    assert s.index.tolist() == ["r0", "r11"]
    assert s.loc["r0", "gpu_util"] == 50.0 and s.loc["r11", "peak_gpu_memory_mb"] == 900.0


def test_tables_are_what_later_stages_read():
    t, _ = stages(grid())
    assert isinstance(t, Tables) and t.state.tolist() == ["finished"] * 12
