"""Run sources through a backend: W&B's public `Run` objects in one bulk fetch, retry with backoff,
a disk cache that serves a finished W&B sweep without any network call, and any backend alike."""

import os
from types import SimpleNamespace

import pandas as pd
import pytest
import wandb.errors
from wandb.apis.public import Run

from agent.backends.base import Backend, BackendError, RunHistory, RunRecord, SweepInfo
from agent.backends.wandb import WandbBackend
from agent.backends.wandb.api import with_retry
from analysis.tables import tidy
from analysis.tables.sources import RunSource

SWEEP_CONFIG = {
    "method": "grid",
    "metric": {"name": "eval/accuracy", "goal": "maximize"},
    "parameters": {
        "model_name_or_path": {"values": ["tiny-bert", "tiny-distilbert"]},
        "learning_rate": {"values": [1e-5, 1e-4]},
        "seed": {"values": [1, 2]},
    },
}


class CountingRun(Run):
    """A real public Run built from attrs (no fetch); history calls are counted, not sent."""

    calls = None

    def history(self, samples=500, keys=None, x_axis="_step", pandas=True, stream="default"):
        self.calls["history" if stream == "default" else "system"] += 1
        if stream == "system":
            return [{"system.gpu.0.gpu": 50.0 + i, "_timestamp": i} for i in range(3)]
        return [
            {"_step": s, "train/global_step": s * 10, "eval/accuracy": 0.5 + 0.1 * s, "eval/loss": 1.0 - 0.1 * s}
            for s in range(3)
        ]

    def file(self, name):
        run = self

        class File:
            def download(self, root, replace=False):
                path = os.path.join(root, name)
                with open(path, "w") as fh:
                    fh.write(f"hello from {run.id}\n<b>markup</b>\n")
                return open(path)

        return File()


def make_run(calls, i, state="finished", **config):
    svc = SimpleNamespace(app_url="https://wandb.ai/")
    r = CountingRun(
        svc,
        "ent",
        "proj",
        f"run{i}",
        attrs={
            "name": f"run{i}",
            "displayName": f"pretty-{i}",
            "state": state,
            "createdAt": "2026-01-01",
            "tags": ["a"],
            "config": {
                "model_name_or_path": {"value": config.get("model", "tiny-bert")},
                "learning_rate": {"value": 1e-5},
                "seed": {"value": i},
                "hub_token": {"value": "hf_supersecretsupersecretsupersecret12"},
                "_wandb": {"value": {"cli_version": "0.31"}},
            },
            "summaryMetrics": {
                "eval/accuracy": 0.7 + i / 100,
                "eval/loss": 0.4,
                "_runtime": 30.0,
                "train/train_samples_per_second": 100.0,
                "num_parameters": 1000,
                "_wandb": {"runtime": 30},
            },
        },
    )
    r.calls = calls
    return r


class FakeApi:
    def __init__(self, states=("finished", "finished"), sweep_state="FINISHED", fail_first=0):
        self.calls = {"sweep": 0, "runs": 0, "history": 0, "system": 0}
        self.states, self.sweep_state, self.fail_first = states, sweep_state, fail_first
        self.runs_args = None

    def sweep(self, path):
        self.calls["sweep"] += 1
        return SimpleNamespace(
            id=path.split("/")[-1], entity="ent", project="proj", config=SWEEP_CONFIG, state=self.sweep_state, name="s"
        )

    def runs(self, path, filters=None, per_page=50, lazy=True):
        self.calls["runs"] += 1
        if self.fail_first:
            self.fail_first -= 1
            raise wandb.errors.CommError("HTTP 429: Too Many Requests")
        self.runs_args = (path, filters, per_page, lazy)
        return [
            make_run(self.calls, i, s, model=["tiny-bert", "tiny-distilbert"][i % 2]) for i, s in enumerate(self.states)
        ]


class NoNetworkApi:
    def __getattr__(self, name):
        raise AssertionError(f"network call {name} on a cached finished sweep")


def wandb_source(sweep_id, api, tmp_path, **retry):
    return RunSource(WandbBackend(api=api, **{"sleep": lambda s: None, **retry}), sweep_id, cache_dir=tmp_path)


