"""The watch loop (analysis/commands/watch.py): what each refresh writes, in which order."""

from __future__ import annotations

from types import SimpleNamespace

from agent.backends.base import RunRecord
from analysis.commands import watch


class FakeSource:
    """The RunSource surface the watcher uses; the sweep's state is set by the test."""

    def __init__(self):
        self.state, self.records = "running", []

    def refresh(self):
        return []

    def sweep_info(self):
        return SimpleNamespace(state=self.state, config={})


def test_an_ended_run_reaches_the_open_page_before_any_report_is_built(tmp_path, monkeypatch):
    writes: list[str] = []
    monkeypatch.setattr(watch, "write_run_pages", lambda *a, **k: None)
    monkeypatch.setattr(watch.live, "write_live", lambda out, data: writes.append(f"live:{data['finished']}"))
    monkeypatch.setattr(watch, "report_from_source", lambda *a, **k: writes.append("report"))
    src = FakeSource()
    monkeypatch.setattr(watch, "RunSource", lambda *a, **k: src)
    w = watch.Watcher(None, "s", tmp_path, every=1.0, report_every=3600.0)  # type: ignore[arg-type]
    monkeypatch.setattr(w, "_payload", lambda *, final: {"finished": sum(r.state == "finished" for r in src.records)})

    src.records = [RunRecord("a", "finished"), RunRecord("b", "running")]
    assert not w.refresh().done and writes == ["live:1", "report"]  # on the page first, then the rebuild
    src.records, src.state = [RunRecord("a", "finished"), RunRecord("b", "finished")], "finished"
    step = w.refresh()
    assert step.done and not step.report
    assert writes == ["live:1", "report", "live:2"]  # the last run is on the page; run() then builds the final one


def test_slow_rebuilds_are_spaced_out_so_refreshes_keep_their_pace(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(watch.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(watch, "write_run_pages", lambda *a, **k: None)
    monkeypatch.setattr(watch.live, "write_live", lambda out, data: None)

    def slow_build(*a, **k):  # a 4 s rebuild: on a loaded box, a report of many runs
        clock[0] += 4.0

    monkeypatch.setattr(watch, "report_from_source", slow_build)
    src = FakeSource()
    monkeypatch.setattr(watch, "RunSource", lambda *a, **k: src)
    w = watch.Watcher(None, "s", tmp_path, every=1.0, report_every=5.0)  # type: ignore[arg-type]
    monkeypatch.setattr(w, "_payload", lambda *, final: {})

    def end_one_and_refresh(after_s: float) -> bool:
        clock[0] += after_s
        ended = sum(r.state == "finished" for r in src.records) + 1
        src.records = [RunRecord(f"r{i}", "finished") for i in range(ended)] + [RunRecord("x", "running")]
        return w.refresh().report

    assert end_one_and_refresh(0)  # the first end: a rebuild (4 s)
    assert not end_one_and_refresh(6)  # 6 s later: past report_every, but within 3 × the build's 4 s
    assert end_one_and_refresh(6.5)  # 12.5 s after the build ended: rebuilt
