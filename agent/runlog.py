"""Read a run's local `.wandb` transaction log with wandb's own reader (offline and online runs both write one).

`wandb-core leet inspect` (the Go binary inside the wandb wheel) answers in ~30 ms; the
Python CLI (`wandb leet inspect`) takes ~1 s and is only the fallback. No private parser:
the record format belongs to wandb and changes with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from agent.states import RunState


class RunReadError(RuntimeError):
    """A run directory that wandb's reader cannot read."""


@lru_cache(maxsize=1)
def _reader_argv() -> tuple[str, ...]:
    import wandb

    core = Path(wandb.__file__).parent / "bin" / "wandb-core"
    if core.is_file() and os.access(core, os.X_OK):
        return (str(core), "leet", "inspect", "-no-observability")  # no telemetry to upload: faster, and offline
    cli = shutil.which("wandb")
    if cli:
        return (cli, "leet", "inspect")
    raise RunReadError("neither wandb-core nor the wandb CLI was found; reinstall wandb>=0.31")


def find_run_file(path: str | os.PathLike) -> Path | None:
    """The `.wandb` log for `path`: the file itself, an offline-run dir, or any dir above one.

    Several runs under one dir (a warm worker's output dir, say): the newest wins.
    """
    p = Path(path)
    if p.is_file() and p.suffix == ".wandb":
        return p
    if not p.is_dir():
        return None
    direct = sorted(p.glob("run-*.wandb"))
    if direct:
        return direct[-1]
    found = sorted(p.rglob("run-*.wandb"), key=lambda f: f.stat().st_mtime)
    return found[-1] if found else None


def _require(path: str | os.PathLike) -> Path:
    f = find_run_file(path)
    if f is None:
        raise RunReadError(f"no .wandb run log under {path}")
    return f


def read_summary(path: str | os.PathLike, timeout: float = 60) -> dict:
    """State, summary, config, exit_code and console tail of one run, as one dict."""
    f = _require(path)
    proc = subprocess.run(
        [*_reader_argv(), "--summary", "--json", "-run-file", str(f)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RunReadError(f"wandb could not read {f}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)


def has_exit(info: dict) -> bool:
    """Whether `read_summary`'s answer comes from a log that holds its exit record."""
    return info.get("exit_code") is not None or info.get("state") in (
        RunState.FINISHED,
        RunState.FAILED,
        RunState.CRASHED,
    )


def read_final_summary(path: str | os.PathLike, *, wait_s: float = 30.0, read=None) -> tuple[dict, bool]:
    """`read_summary` once the log holds its exit record: (info, complete).

    wandb-core writes the log asynchronously: `run.finish()` (in-process) or the trial's exit
    (child) can return before the final summary and exit record are on disk, and a single read
    then misses metrics the run did log. Polls cheaply (one ~30 ms wandb-core read, backing off
    to 0.5 s) for up to `wait_s`; `complete` is False if the exit record never came.
    """
    read = read or read_summary
    deadline = time.monotonic() + wait_s
    pause = 0.05
    while True:
        info = read(path)
        if has_exit(info):
            return info, True
        left = deadline - time.monotonic()
        if left <= 0:
            return info, False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)


def iter_records(path: str | os.PathLike, timeout: float = 120) -> Iterator[dict]:
    """Every record of a finished (or crashed) run: history, stats, summary, exit..."""
    f = _require(path)
    proc = subprocess.run(
        [*_reader_argv(), "--json", "-run-file", str(f)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RunReadError(f"wandb could not read {f}: {proc.stderr.strip().splitlines()[-1:]}")
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def history_rows(path: str | os.PathLike) -> list[dict]:
    """The logged history rows (`history.item`), in order."""
    return [r["history"]["item"] for r in iter_records(path) if r.get("type") == "history"]


class Follower:
    """Streams a run's records live (`--follow`) while the run writes them.

    The `.wandb` file may not exist yet when the child starts; `records()` waits for it.
    Offline wandb-core flushes in bursts (~15 s) and at exit, so live records lag that much.
    """

    def __init__(self, search_dir: str | os.PathLike, idle_timeout_s: int = 600):
        self.search_dir = Path(search_dir)
        self.idle_timeout_s = idle_timeout_s
        self._proc: subprocess.Popen | None = None
        self._closed = False

    def records(self, appear_timeout_s: float | None = None, poll_s: float = 0.5) -> Iterator[dict]:
        """The run's records, from the first, as they are written; ends when the reader does (the
        run ended, the idle timeout, `close()`). RunReadError when the reader fails: calling again
        starts a new reader, from the first record again."""
        start = time.monotonic()
        f = None
        while f is None:
            if self._closed:
                return
            f = find_run_file(self.search_dir)
            if f is None:
                if appear_timeout_s is not None and time.monotonic() - start > appear_timeout_s:
                    return
                time.sleep(poll_s)
        if self._closed:
            return
        with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: nobody reads it until the end
            self._proc = subprocess.Popen(
                [*_reader_argv(), "--follow", "--json", f"-idle-timeout={self.idle_timeout_s}s", "-run-file", str(f)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                if line.startswith("{"):
                    yield json.loads(line)
            code = self._proc.wait()
            if code != 0 and not self._closed:
                err.seek(0)
                said = [ln.strip() for ln in err.read().splitlines() if ln.strip()]
                raise RunReadError(f"wandb's reader of {f} exited {code}" + (f": {said[-1][:200]}" if said else ""))

    def close(self) -> None:
        self._closed = True
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
