"""W&B's public API, as the W&B backend uses it: one sweep-path parser, one runs query, retries.

Looping `run.history()` over thousands of runs hits HTTP 429; every call here goes through
`with_retry` (exponential backoff with jitter on 429 and network errors), and runs are listed in
one paged query with `lazy=False` (a lazy list costs one query per run for its config and summary).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from typing import Any, Optional

from agent.backends.base import TERMINAL_STATES, BackendError, RunHistory, RunRecord
from agent.errors import one_line, with_hint

HINT = "check network access and WANDB_API_KEY"
PER_PAGE = 500
HISTORY_SAMPLES = 500


# What W&B's entity, project and sweep names can hold: no `/ \ # ? % :` nor spaces (nor `.`/`..`).
_NAME = re.compile(r"[^/\\#?%:\s]+")


def _parts(sweep_path: str) -> Optional[list[str]]:
    """The names in a W&B sweep path (a pasted URL path's `sweeps` dropped), or None if it is not one."""
    text = sweep_path.strip()
    if text.startswith("/"):  # a file path, never a W&B one
        return None
    parts = text.rstrip("/").split("/")
    if len(parts) == 4 and parts[2] == "sweeps":  # a pasted URL path: entity/project/sweeps/id
        del parts[2]
    if not 1 <= len(parts) <= 3 or not all(_NAME.fullmatch(p) and p not in (".", "..") for p in parts):
        return None
    return parts


def split_path(sweep_path: str) -> tuple[Optional[str], Optional[str], str]:
    """ "entity/project/id", "project/id" or "id" -> (entity, project, id); a pasted URL path works too."""
    parts = _parts(sweep_path)
    if parts is None:
        raise BackendError(f"bad W&B sweep path {sweep_path!r}; expected entity/project/sweep_id")
    padded: list[Optional[str]] = [None] * (3 - len(parts)) + list(parts)
    return padded[0], padded[1], str(padded[2])


def is_wandb_path(sweep_id: str) -> bool:
    """A W&B sweep path (`entity/project/id`, `project/id`) rather than a bare local id or a file
    path: `../../x` and `/abs/path` are not W&B paths, whatever their number of parts."""
    parts = _parts(sweep_id)
    return parts is not None and len(parts) > 1


def _retryable(exc: BaseException) -> bool:
    import requests
    import wandb.errors

    if isinstance(exc, (requests.exceptions.RequestException, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, wandb.errors.CommError):
        return True
    return "429" in str(exc) or "rate limit" in str(exc).lower()


def with_retry(
    fn: Callable[[], Any],
    *,
    what: str,
    retries: int = 6,
    base_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Exponential backoff with jitter (1, 2, 4... s, capped at 60) on 429/network errors."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except BackendError:
            raise  # a call inside this one (connecting) already gave up, and said why
        except Exception as exc:  # classified just below
            if not _retryable(exc) or attempt == retries:
                raise BackendError(with_hint(f"W&B request failed while {what}: {one_line(exc)}", HINT)) from exc
            sleep(min(60.0, base_delay * 2**attempt) * (1 + random.random() / 4))
    raise AssertionError("unreachable")


def run_to_record(run: Any) -> RunRecord:
    """A `wandb.apis.public.Run` in our one shape."""
    summary = dict(getattr(run, "summary_metrics", None) or {})
    config = {k: v for k, v in dict(run.config or {}).items() if not str(k).startswith("_")}
    attrs = getattr(run, "_attrs", {}) or {}
    try:
        url = run.url
    except Exception:  # a run without a reachable app URL still reports
        url = None
    runtime = summary.get("_runtime") or summary.get("train/train_runtime")
    state = str(run.state)
    return RunRecord(
        id=run.id,
        state=state,
        config=config,
        summary=summary,
        name=run.name or run.id,
        runtime_s=float(runtime) if isinstance(runtime, (int, float)) else None,
        reason=summary.get("failure_reason"),
        url=url,
        created_at=attrs.get("createdAt") or getattr(run, "created_at", None),
        tags=list(attrs.get("tags") or []),
        # a run that reached a terminal state never changes again
        data_key=state if state in TERMINAL_STATES else None,
    )


def fetch_history(run: Any, keys: Optional[list[str]], retry: Callable[..., Any]) -> RunHistory:
    rows = retry(
        lambda: run.history(keys=keys, samples=HISTORY_SAMPLES, pandas=False) if keys else [],
        what=f"reading history of run {run.id}",
    )
    system = retry(
        lambda: run.history(stream="system", samples=HISTORY_SAMPLES, pandas=False),
        what=f"reading system metrics of run {run.id}",
    )
    sysrows = [
        {(k if k.startswith(("system.", "_")) else f"system.{k}"): v for k, v in r.items()} for r in system or []
    ]
    return RunHistory(rows=list(rows or []), system=sysrows, console=console_lines(run))


def console_lines(run: Any) -> list[str]:
    """The run's console output (`output.log`), where W&B has it; [] where it has none. One try, no
    retries: many runs have no such file, and the rest of the run's page does not depend on it."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            got = run.file("output.log").download(root=tmp, replace=True)
        except Exception:  # no console file on the server (or not readable): the page says so
            return []
        try:
            with open(getattr(got, "name", None) or os.path.join(tmp, "output.log"), errors="replace") as fh:
                return fh.read().splitlines()
        except OSError:
            return []
