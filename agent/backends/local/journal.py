"""The journal file every local agent, reaper and `status` shares, made safe against torn writes.

Optuna's `JournalFileBackend` appends one JSON record per line. A write cut short (the writer got
kill -9, the disk filled, an I/O error) leaves a fragment without its newline; the next append is
then glued onto it, and from then on Optuna's reader raises on that line, so every later agent,
`status` and `report` fails on the whole sweep. Here:

- reading skips a complete line that is not a JSON record, and names it once per process on stderr
  (the records around it are intact: each is a line of its own); an unterminated last line is a
  write in progress (or torn by a writer that died) and is left for the next read;
- appending starts on a fresh line when the file does not end with one, so nothing is ever glued
  onto a fragment; the records go out in one `write` and are fsynced, and a failed write is cut
  back to the old size so the file holds no fragment of it;
- writers take `FlockLock`, which a dead writer cannot leave held;
- `scan` and `rewrite` are what `sweepkit doctor` reports and repairs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from optuna.storages.journal import JournalFileBackend

from agent.backends.local.optuna_internals import JournalFileLock

_named: set[tuple[str, int]] = set()  # (journal, byte offset) of torn records already named


@dataclass(frozen=True)
class Torn:
    """A line of the journal that is not a record: where it starts, how long, and its first bytes."""

    offset: int
    length: int
    head: bytes
    tail: bool  # the unterminated last line


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None
    return obj if isinstance(obj, dict) and "op_code" in obj else None


def _lines(fh: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for the bytes [start, end) of the file: what existed when the read began."""
    fh.seek(start)
    pos = start
    for line in fh:
        if pos + len(line) > end:
            line = line[: end - pos]
            if line:
                yield pos, line
            return
        yield pos, line
        pos += len(line)


def name_torn(journal: str | os.PathLike, torn: Torn) -> None:
    key = (str(journal), torn.offset)
    if key in _named:
        return
    _named.add(key)
    print(
        f"sweepkit: {journal}: dropped a torn record at byte {torn.offset} ({torn.length} bytes, "
        f"{torn.head[:40]!r}...), left by a write cut short (a kill, a full disk or an I/O error); "
        "the records around it are intact; `sweepkit doctor SWEEP --repair` removes it",
        file=sys.stderr,
    )


@contextlib.contextmanager
def held(lock: JournalFileLock) -> Iterator[None]:
    """The journal's write lock, held for the block."""
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


class FlockLock(JournalFileLock):
    """The journal's write lock: `flock` on `<journal>.flock`. The kernel queues waiters (Optuna's
    symlink lock polls with a back-off of up to 1 s, which is what a waiter's tail latency becomes
    with tens of agents) and drops the lock of a process that dies, so a kill -9 leaves no stale
    lock behind. flock is local to one machine: agents on several hosts share PostgreSQL."""

    def __init__(self, journal: str) -> None:
        self.path = f"{journal}.flock"
        self._fd: int | None = None
        self._mutex = threading.Lock()  # flock is per open file: threads of one process queue here

    def acquire(self) -> bool:
        self._mutex.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise
        return True

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()


class SafeJournalFileBackend(JournalFileBackend):
    def __init__(self, file_path: str, lock_obj: JournalFileLock | None = None) -> None:
        self.path = file_path
        self.lock = lock_obj or FlockLock(file_path)
        super().__init__(file_path, self.lock)
        # log number -> byte offset where the search for that record starts. Log numbers count
        # valid records only: they are what JournalStorage asks for next.
        self._offsets: dict[int, int] = {0: 0}
        self._pending: dict[int, list[dict[str, Any]]] = {}  # batch(): each thread's held appends

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        number, start = 0, 0
        if log_number_from in self._offsets:
            number, start = log_number_from, self._offsets[log_number_from]
        with open(self.path, "rb") as fh:
            end = os.fstat(fh.fileno()).st_size
            for pos, line in _lines(fh, start, end):
                if not line.endswith(b"\n"):
                    return  # being written, or torn at the end: the next read looks again
                after = pos + len(line)
                record = _record(line) if line.strip() else None
                if record is None:
                    if line.strip():
                        name_torn(self.path, Torn(pos, len(line), line[:80], tail=False))
                    self._offsets[number] = after
                    continue
                number += 1
                self._offsets[number] = after
                if number - 1 >= log_number_from:
                    yield record

    @contextlib.contextmanager
    def batch(self) -> Iterator[list[dict[str, Any]]]:
        """This thread's appends inside go out together at the end, in one lock, write and fsync;
        all or none: if the block raises, none of them is written. Other threads (a heartbeat)
        write as usual meanwhile, or batch their own."""
        pending: list[dict[str, Any]] = []
        me = threading.get_ident()
        self._pending[me] = pending
        try:
            yield pending
        except BaseException:
            pending.clear()
            raise
        finally:
            del self._pending[me]
        if pending:
            self._append(pending)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        batch = self._pending.get(threading.get_ident())
        if batch is not None:
            batch.extend(logs)
            return
        self._append(logs)

    def _append(self, logs: list[dict[str, Any]]) -> None:
        payload = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode("utf-8")
        with held(self.lock):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    payload = b"\n" + payload  # end the fragment a dead writer left; never glue onto it
                try:
                    view = memoryview(payload)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)  # no fragment of this write stays behind
                    raise
            finally:
                os.close(fd)


def scan(journal: str | os.PathLike) -> tuple[int, list[Torn]]:
    """(valid records, torn lines) of a journal file, without going through Optuna."""
    records, torn = 0, []
    path = Path(journal)
    with path.open("rb") as fh:
        end = os.fstat(fh.fileno()).st_size
        for pos, line in _lines(fh, 0, end):
            if not line.strip():
                continue
            if not line.endswith(b"\n"):
                torn.append(Torn(pos, len(line), line[:80], tail=True))
            elif _record(line) is None:
                torn.append(Torn(pos, len(line), line[:80], tail=False))
            else:
                records += 1
    return records, torn


def rewrite(journal: str | os.PathLike, backup: str | os.PathLike) -> int:
    """Copy the journal to `backup`, then replace it by its valid records only; returns how many
    lines were dropped. The caller holds the journal's lock and knows no agent is writing."""
    path = Path(journal)
    data = path.read_bytes()
    Path(backup).write_bytes(data)
    kept, dropped = [], 0
    for line in data.splitlines(keepends=True):
        if not line.strip():
            continue
        if line.endswith(b"\n") and _record(line) is not None:
            kept.append(line)
        else:
            dropped += 1
    tmp = path.with_name(f".{path.name}.repair")
    with tmp.open("wb") as fh:
        fh.write(b"".join(kept))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return dropped
