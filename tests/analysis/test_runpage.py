"""A run page from a run's data: system metrics by kind, every logged metric, the console escaped,
no secret anywhere."""

from __future__ import annotations

import json
import re

import pandas as pd

from agent.backends.base import RunRecord
from analysis.render.runpage import write_run_page
from analysis.render.templating import env
from analysis.tables.sources import RunData


def test_run_page_shows_system_metrics_console_and_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "s3cr3t-token-value-123456")
    frame = pd.DataFrame(
        {
            "run_id": "r1",
            "step": [0.0, 1.0, 0.0, 2.0, 0.0, 2.0, 0.0],
            "metric": [
                "eval/loss",
                "eval/loss",
                "system.cpu",
                "system.cpu",
                "system.gpu.0.temp",
                "system.gpu.0.temp",
                "system.proc.memory.rssMB",
            ],
            "value": [0.9, 0.5, 40.0, 55.0, 61.0, 63.0, 812.0],
        }
    )
    console = ["<b>epoch 1</b>", "uses s3cr3t-token-value-123456 here"]
    rec = RunRecord(
        "r1",
        "failed",
        config={"lr": 0.1, "api_key": "k", "note": "s3cr3t-token-value-123456"},
        reason="boom",
        url="https://wandb.ai/e/p/runs/r1",
        run_dir="/tmp/r1",
    )
    page = write_run_page(
        tmp_path,
        env(),
        rec,
        {"reason": "<i>boom</i>", "eval/loss": 0.5},
        RunData("k1", frame, {}, console),
        sweep_id="s",
        metric="eval/loss",
    )
    html = page.read_text()
    assert page == tmp_path / "runs" / "r1.html"
    figs = json.loads(re.search(r'<script type="application/json" id="sk-figures">(.*?)</script>', html, re.S).group(1))
    titles = [f["layout"]["title"]["text"] for f in figs["system"]]
    assert titles == ["process CPU (%)", "process memory (MB)", "GPU temperature (°C)"]
    assert [f["layout"]["title"]["text"] for f in figs["metrics"]] == ["eval/loss"]
    assert "&lt;b&gt;epoch 1&lt;/b&gt;" in html and "<b>epoch" not in html and "&lt;i&gt;boom" in html
    assert "s3cr3t" not in html and "api_key" not in html and "[redacted]" in html
    assert 'href="https://wandb.ai/e/p/runs/r1"' in html and 'src="../assets/plotly.min.js"' in html
    assert "s3cr3t" not in (tmp_path / "runs" / "r1.console.txt").read_text()
