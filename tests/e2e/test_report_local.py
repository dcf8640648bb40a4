"""End to end on the real local backend: an offline sweep whose trials write real offline W&B
runs -> write_report -> files; the second report reads no run log again (cache)."""

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

CONFIG = {
    "method": "grid",
    "metric": {"name": "eval/accuracy", "goal": "maximize"},
    "parameters": {
        "model_name_or_path": {"values": ["tiny-bert", "tiny-distilbert"]},
        "learning_rate": {"values": [1e-4]},
        "per_device_train_batch_size": {"value": 8},
        "seed": {"values": [1, 2]},
    },
}


def offline_trial(spec):
    """Stands in for agent/trial.py: logs what its WandbCallback logs, to an offline run."""
    import wandb

    Path(spec.run_dir).mkdir(parents=True, exist_ok=True)
    base = 0.80 if spec.params["model_name_or_path"] == "tiny-bert" else 0.78
    base += 0.001 * spec.params["seed"]
    run = wandb.init(
        dir=spec.run_dir,
        id=spec.run_id,
        project="sk-test",
        mode="offline",
        config={**spec.params, "hub_token": "hf_abcdefghijklmnopqrstuvwxyz0123456789"},
        settings=wandb.Settings(silent=True, x_disable_stats=True),
    )
    for i in range(1, 4):
        run.log({"eval/accuracy": base - 0.1 / i, "eval/loss": 1 - base + 0.1 / i, "train/global_step": 10 * i})
    run.summary.update(
        {
            "train/train_runtime": 5.0,
            "train/train_samples_per_second": 100.0,
            "num_parameters": 1234,
            "peak_gpu_memory_mb": None,
        }
    )
    run.finish()
    return {}


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    home = tmp_path_factory.mktemp("skhome")
    mp = pytest.MonkeyPatch()
    mp.setenv("SWEEPKIT_HOME", str(home))
    mp.setenv("SWEEPKIT_CACHE", str(home / "cache"))
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    from agent.backends.local import LocalBackend

    backend = LocalBackend()
    sweep_id = backend.create_sweep(CONFIG)
    from tests.helpers import run_in_process

    assert run_in_process(backend, sweep_id, offline_trial) == 0
    yield backend, sweep_id, home
    mp.undo()


def test_write_report_from_local_store(local_sweep):
    from analysis.commands.report import write_report

    backend, sweep_id, home = local_sweep
    res = write_report(sweep_id, backend=backend, out_dir=home / "out")
    for p in (res.html, res.md, res.json, res.runs_csv, res.history_csv):
        assert p.is_file() and p.stat().st_size > 0
    assert "\n" not in res.summary and "4/4 runs" in res.summary and str(res.html) in res.summary
    runs = pd.read_csv(res.runs_csv)
    assert set(runs.state) == {"finished"} and "hub_token" not in runs.columns
    hist = pd.read_csv(res.history_csv)
    acc = hist[hist.metric == "eval/accuracy"]
    assert sorted(acc.step.unique()) == [10, 20, 30] and acc.run_id.nunique() == 4
    rj = json.loads(res.json.read_text())
    assert rj["models"] == ["tiny-bert", "tiny-distilbert"]
    assert rj["comparisons"][0]["n_pairs"] == 2 and rj["curves"]["tiny-bert"][-1]["n"] == 2
    assert "hf_abcdefghij" not in res.html.read_text()


def test_second_report_reads_no_run_log(local_sweep, monkeypatch, tmp_path):
    from analysis.commands.report import write_report

    backend, sweep_id, home = local_sweep
    write_report(sweep_id, backend=backend, out_dir=tmp_path)  # the first read fills the cache

    def no_read(*a, **k):
        raise AssertionError("an unchanged run log was read again")

    monkeypatch.setattr(backend, "history", no_read)
    res = write_report(sweep_id, backend=backend, out_dir=tmp_path)
    assert len(pd.read_csv(res.history_csv)) > 0


def test_unknown_sweep_is_one_line_report_error(local_sweep, tmp_path):
    from analysis.commands.report import write_report
    from analysis.report.data import ReportError

    backend, _, _ = local_sweep
    with pytest.raises(ReportError) as e:
        write_report("nosuch01", backend=backend, out_dir=tmp_path)
    assert "\n" not in str(e.value) and "nosuch01" in str(e.value)


def test_publish_on_an_offline_sweep_says_why_in_the_report(local_sweep, tmp_path):
    from analysis.commands.report import write_report

    backend, sweep_id, _ = local_sweep
    res = write_report(sweep_id, backend=backend, out_dir=tmp_path, publish=True)
    assert res.published_url is None
    assert "Not published: this is an offline sweep" in res.html.read_text()


def test_progress_is_shown_on_the_given_console(local_sweep, tmp_path):
    import io

    from rich.console import Console

    from analysis.commands.report import write_report

    backend, sweep_id, _ = local_sweep
    buf = io.StringIO()
    write_report(sweep_id, backend=backend, out_dir=tmp_path, console=Console(file=buf, force_terminal=True, width=100))
    shown = buf.getvalue()
    assert "reading runs of" in shown and "drawing report.html" in shown


def test_a_paused_sweep_says_so_in_its_report_and_live_page(tmp_path, monkeypatch):
    from agent.backends.local import LocalBackend
    from agent.states import SweepState
    from analysis.commands.report import write_report
    from tests.helpers import run_in_process

    monkeypatch.setenv("SWEEPKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SWEEPKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    backend = LocalBackend()
    config = {**CONFIG, "parameters": {**CONFIG["parameters"], "seed": {"values": [1, 2, 3]}}}
    sweep_id = backend.create_sweep(config)
    assert run_in_process(backend, sweep_id, offline_trial, count=4) == 0  # two points left
    backend.set_sweep_state(sweep_id, SweepState.PAUSED)
    res = write_report(sweep_id, backend=backend, out_dir=tmp_path / "out")
    assert "grid sweep (paused) · 4 runs" in res.md.read_text()
    assert json.loads(res.json.read_text())["sweep_state"] == "paused"
    html = res.html.read_text()
    assert '<span id="sk-sweep-state">paused</span>' in html and '"state": "paused"' in html
