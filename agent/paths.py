"""Where sweepkit keeps things on disk: one declaration for each root.

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
