"""`report --watch` while a sweep runs: an open report.html (file://, no server) shows runs finishing,
in place and at the reader's scroll position, and the final report when the sweep ends; run pages show
system metrics and the console, escaped."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import Browser, env_for, make_sweep, sk, sk_popen, status

pytestmark = [pytest.mark.slow, pytest.mark.chromium]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# A plain wandb script, slow enough to be watched, printing markup to its console.
SLOW = textwrap.dedent("""
    import time, wandb
    run = wandb.init()
    cfg = dict(run.config)
    for i in range(int(cfg["steps"])):
        print(f"<b>step {i}</b><img src=x onerror=\\"document.documentElement.dataset.pwned=1\\">", flush=True)
        wandb.log({"loss": float(cfg["x"]) * (10 - i)})
        time.sleep(float(cfg["sleep"]))
    run.finish()
""")


def test_an_open_page_follows_the_sweep_and_ends_on_the_final_report(tmp_path):
    (tmp_path / "train.py").write_text(SLOW)
    env = env_for(tmp_path)
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss, goal: minimize}
        parameters:
          x: {values: [1, 2, 3, 4]}
          steps: {value: 5}
          sleep: {value: 1.0}
    """,
        env=env,
    )
    agent = sk_popen(tmp_path, "agent", sid, env=env)
    watcher = sk_popen(
        tmp_path, "report", sid, "--watch", "--every", "2", "--report-every", "5", "--out", "rep", env=env
    )
    try:
        _follow(tmp_path, sid, env, agent, watcher)
    finally:
        for proc in (agent, watcher):
            if proc.poll() is None:
                proc.kill()


def _follow(tmp_path, sid, env, agent, watcher):
    page = tmp_path / "rep" / "report.html"
    deadline = time.monotonic() + 120
    while not page.is_file():
        assert time.monotonic() < deadline and watcher.poll() is None, watcher.communicate()[1][-2000:]
        time.sleep(0.2)
    browser = Browser(page.as_uri(), tmp_path / "profile", size="1280,700")
    try:
        seen, scroll, placed, loaded, reloads = [], [], False, None, 0
        while time.monotonic() < deadline + 240:
            shown = browser.eval("document.documentElement.getAttribute('data-live-finished')")
            if shown is None:  # the page is reloading onto a rebuilt report: look again in a moment
                time.sleep(0.2)
                continue
            finished = int(shown)
            if not seen or seen[-1][1] != finished:
                seen.append((time.time(), finished))
            if not placed and browser.eval("document.documentElement.scrollHeight") > 1500:
                browser.eval("window.scrollTo(0, 400)")  # the reader scrolls down once there is a report
                origin = browser.eval("performance.timeOrigin")
                time.sleep(1.5)  # a reload that was already on its way would take this scroll with it: try again
                placed = browser.eval("window.scrollY") >= 350 and browser.eval("performance.timeOrigin") == origin
                loaded = origin
            elif placed:
                origin = browser.eval("performance.timeOrigin")
                if origin != loaded:  # the page just reloaded onto a rebuilt report: let it settle first
                    loaded, reloads = origin, reloads + 1
                    time.sleep(1.0)
                scroll.append((finished, browser.eval("window.scrollY")))
            if watcher.poll() is not None and finished == 4:
                break
            time.sleep(0.5)
        time.sleep(3)  # the final report: the page reloads itself once onto it
        rendered = browser.eval("document.documentElement.getAttribute('data-figures-rendered')")
        expected = browser.eval("document.documentElement.getAttribute('data-figures-expected')")
        assert browser.eval("document.documentElement.dataset.pwned") is None
        assert browser.eval("document.documentElement.getAttribute('data-errors')") is None
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "watch.png")
    finally:
        browser.close()
    assert agent.wait(timeout=60) == 0 and watcher.wait(timeout=60) == 0
    counts = [n for _, n in seen]
    assert counts == sorted(counts) and counts[-1] == 4 and len(set(counts)) >= 3, seen  # grew, in place
    assert expected and rendered == expected  # the final report's figures, in the same open page
    # The reader's place survived: sampled across in-place updates and at least one reload (how many
    # samples fit depends on the machine's load, so that count is not the test).
    assert len({n for n, _ in scroll}) >= 2 and reloads >= 1 and min(y for _, y in scroll) >= 350, (scroll, reloads)
    ends = sorted(datetime.fromisoformat(r["ended_at"]).timestamp() for r in status(tmp_path, sid, env=env)["runs"])
    shown = {n: t for t, n in reversed(seen)}
    lags = [shown[i + 1] - end for i, end in enumerate(ends) if i + 1 in shown]
    assert lags and max(lags) < 15, lags
    (ARTIFACTS / "watch-lag.json").write_text(json.dumps({"lags_s": lags}))


def test_a_run_page_shows_system_metrics_and_the_console_escaped(tmp_path):
    (tmp_path / "train.py").write_text(SLOW)
    env = env_for(tmp_path, WANDB__STATS_SAMPLING_INTERVAL="0.5")
    sid = make_sweep(
        tmp_path,
        """
        program: train.py
        method: grid
        metric: {name: loss}
        parameters:
          x: {values: [2]}
          steps: {value: 6}
          sleep: {value: 0.6}
    """,
        env=env,
    )
    assert sk(tmp_path, "agent", sid, env=env, timeout=240).returncode == 0
    res = sk(tmp_path, "report", sid, "--out", "rep", env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (run,) = status(tmp_path, sid, "--pages", "rep", env=env)["runs"]
    assert run["page"] == f"rep/runs/{run['id']}.html"
    html = (tmp_path / run["page"]).read_text()
    assert "&lt;b&gt;step 0&lt;/b&gt;&lt;img src=x" in html and "<b>step" not in html
    browser = Browser((tmp_path / run["page"]).as_uri(), tmp_path / "profile")
    try:
        deadline = time.monotonic() + 30
        while browser.eval("document.documentElement.getAttribute('data-figures-rendered')") is None:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        titles = browser.eval("Array.from(document.querySelectorAll('#system .gtitle')).map(e => e.textContent)")
        lines = browser.eval("document.getElementById('console').textContent")
        assert browser.eval("document.documentElement.dataset.pwned") is None
        browser.screenshot(ARTIFACTS / "run-page.png")
    finally:
        browser.close()
    assert {"process CPU (%)", "process memory (MB)", "system memory (%)"} <= set(titles), titles
    assert "<b>step 5</b><img src=x" in lines
    assert (tmp_path / "rep" / "runs" / f"{run['id']}.console.txt").read_text().count("<b>step") == 6
