"""Report generation from synthetic run tables: numbers, takeaways, edge cases, outputs."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.build import ReportError, build_report
from analysis.data import Scale
from analysis.report import write_outputs
from analysis.stats import PairedDifference
from analysis.takeaways import comparison_sentence
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
    assert t.startswith("tiny-distilbert is 2.") and "below tiny-bert" in t and "95% CI" in t
    assert f"{-c.high * 100:.1f}–{-c.low * 100:.1f}" in t and "× the throughput" in t


def test_takeaway_never_claims_a_winner_the_ci_does_not_support():
    s = Scale(100.0, "points")
    ns = PairedDifference("a", "b", -0.004, -0.011, 0.003, 12, 0.95, False, None)
    text = comparison_sentence(ns, s, maximize=True, throughput_ratio=1.7)
    assert "not significant" in text and "includes 0" in text
    assert " below " not in text and " above " not in text and "better" not in text
    sig = PairedDifference("a", "b", -0.012, -0.020, -0.004, 12, 0.95, True, "b")
    text = comparison_sentence(sig, s, maximize=True, throughput_ratio=1.7)
    assert text.startswith("a is 1.2 points (95% CI 0.4–2.0) below b at 1.7× the throughput")
    one = PairedDifference("a", "b", -0.012, None, None, 6, 0.95, False, None, "a single seed")
    text = comparison_sentence(one, s, maximize=True)
    assert "no winner is claimed" in text and "single seed" in text and "CI 0" not in text


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
        (lambda r: r.drop(columns=["eval/accuracy"]), "no run logged the sweep metric"),
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
        assert pm["throughput"] == pytest.approx(sub["train/train_samples_per_second"].mean())
    keys = ["model_name_or_path", "learning_rate", "per_device_train_batch_size"]
    grouped = csv.groupby(keys)[m].agg(["mean", "std", "count"])
    for cell in rj["cells"]:
        row = grouped.loc[tuple(cell[k] for k in keys)]
        assert cell["mean"] == pytest.approx(row["mean"]) and cell["std"] == pytest.approx(row["std"])
        assert cell["count"] == row["count"]
    # CI bounds: the stated interval is the bootstrap of the paired differences in runs.csv.
    comp = rj["comparisons"][0]
    piv = csv.pivot_table(index=keys[1:] + ["seed"], columns=keys[0], values=m)
    diffs = (piv[comp["a"]] - piv[comp["b"]]).dropna()
    assert comp["mean"] == pytest.approx(diffs.mean()) and comp["n_pairs"] == len(diffs)
    assert comp["low"] <= comp["mean"] <= comp["high"]
    evp = rj["evp"]["tiny-bert"]
    sub = csv[csv.model_name_or_path == "tiny-bert"][m]
    assert evp[0]["mean"] == pytest.approx(sub.mean()) and evp[-1]["mean"] == pytest.approx(sub.max())
    assert {r["feature"] for r in rj["importance"]} and all(0 <= r["importance"] <= 1 for r in rj["importance"])
    hm = rj["heatmaps"]["tiny-bert"]
    i, j = hm["rows"].index(16), hm["cols"].index(3e-5)
    assert hm["values"][i][j] == pytest.approx(
        csv[
            (csv.model_name_or_path == "tiny-bert")
            & (csv.per_device_train_batch_size == 16)
            & (csv.learning_rate == 3e-5)
        ][m].mean()
    )
    assert not math.isnan(rj["per_model"][0]["metric_per_gpu_hour"])


def test_all_outputs_written_and_markdown_links_pngs(sweep, tmp_path):
    runs, hist, cfg = sweep
    d = build_report(runs, hist, cfg, sweep_id="s")
    paths = write_outputs(d, runs, hist, tmp_path)
    md = paths["md"].read_text()
    for name in ("comparison", "heatmap", "curves", "evp", "importance", "system"):
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
