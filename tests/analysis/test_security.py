"""Hostile run-derived strings never become markup or script; secrets never reach a report."""

import json
import re

import pytest

from analysis.render.figures import figure_json
from analysis.render.outputs import write_outputs
from analysis.report.build import build_report
from tests.synthetic import synthetic_sweep

SCRIPT = "</script><script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = "[click](javascript:alert(1))"


def hostile_sweep():
    runs, hist, cfg = synthetic_sweep(models=(SCRIPT, IMG), seeds=(1, 2))
    cfg["parameters"]["optimizer"] = {"values": [IMG, "adamw"]}
    runs["optimizer"] = [IMG if i % 2 else "adamw" for i in range(len(runs))]
    runs["name"] = [SCRIPT if i % 3 == 0 else (IMG if i % 3 == 1 else LINK) for i in range(len(runs))]
    runs["url"] = "javascript:alert(1)"
    runs["tags"] = IMG
    runs.loc[0, ["state", "reason"]] = ["failed", SCRIPT]
    return runs, hist, cfg


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    runs, hist, cfg = hostile_sweep()
    d = build_report(runs, hist, cfg, sweep_id="s")
    assert d.compare == "model_name_or_path" and set(d.models) == {SCRIPT, IMG}
    return write_outputs(d, runs, hist, out)


def test_html_has_no_injected_markup(outputs):
    html = outputs["html"].read_text()
    assert "alert(1)</script>" not in html and "<img" not in html
    assert 'href="javascript' not in html
    # only our four script elements: the error hook, plotly.js, the figure data, the renderer
    assert len(re.findall(r"<script\b", html)) == 6
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, escaped
    data = re.search(r'<script type="application/json" id="sk-figures">(.*?)</script>', html, re.S)
    assert data and "<" not in data.group(1) and ">" not in data.group(1)
    figs = json.loads(data.group(1))
    assert SCRIPT in json.dumps(figs, ensure_ascii=False)  # the value survives, as data


def test_markdown_has_no_injected_markup(outputs):
    md = outputs["md"].read_text()
    assert "<img" not in md and "<script" not in md and "](javascript" not in md


def test_figure_json_cannot_close_a_script_tag():
    import plotly.graph_objects as go

    s = figure_json(go.Figure(go.Bar(x=[SCRIPT, "a\u2028b"], y=[1, 2], name=IMG)))
    assert "<" not in s and ">" not in s and "\u2028" not in s
    assert json.loads(s)["data"][0]["x"][0] == SCRIPT


def test_no_secret_reaches_any_output(tmp_path, monkeypatch):
    secret = "0123456789abcdef0123456789abcdef01234567"  # shape of a W&B API key
    other = "s3cr3t-value-from-env-9f8e7d"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    monkeypatch.setenv("HF_TOKEN", other)
    runs, hist, cfg = synthetic_sweep(seeds=(1, 2))
    runs["api_key"] = secret
    runs["wandb.password"] = "hunter2-password"
    runs["note"] = f"token is {other}"
    runs.loc[0, "name"] = secret
    runs.loc[1, "reason"] = f"failed with HF_TOKEN={other}"
    runs.loc[1, "state"] = "failed"
    d = build_report(runs, hist, cfg, sweep_id="s")
    paths = write_outputs(d, runs, hist, tmp_path)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".png"]
    assert {p.name for p in files} >= {"report.html", "report.md", "report.json", "runs.csv", "history.csv"}
    for p in files:
        text = p.read_text(errors="replace")
        for needle in (secret, other, "hunter2"):
            assert needle not in text, f"{needle} leaked into {p.name}"
        assert "api_key" not in text and "wandb.password" not in text
    assert "[redacted]" in paths["runs_csv"].read_text()
