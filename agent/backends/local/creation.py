"""Making a local sweep, all or nothing.

A sweep is built where no reader looks, then shown in one step:
- the embedded journal: `sweeps/.creating-<id>-<pid>/` gets the config, the journal, the Optuna study
  (named with the final id) and every grid point; `os.rename` then makes it `sweeps/<id>/`. Until
  then `sweeps`, `status` and `agent` cannot see it.
- a database (`--storage`): rows cannot be renamed into place, so the study carries `sk_creating`
  (`schema.Creating`) from its first write to its last. The local folder is renamed into place
  first and the marker cleared last: until then every reader refuses the sweep in one line.

A failure (an exception, a MemoryError, a full disk), Ctrl-C, SIGTERM or SIGHUP removes what was
built before the error goes on. SIGKILL cannot be caught: what it leaves (a `.creating-*` folder, a
marked study) is an *incomplete sweep*, which `sweepkit sweeps` counts and `sweepkit doctor ID --repair`
removes once it is abandoned: its process is gone (same host: the pid is not running, or is a newer
process), or it began more than ABANDONED_AFTER_S ago (another host, which we cannot ask).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Optional

import optuna
import yaml

from agent.backends.base import PriorRun
from agent.backends.local.lifecycle import add_prior_runs
from agent.backends.local.methods import method_for
from agent.backends.local.optuna_internals import storage_of
from agent.backends.local.schema import CONFIG_KEY, Creating, SweepAttrs
from agent.backends.local.store import batched_writes, journal_storage, mask_url, new_id, open_storage, sweep_dir
from agent.paths import home, write_atomic

PREFIX = ".creating-"  # sweeps/.creating-<id>-<pid>/: a sweep being built
MARK_FILE = "creating.json"  # in that folder: the `Creating` record, for readers that do not open the study
ABANDONED_AFTER_S = 3600.0  # a creation on another host this old is dead (10,000 points take minutes at most)


def create(
    config: dict[str, Any],
    storage_url: Optional[str],
    project: Optional[str],
    prior: Sequence[PriorRun] = (),
    skip_done: bool = True,
) -> str:
    """A new sweep of a validated config, seeded with `prior` runs (a warm start), its id; nothing is
    left behind if it fails."""
    sweep_id = new_id()
    while sweep_dir(sweep_id).exists() or _folders(sweep_id):
        sweep_id = new_id()
    method = method_for(config, sweep_id)  # refuses an unknown method before anything is written
    mark = Creating(at=time.time(), host=socket.gethostname(), pid=os.getpid())
    build = _Build(sweep_id, home() / "sweeps" / f"{PREFIX}{sweep_id}-{mark.pid}", storage_url)
    with _signals_raise():
        try:
            build.run(config, project, mark, method, Seed(prior, skip_done))
        except BaseException:
            build.undo()
            raise
    return sweep_id


@dataclass(frozen=True)
class Seed:
    """A warm start: earlier sweeps' runs the new sweep learns from, and whether a grid skips their points."""

    runs: Sequence[PriorRun] = ()
    skip_done: bool = True


@dataclass
class _Build:
    sweep_id: str
    folder: Path
    storage_url: Optional[str]
    storage: Optional[optuna.storages.BaseStorage] = None  # set once the study exists

    def run(self, config: dict[str, Any], project: Optional[str], mark: Creating, method: Any, seed: Seed) -> None:
        self.folder.mkdir(parents=True)
        write_atomic(self.folder / MARK_FILE, json.dumps(mark.to_attrs()))
        write_atomic(self.folder / "sweep.yaml", yaml.safe_dump(config, sort_keys=False))
        url = self.storage_url
        if url:
            write_atomic(self.folder / "storage.txt", mask_url(url) + "\n")
        storage = open_storage(self.sweep_id, url) if url else journal_storage(self.folder)
        goal = (config.get("metric") or {}).get("goal", "minimize")
        study = optuna.create_study(
            storage=storage, study_name=self.sweep_id, direction="maximize" if goal == "maximize" else "minimize"
        )
        self.storage = storage_of(study)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        meta = SweepAttrs(config, created=created, project=project or config.get("project"), creating=mark)
        with batched_writes(self.storage):  # the sweep's record and its marker: one journal append
            for key, value in meta.to_attrs().items():
                study.set_user_attr(key, value)
        done = add_prior_runs(study, method, seed.runs, seed.skip_done)
        method.setup(study, skip=done if seed.skip_done else ())
        if not url:  # the journal is committed by the rename: nobody reads it before
            _set(study, Creating.done())
        final = sweep_dir(self.sweep_id)
        os.rename(self.folder, final)
        self.folder = final
        if url:  # the database is committed by this, its last write
            _set(study, Creating.done())
        (final / MARK_FILE).unlink(missing_ok=True)

    def undo(self) -> None:
        """Remove what was built: the study (on a database) and the folder."""
        if self.storage_url and self.storage is not None:
            with contextlib.suppress(Exception):  # the server may be what failed; doctor removes it later
                optuna.delete_study(study_name=self.sweep_id, storage=self.storage)
        shutil.rmtree(self.folder, ignore_errors=True)


