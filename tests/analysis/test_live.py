"""The progress payload (live.js) from tidy tables: counts, the best run, running runs' latest values,
figures, and nothing a run logged travels as markup."""

from __future__ import annotations

import json

import pandas as pd

from analysis.render import live

CONFIG = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"model": {"values": ["a", "b"]}, "lr": {"values": [0.1, 0.2]}},
}


def tables():
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2", "r3", "r4"],
            "name": ["r1", "r2", "r3", "r4"],
            "state": ["finished", "finished", "running", "failed"],
            "reason": [None, None, None, "<b>boom</b>"],
            "runtime_s": [60.0, 50.0, None, 5.0],
            "created_at": ["2026-12-01T10:00:00", "2026-12-01T10:01:00", "2026-12-01T10:02:00", "2026-12-01T10:03:00"],
            "ended_at": ["2026-12-01T10:01:00", "2026-12-01T10:01:50", None, "2026-12-01T10:03:05"],
            "url": None,
            "tags": None,
            "model": ["a", "b", "a", "</script>"],
            "lr": [0.1, 0.1, 0.2, 0.2],
            "loss": [0.5, 0.3, None, None],
        }
    )
    hist = pd.DataFrame(
        {
            "run_id": ["r1", "r1", "r2", "r3", "r3"],
            "step": [1.0, 2.0, 1.0, 1.0, 2.0],
            "metric": "loss",
            "value": [0.9, 0.5, 0.3, 0.8, 0.7],
        }
    )
    return runs, hist


def test_payload_counts_every_run_and_names_the_best_finished_one():
    runs, hist = tables()
    now = pd.Timestamp("2026-12-01T10:04:00", tz="UTC").timestamp()
    d = live.payload("s1", CONFIG, runs, hist, every=5, stamp="x", watch=True, final=False, now=now)
    assert d["counts"] == {"finished": 2, "running": 1, "failed": 1} and d["total"] == 4
    assert d["best"] == {"run": "r2", "value": 0.3}  # minimize: the lower loss
    running = next(r for r in d["runs"] if r["id"] == "r3")
    assert running["value"] == 0.7 and running["elapsed_s"] == 120.0  # its latest logged value, its age
    assert running["page"] == "runs/r3.html"
    assert set(d["figures"]) == {"progress_time", "progress_trial", "curves"}
    best_line = d["figures"]["progress_trial"]["data"][-1]
    assert best_line["x"] == [0, 1] and best_line["y"] == [0.5, 0.3]  # the best so far, by trial number
    assert d["columns"] == ["model", "lr"]


def test_live_js_is_data_and_run_strings_are_not_markup():
    runs, hist = tables()
    text = live.live_js(live.payload("s1", CONFIG, runs, hist))
    assert text.startswith("window.__skLive && window.__skLive({") and text.endswith("});\n")
    data = json.loads(text[len("window.__skLive && window.__skLive(") : -3])
    assert data["runs"][3]["reason"] == "<b>boom</b>"  # as text: the page sets textContent, never innerHTML
    assert json.loads(json.dumps(data)) == data


def test_curves_are_thinned_and_reused_while_a_run_is_unchanged():
    hist = pd.DataFrame({"run_id": "r", "step": range(1000), "metric": "loss", "value": range(1000)})
    cache: dict = {}
    ((x, y),) = live.run_curves(hist, "loss", cache).values()
    assert len(x) <= live.MAX_CURVE_POINTS and x[-1] == 999
    assert live.run_curves(hist, "loss", cache)["r"] is cache["r"][1]
