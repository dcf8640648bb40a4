"""Every figure of a demo-shaped report (2 models x 2 learning rates x 2 seeds), looked at in headless
Chromium after plotly drew it: no NaN or out-of-range axis, every band and error bar within what the
metric can be, every figure under a takeaway, the comparison drawn as the difference its takeaway
states, one importance row per parameter, parallel coordinates in the user's units.

A probe script, appended to a copy of report.html, reads what plotly actually laid out (`_fullLayout`,
`_fullData`, the SVG tick labels) and writes it into the page as JSON; `--dump-dom` brings it back.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest

from analysis.render.outputs import write_outputs
from analysis.report.build import build_report
from tests.helpers import chromium_path
from tests.synthetic import synthetic_sweep

pytestmark = [pytest.mark.chromium, pytest.mark.slow]

PROBE = """
<script>
(function () {
  function probe() {
    var out = {};
    document.querySelectorAll('div.figure[id^="fig-"]').forEach(function (el) {
      var L = el._fullLayout, axes = {};
      Object.keys(L).filter(function (k) { return /^[xy]axis\\d*$/.test(k); }).forEach(function (k) {
        var a = L[k];
        axes[k] = {range: a.range, type: a.type, title: a.title && a.title.text || ""};
      });
      var traces = (el._fullData || []).map(function (t) {
        var e = t.error_y || {};
        return {type: t.type, name: t.name, fill: t.fill || "none", yaxis: t.yaxis || "y", xaxis: t.xaxis || "x",
                x: Array.from(t.x || []), y: Array.from(t.y || []),
                err: e.visible ? {plus: Array.from(e.array || []), minus: Array.from(e.arrayminus || e.array || [])}
                               : null,
                dims: (t.dimensions || []).map(function (d) {
                  return {label: d.label, ticktext: d.ticktext || null, tickvals: d.tickvals || null};
                })};
      });
      var ticks = Array.prototype.map.call(el.querySelectorAll(".xtick text, .ytick text"),
                                           function (n) { return n.textContent; });
      out[el.id.slice(4)] = {axes: axes, traces: traces, ticks: ticks};
    });
    var pre = document.createElement("pre");
    pre.id = "sk-probe";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  var wait = setInterval(function () {
    if (document.documentElement.hasAttribute("data-figures-rendered")) { clearInterval(wait); probe(); }
  }, 100);
})();
</script>
"""


def render_and_probe(html_path: Path, profile: Path) -> tuple[str, dict]:
    probed = html_path.with_name("probed.html")
    probed.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
    argv = [
        chromium_path(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--enable-unsafe-swiftshader",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        "--window-size=1280,4000",
        "--dump-dom",
        probed.resolve().as_uri(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="sk-probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, "the probe never ran: the figures did not finish rendering"
    return proc.stdout, json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """Seeds 3 points apart around 80%: the old 95% t-interval at 2 seeds ran past 100."""
    runs, hist, cfg = synthetic_sweep(lrs=(3e-4, 5e-4), batches=(16,), seeds=(1, 2), gap=0.05, noise=0.03, rng=4)
    d = build_report(runs, hist, cfg, sweep_id="demo-shaped")
    tmp = tmp_path_factory.mktemp("figs")
    paths = write_outputs(d, runs, hist, tmp / "out")
    dom, figs = render_and_probe(paths["html"], tmp / "profile")
    return d, dom, figs


def _metric_axes(fig: dict, metric: str) -> set[str]:
    """The y axes (as traces name them: y, y2, ...) whose title is the metric's."""
    return {k.replace("axis", "") for k, a in fig["axes"].items() if k.startswith("y") and metric in a["title"]}


def test_every_axis_is_finite_and_every_figure_sits_under_its_takeaway_and_note(demo_report):
    d, dom, figs = demo_report
    assert {"comparison", "tradeoff", "curves", "evp", "importance", "parallel"} <= set(figs)
    for key, fig in figs.items():
        for name, axis in fig["axes"].items():
            r = axis["range"]
            assert r and all(isinstance(v, (int, float)) for v in r), (key, name, r)
        assert not [t for t in fig["ticks"] if "NaN" in t or "undefined" in t], (key, fig["ticks"])
    sections = re.split(r"<h2>", dom)
    for key in figs:
        section = next(s for s in sections if f'id="fig-{key}"' in s)
        assert 'class="takeaway"' in section.split(f'id="fig-{key}"')[0], key
    for key in ("comparison", "tradeoff", "curves"):  # each says how its intervals are made, or that seeds are shown
        section = next(s for s in sections if f'id="fig-{key}"' in s)
        note = re.search(r'<p class="muted">(.*?)</p>', section, re.S)
        assert note and ("logit scale" in note.group(1) or "seeds themselves" in note.group(1)), key
    assert "at 2 seeds the runs themselves are drawn instead of an interval" in dom


def test_metric_axes_bands_and_error_bars_stay_within_0_and_100(demo_report):
    d, _, figs = demo_report
    assert d.scale.factor == 100  # accuracy, in points: it lies in [0, 100]
    checked = 0
    for key, fig in figs.items():
        metric_axes = _metric_axes(fig, d.metric)
        for name in metric_axes:
            lo, hi = fig["axes"][name.replace("y", "yaxis", 1)]["range"]
            assert 0 <= lo < hi <= 100, (key, name, lo, hi)
        for t in fig["traces"]:
            if t["yaxis"] not in metric_axes:
                continue
            ys = [y for y in t["y"] if isinstance(y, (int, float))]
            if t["fill"] != "none":
                assert ys and min(ys) >= 0 and max(ys) <= 100, (key, t["name"], min(ys), max(ys))
                checked += 1
            if t["err"]:
                for y, up, down in zip(t["y"], t["err"]["plus"], t["err"]["minus"], strict=False):
                    assert y - down >= 0 and y + up <= 100, (key, t["name"], y, down, up)
                checked += 1
    assert checked >= 3  # the EVP bands at least, and the config means


def test_models_compared_shows_the_difference_its_takeaway_states(demo_report):
    d, _, figs = demo_report
    fig = figs["comparison"]
    assert not [t for t in fig["traces"] if t["type"] == "bar"]
    diff = next(t for t in fig["traces"] if t["yaxis"] == "y2")
    c = d.comparisons[0]
    assert diff["y"] == [pytest.approx(c.mean * 100)]
    assert f"{abs(c.mean) * 100:.1f} points" in d.takeaways["comparison"]
    lo, hi = fig["axes"]["yaxis2"]["range"]
    assert lo <= min(0.0, c.low * 100) and max(0.0, c.high * 100) <= hi  # zero and the whole CI in view
    means = {t["name"]: t["y"][0] for t in fig["traces"] if t["yaxis"] == "y" and len(t["y"]) == 1}
    mm = d.model_means.set_index("model")["mean"] * 100
    assert means == {m: pytest.approx(v) for m, v in mm.items()}
    assert means[c.a] - means[c.b] == pytest.approx(c.mean * 100)  # the chart's gap is the stated difference
    dots = [t for t in fig["traces"] if t["yaxis"] == "y" and len(t["y"]) > 1]
    assert sorted(len(t["y"]) for t in dots) == [4, 4]  # every run of every seed, for each model
    lo, hi = fig["axes"]["yaxis"]["range"]
    assert lo > min(min(t["y"]) for t in dots) - 5  # the axis frames the runs, not a bar from far below


def test_at_two_seeds_curves_show_each_seed_not_a_band(demo_report):
    _, _, figs = demo_report
    traces = figs["curves"]["traces"]
    assert not [t for t in traces if t["fill"] != "none"]
    assert len([t for t in traces if t["name"].startswith("seed ")]) == 4  # 2 models x 2 seeds


def test_importance_has_one_row_per_parameter(demo_report):
    _, _, figs = demo_report
    bars = next(t for t in figs["importance"]["traces"] if t["type"] == "bar")
    assert sorted(bars["y"]) == ["learning_rate", "model_name_or_path"]
    levels = next(t for t in figs["importance"]["traces"] if t["type"] == "scatter")
    assert len(levels["y"]) == 4 and "=" not in "".join(bars["y"])


def test_parallel_coordinates_are_in_the_users_units(demo_report):
    _, _, figs = demo_report
    dims = {d["label"]: d for d in figs["parallel"]["traces"][0]["dims"]}
    assert dims["learning_rate (log)"]["ticktext"] == ["3e-4", "5e-4"]
    assert dims["model_name_or_path"]["ticktext"] == ["tiny-bert", "tiny-distilbert"]
