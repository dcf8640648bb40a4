"""One page per run (`runs/<run id>.html`): its config, every logged metric, its system metrics over
time, its console output, and why it ended, as W&B's run page shows them, from the local data.

Everything on the page comes from the run and is escaped by the template (or travels as JSON that
cannot close its <script>); secret-looking config keys and values never reach it. The pages load
plotly from `assets/plotly.min.js`, written once per report folder: no page makes a network request.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agent.backends.base import RunRecord
from agent.paths import run_page
from analysis.render.cells import cell
from analysis.render.files import script_json, write_atomic
from analysis.render.style import MAX_CURVE_POINTS, color
from analysis.tables import tidy
from analysis.tables.sources import RunData

CONSOLE_TAIL = 200
# What each system metric is called on the page; wandb-core's names, `gpu.N.*` per GPU.
SYSTEM = [
    (r"^system\.cpu$", "process CPU (%)"),
    (r"^system\.proc\.memory\.rssMB$", "process memory (MB)"),
    (r"^system\.memory_percent$", "system memory (%)"),
    (r"^system\.gpu\.\d+\.gpu$", "GPU utilisation (%)"),
    (r"^system\.gpu\.\d+\.memoryAllocated$", "GPU memory allocated (%)"),
    (r"^system\.gpu\.\d+\.memoryAllocatedBytes$", "GPU memory allocated (bytes)"),
    (r"^system\.gpu\.\d+\.temp$", "GPU temperature (°C)"),
    (r"^system\.gpu\.\d+\.powerWatts$", "GPU power (W)"),
]


def _series_by_metric(frame: pd.DataFrame) -> dict[str, tuple[list, list]]:
    """Each metric's (steps, values), by step, from one run's tidy history: one sort for all of them
    (a report writes ten thousand of these pages)."""
    if not len(frame):
        return {}
    m = frame["metric"].to_numpy(dtype=object)
    x = frame["step"].to_numpy(dtype=float)
    y = frame["value"].to_numpy(dtype=float)
    order = np.lexsort((x, m))
    m, x, y = m[order], x[order], y[order]
    starts = [0, *(np.flatnonzero(m[1:] != m[:-1]) + 1).tolist(), len(m)]
    out = {}
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        xs, ys = x[a:b], y[a:b]
        if len(xs) > MAX_CURVE_POINTS * 3:
            keep = slice(None, None, max(1, len(xs) // (MAX_CURVE_POINTS * 3)))
            xs, ys = xs[keep], ys[keep]
        out[str(m[a])] = (xs.tolist(), [v if np.isfinite(v) else None for v in ys.tolist()])
    return out


def _figure(title: str, traces: list[tuple[str, list, list]], x_title: str) -> dict:
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers" if len(x) < 30 else "lines",
            "name": name,
            "x": x,
            "y": y,
            "line": {"color": color(i)},
        }
        for i, (name, x, y) in enumerate(traces)
    ]
    return {
        "data": data,
        "layout": {
            "template": "plotly_white",
            "height": 240,
            "title": {"text": title},
            "margin": {"l": 55, "r": 15, "t": 36, "b": 36},
            "showlegend": len(traces) > 1,
            "xaxis": {"title": {"text": x_title}},
        },
    }


def figures(frame: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """(a figure per logged metric, a figure per kind of system metric) from a run's tidy history."""
    series = _series_by_metric(frame)
    names = sorted(series)
    metrics = [_figure(m, [(m, *series[m])], "step") for m in names if not m.startswith("system.")]
    system = []
    for pattern, title in SYSTEM:
        found = [m for m in names if re.match(pattern, m)]
        if found:
            system.append(
                _figure(
                    title,
                    [(m.removeprefix("system."), *series[m]) for m in found],
                    "seconds since the run started",
                )
            )
    return metrics, system


def context(record: RunRecord, row: dict[str, Any], data: RunData | None, *, sweep_id: str, metric: str | None) -> dict:
    """What the run page template shows: facts, config, figures, console."""
    secrets = tidy.run_secrets(record.config)
    config = {
        k: tidy.redact_value(cell(v), secrets)
        for k, v in tidy.flatten(tidy.scrub(record.config or {})).items()
        if not k.startswith("_")
    }
    frame = data.frame if data is not None else tidy.empty_history()
    metric_figs, system_figs = figures(frame)
    console = [tidy.redact_text(line, secrets) for line in (data.console if data is not None else [])]
    facts = [
        ("state", record.state),
        ("reason", row.get("reason")),
        (metric or "metric", row.get(metric) if metric else None),
        ("runtime (s)", record.runtime_s),
        ("started", record.created_at),
        ("ended", record.ended_at),
        ("W&B run", record.url),
        ("run dir", record.run_dir),
    ]
    return {
        "run_id": record.id,
        "sweep_id": sweep_id,
        "facts": [(k, cell(v)) for k, v in facts if v is not None],
        "config": config,
        "figures": script_json({"metrics": metric_figs, "system": system_figs}),
        "n_metric_figs": len(metric_figs),
        "n_system_figs": len(system_figs),
        "console_tail": console[-CONSOLE_TAIL:],
        "console_lines": len(console),
        "url": record.url,
    }


def write_run_page(
    out_dir: str | Path,
    env,
    record: RunRecord,
    row: dict[str, Any],
    data: RunData | None,
    *,
    sweep_id: str,
    metric: str | None,
) -> Path:
    """runs/<id>.html, and runs/<id>.console.txt with the run's whole console output."""
    out = Path(out_dir)
    page = out / run_page(record.id)
    ctx = context(record, row, data, sweep_id=sweep_id, metric=metric)
    secrets = tidy.run_secrets(record.config)
    log = page.with_suffix(".console.txt")
    if data is not None and data.console and (data.console_complete or not log.exists()):
        head = (
            ""
            if data.console_complete
            else f"(the last {len(data.console)} lines; the whole output is in the run's log)\n"
        )
        write_atomic(log, head + "\n".join(tidy.redact_text(line, secrets) for line in data.console) + "\n")
    ctx["log_name"] = log.name if log.exists() else None
    write_atomic(page, env.get_template("run.html.j2").render(**ctx))
    return page