def cached_file(tmp_path, name):
    return next((tmp_path / "runs").glob(f"*/{name}"))


def test_run_mapping_from_public_run_attrs(tmp_path):
    api = FakeApi()
    src = wandb_source("ent/proj/sw1", api, tmp_path)
    runs = src.runs_table().set_index("run_id")
    assert list(runs.index) == ["run0", "run1"]
    r = runs.loc["run1"]
    assert r["name"] == "pretty-1" and r["state"] == "finished" and r["eval/accuracy"] == 0.71
    assert r["model_name_or_path"] == "tiny-distilbert" and r["learning_rate"] == 1e-5
    assert r["runtime_s"] == 30.0 and r["url"] == "https://wandb.ai/ent/proj/runs/run1"
    assert "hub_token" not in runs.columns and "_wandb" not in runs.columns
    assert "hf_supersecret" not in cached_file(tmp_path, "meta.json").read_text()
    # one bulk query, eager (lazy=False), filtered by sweep
    assert api.runs_args == ("ent/proj", {"sweep": "sw1"}, 500, False)
    h = src.history_table()
    acc = h[(h.run_id == "run0") & (h.metric == "eval/accuracy")]
    assert acc["step"].tolist() == [0, 10, 20]  # trainer's global step, not _step
    assert acc["value"].tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert (h.metric == "system.gpu.0.gpu").sum() == 6
    assert src.data["run1"].console == ["hello from run1", "<b>markup</b>"]  # for the run pages
    assert src.sweep_info().config["metric"]["goal"] == "maximize"


def test_second_report_on_finished_sweep_makes_no_network_calls(tmp_path):
    api = FakeApi()
    first = wandb_source("ent/proj/sw1", api, tmp_path)
    r1, h1 = first.runs_table(), first.history_table()
    assert api.calls == {"sweep": 1, "runs": 1, "history": 2, "system": 2}
    second = wandb_source("ent/proj/sw1", NoNetworkApi(), tmp_path)
    pd.testing.assert_frame_equal(second.runs_table(), r1)
    pd.testing.assert_frame_equal(second.history_table().reset_index(drop=True), h1.reset_index(drop=True))
    assert second.sweep_info().path == "ent/proj/sw1"


def test_running_sweep_refetches_runs_but_not_finished_history(tmp_path):
    api = FakeApi(states=("finished", "running"), sweep_state="RUNNING")
    wandb_source("ent/proj/sw2", api, tmp_path).runs_table()
    assert api.calls["history"] == 2
    api2 = FakeApi(states=("finished", "finished"), sweep_state="RUNNING")
    wandb_source("ent/proj/sw2", api2, tmp_path).runs_table()
    assert api2.calls["runs"] == 1 and api2.calls["history"] == 1  # only the formerly running run


def test_retry_with_exponential_backoff_on_429(tmp_path):
    sleeps = []
    api = FakeApi(fail_first=2)
    src = wandb_source("ent/proj/sw3", api, tmp_path, sleep=sleeps.append, base_delay=1.0)
    assert len(src.runs_table()) == 2
    assert len(sleeps) == 2 and 1.0 <= sleeps[0] <= 1.25 and 2.0 <= sleeps[1] <= 2.5


def test_retry_gives_up_with_one_line_error():
    def boom():
        raise wandb.errors.CommError("HTTP 429: Too Many Requests\nretry later")

    with pytest.raises(BackendError) as e:
        with_retry(boom, what="listing runs", retries=2, sleep=lambda s: None)
    assert "\n" not in str(e.value) and "listing runs" in str(e.value)
    with pytest.raises(BackendError):  # not retryable errors fail at once
        with_retry(lambda: 1 / 0, what="x", retries=5, sleep=lambda s: pytest.fail("slept"))


