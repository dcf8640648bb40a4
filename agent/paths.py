"""Where sweepkit keeps things on disk (one declaration for each root), and how it writes them.

- `home()`: the state of this machine's sweeps and agents (`$SWEEPKIT_HOME`, default `./.sweepkit`),
  and of trials run by hand (`trials_dir()`).
- `cache_root()`: what can be rebuilt at any time (`$SWEEPKIT_CACHE`, default `~/.cache/sweepkit`):
  the tiny offline models, tokenized datasets, and the report's run tables.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import threading
from pathlib import Path

HOME_ENV = "SWEEPKIT_HOME"
CACHE_ENV = "SWEEPKIT_CACHE"


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or ".sweepkit")


def trials_dir() -> Path:
    """Where a trial run by hand (not by an agent) writes, unless told: under the state root, so a
    trial started in a checkout leaves no `wandb/` or `outputs/` beside the code."""
    return home() / "trials"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sweepkit")


# A local sweep or run id: what `new_id` in the local store makes (W&B's form of a run id). An id
# names a folder of the store, so it is checked against this before it becomes part of any path.
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 8
_ID = re.compile(f"[{ID_ALPHABET}]{{{ID_LENGTH}}}")


class BadId(ValueError):
    """An id that is not a name of the store (`../x`, `/abs/path`, `A B`); `str()` is the one line."""


def checked_id(text: str, kind: str = "sweep") -> str:
    """`text` when it is a local id ([a-z0-9]{8}); else BadId naming the rule and the fix."""
    if not isinstance(text, str) or not _ID.fullmatch(text):
        raise BadId(
            f"{text!r} is not a local {kind} id ({ID_LENGTH} characters of a-z and 0-9, as `sweepkit "
            f"{'sweeps' if kind == 'sweep' else 'status SWEEP_ID'}` lists them); a W&B sweep is entity/project/id"
        )
    return text


def inside(root: Path, ident: str, kind: str = "sweep") -> Path:
    """`root/ident` for a checked id, refused (BadId) if it resolves outside `root` (a symlink out)."""
    path = root / checked_id(ident, kind)
    if not path.resolve().is_relative_to(root.resolve()):
        raise BadId(f"{kind} {ident!r} under {root} leads outside it, to {path.resolve()}; remove that link")
    return path


def safe_name(text: str) -> str:
    """A file-name-safe form of a sweep id or path (`entity/project/id` -> `entity_project_id`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text.strip("/")).strip(".") or "_"


def report_dir(sweep_id: str) -> Path:
    """Where `sweepkit report` writes a sweep's report unless told otherwise."""
    return Path("out") / f"report-{safe_name(sweep_id.split('/')[-1])}"


def run_page(run_id: str) -> str:
    """A run's page, relative to its report folder (one rule for every link to it)."""
    return f"runs/{safe_name(run_id)}.html"


def write_atomic(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write to a temporary file beside `path`, then rename it over `path`: a reader (another agent,
    a browser) never sees half a file, and a failed write leaves the old file as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# A trial that ran out of disk exits with this code (ENOSPC's number), so an agent tells "the disk
# is full, stop" from "this trial failed, try the next".
DISK_FULL_EXIT = 28
DISK_FULL = "disk full"
_LOW_SPACE_BYTES = 16 * 2**20


def disk_full(exc: BaseException, where: str | os.PathLike | None = None) -> bool:
    """Did `exc` come from a full disk (or quota)? Some writers (torch.save, arrow) drop the errno
    and say only that a write failed; for those, a nearly full `where` decides."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "Disk quota exceeded" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    if where is not None and "writ" in str(exc).lower():
        return free_bytes(where) < _LOW_SPACE_BYTES
    return False


def free_bytes(where: str | os.PathLike) -> int:
    path = Path(where)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 1 << 62


def disk_full_reason(where: str | os.PathLike | None) -> str:
    """The one-line reason a disk-full run gets: where, how much is left, and the fix."""
    place = Path(where) if where else Path.cwd()
    free = free_bytes(place)
    left = "" if free >= 1 << 62 else f", {free / 2**20:.1f} MiB free"
    return f"{DISK_FULL}: no space left on the disk holding {place}{left}; free space, then run it again"