def _set(study: optuna.Study, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        study.set_user_attr(key, value)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP end the creation as an exception would (so it is undone), exit 128+N."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Optional[FrameType]) -> None:
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


# -- what an interrupted creation left ---------------------------------------------------------------
@dataclass
class Leftover:
    """An incomplete sweep: its building folders, its marker, and whether its study is in the store."""

    sweep_id: str
    folders: list[Path] = field(default_factory=list)
    mark: Optional[Creating] = None
    study: bool = False  # an incomplete study of this id is in the database given
    store: Optional[str] = None  # the masked URL of the database it was made in, if any

    def abandoned(self, now: Optional[float] = None) -> bool:
        now = time.time() if now is None else now
        mark = self.mark or self._folder_mark()
        if mark is None:
            return True  # a study without even its first record, and no folder: its maker died at once
        if mark.host == socket.gethostname() and mark.pid:
            return not _running_since(mark.pid, mark.at)
        return now - mark.at > ABANDONED_AFTER_S

    def _folder_mark(self) -> Optional[Creating]:
        """What the folder's name and age say when it holds no record (killed before writing one)."""
        for d in self.folders:
            with contextlib.suppress(OSError, ValueError):
                return Creating(d.stat().st_mtime, socket.gethostname(), int(d.name.rsplit("-", 1)[1]))
        return None

    def describe(self) -> str:
        mark = self.mark or self._folder_mark()
        where = [f"{home() / 'sweeps'}/{d.name}" for d in self.folders] + (
            [f"its study in {self.store or 'the store'}"] if self.study else []
        )
        return (
            f"sweep {self.sweep_id} was never finished by its `sweepkit sweep`"
            f"{f' ({mark.describe()})' if mark else ''}: {' and '.join(where)}"
        )


def leftovers() -> list[Leftover]:
    """The incomplete sweeps whose building folder is on this machine (no store is opened)."""
    found: dict[str, Leftover] = {}
    for d in sorted((home() / "sweeps").glob(f"{PREFIX}*")):
        sweep_id = d.name[len(PREFIX) :].rsplit("-", 1)[0]
        left = found.setdefault(sweep_id, Leftover(sweep_id))
        _add_folder(left, d)
    return list(found.values())


def find(sweep_id: str, storage_url: Optional[str] = None) -> Optional[Leftover]:
    """`sweep_id` as an incomplete sweep (its building folder, or its marked study in the database
    given), or None when it is not one."""
    left = Leftover(sweep_id)
    for d in _folders(sweep_id):
        _add_folder(left, d)
    if storage_url:
        attrs = _study_attrs(sweep_id, storage_url)
        if attrs is not None:
            meta = SweepAttrs.from_attrs(attrs, sweep_id=sweep_id, incomplete_ok=True)
            # A study with no record at all is ours to remove only if our folder says we made it.
            left.study = meta.creating is not None or (CONFIG_KEY not in attrs and bool(left.folders))
            left.mark = meta.creating or left.mark
            left.store = mask_url(storage_url)
        if left.study and sweep_dir(sweep_id).is_dir():
            left.folders.append(sweep_dir(sweep_id))  # renamed into place; its marker never cleared
    return left if left.folders or left.study else None


def remove(left: Leftover, storage_url: Optional[str]) -> str:
    """Remove an incomplete sweep `why_not_removed` lets go; what was removed."""
    if left.study and storage_url:
        optuna.delete_study(study_name=left.sweep_id, storage=open_storage(left.sweep_id, storage_url))
    for d in left.folders:
        shutil.rmtree(d, ignore_errors=True)
    parts = [f"{len(left.folders)} folder(s)"] if left.folders else []
    return "removed " + " and ".join(parts + (["its study"] if left.study else []))


def why_not_removed(left: Leftover, storage_url: Optional[str]) -> Optional[str]:
    """Why `--repair` leaves it alone (still being made, or its database not given); None: it may go."""
    if not left.abandoned():
        return "not removed: its `sweepkit sweep` is still running; wait for it, or stop it first"
    if left.store and not left.study and not storage_url:
        return f"not removed: its study is in {left.store}; pass --storage URL to remove both"
    return None


def _folders(sweep_id: str) -> list[Path]:
    return sorted((home() / "sweeps").glob(f"{PREFIX}{sweep_id}-*"))


def _add_folder(left: Leftover, d: Path) -> None:
    left.folders.append(d)
    with contextlib.suppress(OSError, ValueError):
        left.mark = left.mark or Creating.from_attrs(json.loads((d / MARK_FILE).read_text()))
    with contextlib.suppress(OSError):
        left.store = left.store or (d / "storage.txt").read_text().strip() or None


def _study_attrs(sweep_id: str, storage_url: str) -> Optional[dict[str, Any]]:
    storage = open_storage(sweep_id, storage_url)
    try:
        study_id = storage.get_study_id_from_name(sweep_id)
    except KeyError:
        return None
    return dict(storage.get_study_user_attrs(study_id))


def _running_since(pid: int, at: float) -> bool:
    """Whether `pid` runs a process that was already running at `at` (not a newer one with its pid)."""
    import psutil

    try:
        return psutil.Process(pid).create_time() <= at + 1.0
    except psutil.Error:
        return False
