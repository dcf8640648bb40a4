"""report.html in real headless Chromium: every figure renders, no console errors, no injected
script runs, and a screenshot lands in test-artifacts/report.png.

The page itself records what happened (data-figures-expected / -rendered / data-errors on
<html>); `--dump-dom` reads that back after the scripts ran, and `--enable-logging=stderr`
shows every console message. Under CI (CI=true) a missing chromium is a failure.
"""

import re
import subprocess
from pathlib import Path

import pytest

from analysis.render.outputs import write_outputs
from analysis.report.build import build_report
from tests.helpers import chromium_path
from tests.synthetic import synthetic_sweep

pytestmark = pytest.mark.chromium
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PWN = "document.documentElement.setAttribute('data-pwned','1')"
HOSTILE = [f"</script><script>{PWN}</script>", f'<img src=x onerror="{PWN}">']
# Browser-internal notices about software WebGL (parcoords), not errors of the page.
BENIGN = re.compile(r"GL Driver Message|WebGL|swiftshader", re.I)


def run_chromium(html: Path, profile: Path, screenshot: Path) -> tuple[str, str]:
    argv = [
        chromium_path(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-unsafe-swiftshader",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
        "--virtual-time-budget=20000",
        "--window-size=1280,5400",
        f"--screenshot={screenshot}",
        "--dump-dom",
        html.resolve().as_uri(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def test_report_renders_in_headless_chromium(tmp_path):
    runs, hist, cfg = synthetic_sweep(models=("tiny-bert", HOSTILE[0]), rng=2)
    runs.loc[runs.index[::5], "name"] = HOSTILE[1]
    runs.loc[0, ["state", "reason"]] = ["failed", HOSTILE[1]]
    d = build_report(runs, hist, cfg, sweep_id="browser-test")
    paths = write_outputs(d, runs, hist, tmp_path / "out")
    expected = len(re.findall(r'<div class="figure" id="fig-', paths["html"].read_text()))
    assert expected == 8

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    dom, log = run_chromium(paths["html"], tmp_path / "profile", shot)

    root = re.search(r"<html[^>]*>", dom).group(0)
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', root))
    assert attrs.get("data-figures-expected") == str(expected), attrs
    assert attrs.get("data-figures-rendered") == str(expected), attrs
    assert "data-errors" not in attrs, attrs
    assert "data-pwned" not in attrs  # no injected script or handler ran
    assert "<img" not in dom and "&lt;img src=x" in dom  # hostile names shown as text
    console = [ln for ln in log.splitlines() if ":CONSOLE" in ln and not BENIGN.search(ln)]
    assert not console, console
    # every figure div holds a drawn plotly SVG: the report's, and the progress section's (no times here)
    assert attrs.get("data-live-figures") == "2"
    assert len(re.findall(r'class="figure js-plotly-plot"', dom)) == expected + 2
    assert attrs.get("data-live-total") == str(len(runs)) and attrs.get("data-live-finished") == str(len(runs) - 1)
    assert shot.is_file() and shot.stat().st_size > 50_000
