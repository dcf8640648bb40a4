"""Where sweepkit keeps things on disk (one declaration for each root), and how it writes them.

- `home()`: the state of this machine's sweeps and agents (`$SWEEPKIT_HOME`, default `./.sweepkit`).
- `cache_root()`: what can be rebuilt at any time (`$SWEEPKIT_CACHE`, default `~/.cache/sweepkit`):
  the tiny offline models, tokenized datasets, and the report's run tables.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

HOME_ENV = "SWEEPKIT_HOME"
CACHE_ENV = "SWEEPKIT_CACHE"


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or ".sweepkit")


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sweepkit")


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
