"""Report generation from synthetic run tables: numbers, takeaways, edge cases, outputs."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.render.outputs import write_outputs
from analysis.report.build import ReportError, build_report
from analysis.report.data import Scale
from analysis.report.takeaways import comparison_sentence, tradeoff_sentence
from analysis.stats.compare import PairedDifference, paired_difference
from tests.synthetic import synthetic_sweep


@pytest.fixture(scope="module")
def sweep():
    return synthetic_sweep(gap=0.02, noise=0.005, rng=1)


def test_build_report_finds_the_known_gap(sweep):
    runs, hist, cfg = sweep
    d = build_report(runs, hist, cfg, sweep_id="s")
    assert d.compare == "model_name_or_path" and d.maximize and d.models[0] == "tiny-bert"
    c = d.comparisons[0]
    assert (c.a, c.b) == ("tiny-distilbert", "tiny-bert") and c.n_pairs == 18
    assert c.low < -0.02 < c.high and c.high < 0 and c.better == "tiny-bert"
    assert d.heatmaps["tiny-bert"].shape == (2, 3)
    assert set(d.curves) == set(d.models) and d.curves["tiny-bert"]["n"].iloc[-1] == 3
    assert d.importance.iloc[0]["param"] in {"learning_rate", "model_name_or_path"}
    assert d.caveats and "grid" in d.caveats[0]  # EVP's i.i.d. caveat for grid sweeps
    t = d.takeaways["comparison"]
    assert t.startswith("tiny-distilbert is 2.") and "below tiny-bert" in t and "95% CI" in t and "paired t" in t
    assert f"{-c.high * 100:.1f}–{-c.low * 100:.1f}" in t and "18 pairs" in t
    tr = d.takeaways["tradeoff"]
    assert tr.startswith("tiny-bert buys 2.") and "over tiny-distilbert" in tr
    assert "× its throughput" in tr and "× its parameters" in tr
    assert "Pareto front" in tr


def test_takeaway_never_claims_a_winner_the_ci_does_not_support():
    s = Scale(100.0, "points")
    ns = paired_difference([-0.004, 0.003, -0.011, 0.002], a="a", b="b", maximize=True)
    text = comparison_sentence(ns, s, maximize=True)
    assert "not significant" in text and "paired t" in text and "4 pairs" in text
    assert " below " not in text and " above " not in text and "better" not in text
    assert "4 pairs cannot show a difference at 95% without assuming normal differences" in text
    assert "run at least 6 seeds" in text
    if ns.underpowered:
        assert "Underpowered" in text and f"{ns.detectable * 100:.1f} points or more with 80% power" in text
    sig = PairedDifference(
        "a", "b", -0.012, -0.020, -0.004, 12, 0.95, True, "b", p_value=0.004, sign_flip_p=0.01, min_pairs_sign_flip=6
    )
    text = comparison_sentence(sig, s, maximize=True)
    assert text.startswith("a is 1.2 points (95% CI 0.4–2.0; paired t, p = 0.004, 12 pairs) below b (worse)")
    one = PairedDifference("a", "b", -0.012, None, None, 6, 0.95, False, None, "a single seed")
    text = comparison_sentence(one, s, maximize=True)
    assert "no winner is claimed" in text and "single seed" in text and "CI 0" not in text


def test_tradeoff_sentence_says_what_the_dearer_model_buys_and_at_what_price():
    s = Scale(100.0, "points")
    sig = PairedDifference("distil", "bert", -0.012, -0.020, -0.004, 12, 0.95, True, "bert")
    a = {"throughput": 340.0, "num_parameters": 2.0e6, "hours": 0.01}
    b = {"throughput": 200.0, "num_parameters": 4.4e6, "hours": 0.02}
    text = tradeoff_sentence(sig, a, b, s, maximize=True, hours_unit="GPU-hours")
    assert text == (
        "bert buys 1.2 points (95% CI 0.4–2.0; paired t, 12 pairs) over distil, at 0.59× its throughput, "
        "2.20× its parameters, 2.00× its GPU-hours per trial."
    )
    ns = PairedDifference("distil", "bert", -0.004, -0.011, 0.003, 12, 0.95, False, None)
    text = tradeoff_sentence(ns, a, b, s, maximize=True, hours_unit="GPU-hours")
    assert text.startswith("bert scores +0.4 points against distil (95% CI -0.3 to +1.1") and "not significant" in text
    worse = PairedDifference("distil", "bert", 0.012, 0.004, 0.020, 12, 0.95, True, "distil")
    text = tradeoff_sentence(worse, a, b, s, maximize=True, hours_unit="GPU-hours")
    assert text.startswith("bert runs at 0.59× its throughput") and "1.2 points worse than distil" in text
    assert "buys nothing" in text
    same = {"throughput": 200.0, "num_parameters": 4.4e6, "hours": 0.02}
    assert "cost about the same" in tradeoff_sentence(sig, same, b, s, maximize=True, hours_unit="GPU-hours")


def test_equal_models_are_reported_as_not_significant():
    runs, hist, cfg = synthetic_sweep(gap=0.0, noise=0.01, rng=3)
    d = build_report(runs, hist, cfg)
    c = d.comparisons[0]
    assert c.low < 0 < c.high and "not significant" in d.takeaways["comparison"]


def test_single_seed_gives_no_ci_and_says_so():
    runs, hist, cfg = synthetic_sweep(seeds=(7,))
    d = build_report(runs, hist, cfg)
    assert d.comparisons[0].low is None
    assert any("Only one seed" in m for m in d.messages)
    assert "no winner is claimed" in d.takeaways["comparison"]


def test_single_model_has_nothing_to_compare():
    runs, hist, cfg = synthetic_sweep(models=("tiny-bert",))
    d = build_report(runs, hist, cfg)
    assert d.comparisons == [] and any("Only one model" in m for m in d.messages)
    assert d.takeaways["comparison"].startswith("Only tiny-bert was run")


def test_running_nan_and_failed_runs_are_left_out_with_messages(sweep):
    runs, hist, cfg = sweep
    runs = runs.copy()
    runs.loc[0, "state"] = "running"
    runs.loc[1, "eval/accuracy"] = np.nan
    runs.loc[2, ["state", "reason"]] = ["failed", "CUDA out of memory"]
    runs.loc[3, ["state", "reason"]] = ["pruned", "hyperband: below rung 1"]
    d = build_report(runs, hist, cfg)
    assert d.counts["usable"] == len(runs) - 4
    assert any("still running" in m for m in d.messages)
    assert any("NaN" in m for m in d.messages)
    assert set(d.failures["state"]) == {"failed", "pruned"}
    assert "CUDA out of memory" in d.failures["reason"].tolist()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.iloc[0:0], "no runs yet"),
        (lambda r: r.assign(state="running"), "no finished run"),
        (lambda r: r.assign(**{"eval/accuracy": np.nan}), "no finished run with a finite"),
        (lambda r: r.drop(columns=["eval/accuracy"]), "no run logged 'eval/accuracy'"),
    ],
)
def test_nothing_to_report_raises_one_line_report_error(sweep, mutate, message):
    runs, hist, cfg = sweep
    with pytest.raises(ReportError) as e:
        build_report(mutate(runs.copy()), hist, cfg, sweep_id="s")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unknown_compare_key_is_a_report_error(sweep):
    runs, hist, cfg = sweep
    with pytest.raises(ReportError, match="--compare 'nope'.*choose one of"):
        build_report(runs, hist, cfg, compare="nope")


def test_minimize_goal_flips_direction(sweep):
    runs, hist, cfg = sweep
    cfg = {**cfg, "metric": {"name": "eval/loss", "goal": "minimize"}}
    d = build_report(runs, hist, cfg)
    assert not d.maximize and d.models[0] == "tiny-bert"  # lower loss first
    assert d.leaderboard["eval/loss"].is_monotonic_increasing
    assert d.comparisons[0].better == "tiny-bert" and d.scale.unit == "(eval/loss)"


def test_report_json_numbers_recompute_from_runs_csv(sweep, tmp_path):
    """Every number checked here is recomputed from runs.csv with scipy/pandas, not with analysis code."""
    from scipy import stats as sps

    runs, hist, cfg = sweep
    d = build_report(runs, hist, cfg, sweep_id="s")
    paths = write_outputs(d, runs, hist, tmp_path)
    rj = json.loads(paths["json"].read_text())
    csv = pd.read_csv(paths["runs_csv"])
    m = "eval/accuracy"
    assert rj["counts"]["total"] == len(csv) and rj["counts"]["usable"] == (csv.state == "finished").sum()
    for pm in rj["per_model"]:
        sub = csv[csv.model_name_or_path == pm["model"]]
        assert pm["best_run"]["value"] == pytest.approx(sub[m].max())
        assert pm["runs"] == len(sub) and pm["mean"] == pytest.approx(sub[m].mean())
        c = pm["cost"]
        assert c["throughput"] == pytest.approx(sub["train/train_samples_per_second"].mean())
        assert c["wall_s"] == pytest.approx(sub["runtime_s"].mean()) and c["hours"] == pytest.approx(c["wall_s"] / 3600)
        assert c["num_parameters"] == sub["num_parameters"].median()
        assert c["peak_gpu_memory_mb"] == pytest.approx(sub["peak_gpu_memory_mb"].mean())
    keys = ["model_name_or_path", "learning_rate", "per_device_train_batch_size"]
    grouped = csv.groupby(keys)[m].agg(["mean", "std", "count", "sem"])
    for cell in rj["cells"]:
        row = grouped.loc[tuple(cell[k] for k in keys)]
        assert cell["mean"] == pytest.approx(row["mean"]) and cell["std"] == pytest.approx(row["std"])
        assert cell["count"] == row["count"]
        # accuracy lies in [0, 1]: the t-interval on the logit scale (delta method), mapped back
        mean, half = row["mean"], sps.t.ppf(0.975, row["count"] - 1) * row["sem"]
        z, hz = sps.logistic.ppf(mean), half / (mean * (1 - mean))
        assert (cell["low"], cell["high"]) == pytest.approx((sps.logistic.cdf(z - hz), sps.logistic.cdf(z + hz)))
    assert rj["bounds"] == {"low": 0.0, "high": 1.0, "intervals": pytest.approx(rj["bounds"]["intervals"])}
    assert "logit scale" in rj["bounds"]["intervals"]
    # The comparison: scipy's paired t-test on the matched differences in runs.csv.
    comp = rj["comparisons"][0]
    piv = csv.pivot_table(index=keys[1:] + ["seed"], columns=keys[0], values=m)
    a, b = piv[comp["a"]].dropna(), piv[comp["b"]].dropna()
    ref = sps.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert comp["mean"] == pytest.approx((a - b).mean()) and comp["n_pairs"] == len(a)
    assert (comp["low"], comp["high"]) == pytest.approx((ci.low, ci.high)) and comp["p_value"] == pytest.approx(
        ref.pvalue
    )
    assert comp["significant"] == (ref.pvalue < 0.05) and comp["method"].startswith("paired t")
    # Power: the noncentral t at the observed spread.
    sd, n = (a - b).std(ddof=1), len(a)
    crit = sps.t.ppf(0.975, n - 1)
    nc = comp["detectable"] / sd * np.sqrt(n)
    assert 1 - sps.nct.cdf(crit, n - 1, nc) + sps.nct.cdf(-crit, n - 1, nc) == pytest.approx(0.8, abs=1e-4)
    evp = rj["evp"]["tiny-bert"]
    sub = csv[csv.model_name_or_path == "tiny-bert"][m]
    assert evp[0]["mean"] == pytest.approx(sub.mean()) and evp[-1]["mean"] == pytest.approx(sub.max())
    assert evp[-1]["low"] == evp[-1]["high"] == pytest.approx(sub.max())
    timed = rj["evp_time"]["curves"]["tiny-bert"]
    assert rj["evp_time"]["unit"] == "wall hours" and timed[-1]["budget"] == pytest.approx(
        csv[csv.model_name_or_path == "tiny-bert"]["runtime_s"].sum() / 3600
    )
    assert timed[-1]["mean"] == pytest.approx(sub.max())  # the whole budget runs every trial
    configs = pd.DataFrame(rj["cost"]["configs"])
    for _, r in configs.iterrows():
        mine = csv[(csv[keys[0]] == r["model"]) & (csv[keys[1]] == r[keys[1]]) & (csv[keys[2]] == r[keys[2]])]
        assert r["hours"] == pytest.approx(mine["runtime_s"].mean() / 3600) and r["mean"] == pytest.approx(
            mine[m].mean()
        )
        dominated = (
            (configs["mean"] >= r["mean"])
            & (configs["hours"] <= r["hours"])
            & ((configs["mean"] > r["mean"]) | (configs["hours"] < r["hours"]))
        ).any()
        assert r["pareto"] == (not dominated)
    assert {r["param"] for r in rj["importance"]} == set(keys)  # one row per parameter, the model key too
    assert all(0 <= r["importance"] <= 1 for r in rj["importance"])
    hm = rj["heatmaps"]["tiny-bert"]
    i, j = hm["rows"].index(16), hm["cols"].index(3e-5)
    assert hm["values"][i][j] == pytest.approx(
        csv[
            (csv.model_name_or_path == "tiny-bert")
            & (csv.per_device_train_batch_size == 16)
            & (csv.learning_rate == 3e-5)
        ][m].mean()
    )


def test_all_outputs_written_and_markdown_links_pngs(sweep, tmp_path):
    runs, hist, cfg = sweep
    d = build_report(runs, hist, cfg, sweep_id="s")
    paths = write_outputs(d, runs, hist, tmp_path)
    md = paths["md"].read_text()
    for name in ("comparison", "tradeoff", "heatmap", "curves", "evp", "importance", "system"):
        assert f"(figures/{name}.png)" in md and (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    html = paths["html"].read_text()
    # self-contained: plotly.js inline exactly once, no external script, style or image
    assert html.count("<script") == 6 and html.count("Plotly.newPlot(") == 1
    assert "<script src" not in html and "<link" not in html and 'src="http' not in html
    assert len(pd.read_csv(paths["history_csv"])) == len(hist)


def test_constant_metric_is_said_plainly(sweep):
    runs, hist, cfg = sweep
    d = build_report(runs.assign(**{"eval/accuracy": 0.5}), hist, cfg)
    assert "the same in every finished run" in d.takeaways["importance"]
    assert "not significant" in d.takeaways["comparison"]


def test_a_model_too_slow_for_the_time_budget_is_named_not_crashed(sweep):
    # One tiny-bert trial costs more than tiny-distilbert's whole sweep (a cold first load can).
    runs, hist, cfg = sweep
    fast = runs.model_name_or_path == "tiny-distilbert"
    slow_runs = runs.assign(runtime_s=np.where(fast, 1.0, 100.0))
    d = build_report(slow_runs, hist, cfg)
    t = d.takeaways["evp"]
    assert "none (no tiny-bert trial finishes in that time)" in t
    best_fast = runs.loc[fast, "eval/accuracy"].max()  # the whole budget runs every fast trial
    assert t.endswith(
        f"Given {18 / 3600:.3g} wall hours (the smallest model's whole sweep), it is tiny-bert none "
        f"(no tiny-bert trial finishes in that time); tiny-distilbert {100 * best_fast:.1f}."
    )


def test_the_summary_line_names_the_best_run_not_the_best_models_best_run(sweep, tmp_path):
    """tiny-bert has the best mean; one tiny-distilbert run beats every tiny-bert run."""
    from analysis.commands.report import summary_line

    runs, hist, cfg = sweep
    runs = runs.copy()
    lucky = runs.index[runs["model_name_or_path"] == "tiny-distilbert"][0]
    runs.loc[lucky, "eval/accuracy"] = 0.99
    d = build_report(runs, hist, cfg, sweep_id="s")
    assert d.models[0] == "tiny-bert" and d.leaderboard.iloc[0]["run_id"] == runs.loc[lucky, "run_id"]
    line = summary_line(d, tmp_path / "report.html")
    assert "best eval/accuracy 99.0 (tiny-distilbert, run " + runs.loc[lucky, "run_id"] in line, line


def test_a_metric_no_run_logged_names_the_logged_keys_that_come_closest(sweep):
    runs, hist, cfg = sweep
    cfg = {**cfg, "metric": {"name": "eval_accuracy", "goal": "maximize"}}
    with pytest.raises(ReportError) as e:
        build_report(runs, hist, cfg, sweep_id="s")
    assert "did you mean eval/accuracy?" in str(e.value) and "--metric eval/accuracy" in str(e.value)


def test_report_metric_ranks_by_any_logged_key_and_says_so(sweep):
    from analysis.commands.report import with_metric

    runs, hist, cfg = sweep
    config, note = with_metric({**cfg, "metric": {"name": "eval_accuracy", "goal": "maximize"}}, "eval/loss", None)
    d = build_report(runs, hist, config, sweep_id="s")
    assert d.metric == "eval/loss" and not d.maximize  # a loss: lower is better, read from its name
    assert "ranks runs by eval/loss (lower is better; given with --metric" in note and "eval_accuracy" in note
    config, note = with_metric(cfg, "eval/f1", "minimize")
    assert config["metric"] == {"name": "eval/f1", "goal": "minimize"} and "lower is better" in note
    assert with_metric(cfg, None, None) == (cfg, None)


def test_a_stock_trainers_names_fill_throughput_and_parameters_and_paths_become_short_labels(sweep):
    runs, hist, cfg = sweep
    stock = runs.rename(
        columns={"train/train_samples_per_second": "train_samples_per_second", "num_parameters": "model/num_parameters"}
    )
    stock["model_name_or_path"] = "/home/me/models/" + stock["model_name_or_path"] + "/"
    stock_cfg = {**cfg, "parameters": {**cfg["parameters"]}}
    stock_cfg["parameters"]["model_name_or_path"] = {"values": sorted(stock["model_name_or_path"].unique())}
    ours, theirs = build_report(runs, hist, cfg), build_report(stock, hist, stock_cfg)
    assert theirs.models == ours.models == ["tiny-bert", "tiny-distilbert"]
    for key in ("throughput", "num_parameters"):
        assert theirs.config_costs[key].notna().all(), key
        assert list(theirs.config_costs[key]) == list(ours.config_costs[key])


def test_short_labels_keep_as_much_of_a_path_as_tells_models_apart():
    from analysis.tables.sweep import short_labels

    assert short_labels(["/m/bert-base-uncased/", "org/distilbert-base-uncased", "tiny-bert"]) == {
        "/m/bert-base-uncased/": "bert-base-uncased",
        "org/distilbert-base-uncased": "distilbert-base-uncased",
        "tiny-bert": "tiny-bert",
    }
    assert short_labels(["/runs/a/model", "/runs/b/model"]) == {"/runs/a/model": "a/model", "/runs/b/model": "b/model"}
    assert short_labels(["a/b", "a/b/"]) == {"a/b": "a/b", "a/b/": "a/b/"}  # nothing tells them apart: as they are
    assert short_labels(["</script>x"]) == {"</script>x": "</script>x"}  # text, not a path