class MemoryBackend(Backend):
    """A backend of a made-up kind: the source must need nothing but the interface."""

    name = "memory"

    def __init__(self):
        self.history_calls = 0

    def create_sweep(self, config, *, project=None, entity=None):
        raise NotImplementedError

    def sweep(self, sweep_id):
        return SweepInfo(id=sweep_id, backend=self.name, config=SWEEP_CONFIG, state="running")

    def list_sweeps(self):
        return []

    def host_bound_store(self, info):
        return None

    def runs(self, sweep_id):
        return [
            RunRecord(
                f"m{i}",
                "finished",
                config={"seed": i, "model_name_or_path": "tiny-bert"},
                summary={"eval/accuracy": 0.5 + i / 10},
                data_key="v1",
            )
            for i in range(3)
        ]

    def history(self, sweep_id, run, keys=None):
        self.history_calls += 1
        return RunHistory(
            rows=[{"_step": s, "eval/accuracy": 0.1 * s} for s in range(4)],
            system=[{"system.cpu": 10.0}],
            summary={"eval/f1": 0.9},
        )

    def run_agent(self, sweep_id, *, runner, progress, settings=None):
        raise NotImplementedError


def test_any_backend_serves_a_source_and_unchanged_runs_are_read_once(tmp_path):
    b = MemoryBackend()
    runs = RunSource(b, "s1", cache_dir=tmp_path).runs_table()
    assert list(runs["run_id"]) == ["m0", "m1", "m2"] and list(runs["eval/f1"]) == [0.9] * 3
    hist = RunSource(b, "s1", cache_dir=tmp_path).history_table()
    assert set(hist["metric"]) == {"eval/accuracy", "system.cpu"} and b.history_calls == 3


def test_secret_keys_and_values_are_dropped(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-1234567890-abcdef")
    df = tidy.runs_frame(
        [
            {
                "id": "r1",
                "state": "finished",
                "config": {
                    "api_key": "x",
                    "tokenizer_name": "bert",
                    "note": "tok-1234567890-abcdef",
                    "nested": {"password": "p", "lr": 0.1},
                },
                "summary": {"eval/accuracy": 0.5},
            }
        ]
    )
    assert "api_key" not in df and "nested.password" not in df and df.loc[0, "nested.lr"] == 0.1
    assert df.loc[0, "tokenizer_name"] == "bert" and df.loc[0, "note"] == tidy.REDACTED


@pytest.mark.skipif(not os.environ.get("WANDB_API_KEY"), reason="live W&B test: WANDB_API_KEY is not set")
def test_live_wandb_sweep(tmp_path):
    path = os.environ.get("SWEEPKIT_LIVE_SWEEP")
    if not path:
        pytest.skip("live W&B test: set SWEEPKIT_LIVE_SWEEP=entity/project/sweep_id to pick a sweep")
    src = RunSource(WandbBackend(), path, cache_dir=tmp_path)
    runs = src.runs_table()
    assert len(runs) > 0 and set(tidy.META) <= set(runs.columns)
    assert set(src.history_table().columns) == set(tidy.HISTORY_COLUMNS)


def test_history_keys_are_the_eval_metrics_plus_the_trainer_step():
    from analysis.tables.sources import history_keys

    summary = {"eval/f1": 0.8, "eval/accuracy": 0.7, "train/loss": 0.1, "train/global_step": 30, "eval/samples": "x"}
    assert history_keys(summary, "eval/accuracy") == ["eval/accuracy", "eval/f1", "train/global_step"]
    assert history_keys({}, "eval/accuracy") == ["eval/accuracy"]


def test_write_report_on_wandb_backend_then_again_fully_offline(tmp_path, monkeypatch):
    import wandb

    from analysis.commands.report import write_report

    monkeypatch.setenv("SWEEPKIT_CACHE", str(tmp_path / "cache"))
    api = FakeApi(states=("finished",) * 4)
    monkeypatch.setattr(wandb, "Api", lambda *a, **k: api)
    res = write_report("ent/proj/sw9", backend=WandbBackend(), out_dir=tmp_path / "a")
    assert res.html.is_file() and "4/4 runs" in res.summary
    assert "https://wandb.ai/ent/proj/runs/run" in res.html.read_text()  # run links online
    assert api.calls["sweep"] == 1 and api.calls["runs"] == 1

    monkeypatch.setattr(wandb, "Api", lambda *a, **k: NoNetworkApi())
    again = write_report("ent/proj/sw9", backend=WandbBackend(), out_dir=tmp_path / "b")
    assert again.runs_csv.read_text() == res.runs_csv.read_text()
