"""The watch loop (analysis/watch.py): what each refresh writes, in which order."""

from __future__ import annotations

from types import SimpleNamespace

from agent.backends.base import RunRecord
from analysis import watch


class FakeSource:
    """The RunSource surface the watcher uses; the sweep's state is set by the test."""

    def __init__(self):
        self.state, self.records = "running", []

    def refresh(self):
        return []

    def sweep_info(self):
        return SimpleNamespace(state=self.state, config={})


def test_the_last_run_reaches_the_open_page_before_the_final_report_is_built(tmp_path, monkeypatch):
    writes: list[str] = []
    monkeypatch.setattr(watch, "write_run_pages", lambda *a, **k: None)
    monkeypatch.setattr(watch.live, "write_live", lambda out, data: writes.append(f"live:{data['finished']}"))
    monkeypatch.setattr(watch, "report_from_source", lambda *a, **k: writes.append("report"))
    src = FakeSource()
    monkeypatch.setattr(watch, "RunSource", lambda *a, **k: src)
    w = watch.Watcher(None, "s", tmp_path, every=1.0, report_every=3600.0)  # type: ignore[arg-type]
    monkeypatch.setattr(w, "_payload", lambda *, final: {"finished": sum(r.state == "finished" for r in src.records)})

    src.records = [RunRecord("a", "finished"), RunRecord("b", "running")]
    assert not w.refresh().done and writes == ["report"]  # the first end builds the report
    src.records, src.state = [RunRecord("a", "finished"), RunRecord("b", "finished")], "finished"
    step = w.refresh()
    assert step.done and not step.report
    assert writes == ["report", "live:2"]  # the last run is on the page now; run() then builds the final one
