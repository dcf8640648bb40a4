"""The store's keys, each named once, its format number, its errors, and the lenient readers every
record uses (an absent or malformed attr reads as absent)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

from agent.backends.base import BackendError

FORMAT = 4  # the newest store format this sweepkit writes and reads
# Each write gives the sweep the lowest format that holds what it wrote (never lowering it), so an
# older sweepkit keeps running every sweep that holds nothing it would misread.
MADE_FORMAT = 3  # a new sweep, a rerun, an extension, a warm start
CONTROL_FORMAT = 4  # a paused, stopped or cancelled sweep
DEFAULT_LEASE_S = 60.0  # a claim that recorded no lease (format 1 always recorded one)

# The keys, each named once.
FORMAT_KEY, CONFIG_KEY, CREATED_KEY, PROJECT_KEY = "sk_format", "sk_config", "sk_created", "sk_project"
PARAMS_KEY, REQUEUE_OF_KEY, RUN_KEY = "sk_params", "sk_requeue_of", "sk_run"
HEARTBEAT_KEY, LIVE_KEY, RESULT_KEY, REQUEUED_KEY = "sk_heartbeat", "sk_live", "sk_result", "sk_requeued"
HISTORY_KEY, STATE_KEY, RERUN_OF_KEY, PRIOR_KEY = "sk_config_history", "sk_state", "sk_rerun_of", "sk_prior"
CREATING_KEY = "sk_creating"


class StoreFormatError(BackendError):
    """A sweep written by a newer sweepkit than this one."""


class IncompleteSweepError(BackendError):
    """A sweep whose creation has not finished (interrupted, or still under way)."""


def as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def as_float(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def as_int(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def as_finite(value: Any) -> Optional[float]:
    v = as_float(value)
    return v if v is not None and math.isfinite(v) else None


def as_pair(value: Any) -> Optional[list[float]]:
    """[min, max] as recorded, or None."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    pair = [as_float(v) for v in value]
    return [v for v in pair if v is not None] if None not in pair else None
