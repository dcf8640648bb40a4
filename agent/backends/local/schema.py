"""What a local sweep's store holds besides Optuna's own fields, declared once: the `sk_*` user attrs.

Each record is written with `to_attrs()` (key -> JSON value) and read with `from_attrs(attrs)`;
nobody else names a key. Readers are lenient (an absent or malformed attr reads as absent), so a
sweep written by an older sweepkit still reads; the key names and value shapes are what sweeps on
disk already hold.

Store formats (`sk_format` on the study; absent = 1):
1. `sk_config`, `sk_created`, `sk_project`; per trial `sk_params` + `sk_requeue_of` (a queued
   point), `sk_run` (the claim), `sk_heartbeat`, `sk_result` + `sk_requeued` (how it ended).
2. `sk_format` itself, and `sk_live` (a running trial's last logged values, written with its
   heartbeat). A format-1 reader ignores `sk_live`, so format 2 adds and breaks nothing.
   `sk_run.at` (when the trial was claimed) came later in format 2: a reaper reads a running
   trial's lease from its attrs alone; a claim without it is judged by the trial's start.
A sweep of a newer format than `FORMAT` is refused in one line: its records may mean something
this sweepkit would misread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from agent.backends.base import BackendError
from agent.states import RunState

FORMAT = 2  # the store format this sweepkit writes, and the newest it reads
DEFAULT_LEASE_S = 60.0  # a claim that recorded no lease (format 1 always recorded one)

# The keys, each named once.
FORMAT_KEY, CONFIG_KEY, CREATED_KEY, PROJECT_KEY = "sk_format", "sk_config", "sk_created", "sk_project"
PARAMS_KEY, REQUEUE_OF_KEY, RUN_KEY = "sk_params", "sk_requeue_of", "sk_run"
HEARTBEAT_KEY, LIVE_KEY, RESULT_KEY, REQUEUED_KEY = "sk_heartbeat", "sk_live", "sk_result", "sk_requeued"


class StoreFormatError(BackendError):
    """A sweep written by a newer sweepkit than this one."""


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _float(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


# -- the sweep ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepAttrs:
    config: dict[str, Any]
    created: Optional[str] = None  # ISO time, UTC
    project: Optional[str] = None
    format: int = FORMAT

    def to_attrs(self) -> dict[str, Any]:
        return {
            FORMAT_KEY: self.format,
            CONFIG_KEY: self.config,
            CREATED_KEY: self.created,
            PROJECT_KEY: self.project,
        }

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], *, sweep_id: str) -> SweepAttrs:
        """The sweep's record; StoreFormatError for a format newer than this sweepkit reads."""
        fmt = _int(attrs.get(FORMAT_KEY)) or 1
        if fmt > FORMAT:
            raise StoreFormatError(
                f"sweep {sweep_id} was written by a newer sweepkit (store format {fmt}; this one reads up to "
                f"{FORMAT}): upgrade sweepkit"
            )
        return cls(
            config=_dict(attrs.get(CONFIG_KEY)),
            created=_str(attrs.get(CREATED_KEY)),
            project=_str(attrs.get(PROJECT_KEY)),
            format=fmt,
        )


# -- a trial --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueuedPoint:
    """A waiting trial's params: a grid point, or the point of a lost or killed run to run again."""

    params: dict[str, Any]
    requeue_of: Optional[int] = None  # the number of the trial whose point this is

    def to_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {PARAMS_KEY: self.params}
        if self.requeue_of is not None:
            attrs[REQUEUE_OF_KEY] = self.requeue_of
        return attrs

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[QueuedPoint]:
        if PARAMS_KEY not in attrs:
            return None
        return cls(_dict(attrs.get(PARAMS_KEY)), _int(attrs.get(REQUEUE_OF_KEY)))


@dataclass(frozen=True)
class RunClaim:
    """An agent's claim on a trial, written once when it starts it: the run and its lease."""

    run_id: str
    run_dir: str
    params: dict[str, Any] = field(default_factory=dict)
    lease_s: float = DEFAULT_LEASE_S  # how long without a heartbeat before others declare it lost
    host: Optional[str] = None
    pid: Optional[int] = None
    linked: bool = True  # the run was told WANDB_SWEEP_ID
    at: Optional[float] = None  # when it was claimed (unix time): its lease runs from here until a beat

    def to_attrs(self) -> dict[str, Any]:
        run: dict[str, Any] = {
            "params": self.params,
            "run_id": self.run_id,
            "lease_s": self.lease_s,
            "linked": self.linked,
            "run_dir": self.run_dir,
            "host": self.host,
            "pid": self.pid,
        }
        if self.at is not None:
            run["at"] = self.at
        return {RUN_KEY: run}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[RunClaim]:
        if not isinstance(attrs.get(RUN_KEY), Mapping):
            return None
        run = _dict(attrs[RUN_KEY])
        lease = _float(run.get("lease_s"))
        return cls(
            run_id=_str(run.get("run_id")) or "",
            run_dir=_str(run.get("run_dir")) or "",
            params=_dict(run.get("params")),
            lease_s=DEFAULT_LEASE_S if lease is None else lease,
            host=_str(run.get("host")),
            pid=_int(run.get("pid")),
            linked=run.get("linked", True) is not False,
            at=_float(run.get("at")),
        )


@dataclass(frozen=True)
class Beat:
    """The last sign of life of a running trial's agent (unix time)."""

    at: float

    def to_attrs(self) -> dict[str, Any]:
        return {HEARTBEAT_KEY: self.at}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[Beat]:
        at = _float(attrs.get(HEARTBEAT_KEY))
        return None if at is None else cls(at)


@dataclass(frozen=True)
class LiveValues:
    """A running trial's last logged value of each numeric key (what `status` shows while it runs),
    written with the heartbeat whenever it changed."""

    summary: dict[str, float]
    at: float

    def to_attrs(self) -> dict[str, Any]:
        return {LIVE_KEY: {"summary": self.summary, "at": self.at}}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[LiveValues]:
        live = _dict(attrs.get(LIVE_KEY))
        at = _float(live.get("at"))
        if at is None:
            return None
        return cls({k: v for k, v in _dict(live.get("summary")).items() if _float(v) is not None}, at)


@dataclass(frozen=True)
class Result:
    """How a trial ended (`sk_result`): its state in W&B's words, and what the store keeps of it."""

    state: RunState
    reason: Optional[str] = None
    value: Optional[float] = None  # the metric's value
    runtime: Optional[float] = None
    exit_code: Optional[int] = None
    summary: Optional[dict[str, Any]] = None
    config: Optional[dict[str, Any]] = None  # the run's effective config
    extremes: Optional[list[float]] = None  # bayes: [min, max] of the metric over the run
    imputed: Optional[float] = None  # bayes: the value learned for a run that did not finish well
    has_imputed: bool = False  # whether `imputed` is recorded (None there: nothing was learned)

    def to_attrs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state.value, "reason": self.reason, "value": self.value}
        for key in ("runtime", "exit_code", "summary", "config", "extremes"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.has_imputed:
            out["imputed"] = self.imputed
        return {RESULT_KEY: out}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[Result]:
        if not isinstance(attrs.get(RESULT_KEY), Mapping):
            return None
        res = _dict(attrs[RESULT_KEY])
        try:
            state = RunState(str(res.get("state")))
        except ValueError:  # not a state any sweepkit wrote: not a result either
            state = RunState.CRASHED
        return cls(
            state=state,
            reason=_str(res.get("reason")),
            value=_finite(res.get("value")),
            runtime=_float(res.get("runtime")),
            exit_code=_int(res.get("exit_code")),
            summary=_dict(res.get("summary")) if "summary" in res else None,
            config=_dict(res.get("config")) if isinstance(res.get("config"), Mapping) else None,
            extremes=_pair(res.get("extremes")),
            imputed=_float(res.get("imputed")),
            has_imputed="imputed" in res,
        )


@dataclass(frozen=True)
class Ended:
    """The end of a trial: its result, and whether its point was queued again."""

    result: Result
    requeued: bool = False

    def to_attrs(self) -> dict[str, Any]:
        return {**self.result.to_attrs(), **({REQUEUED_KEY: True} if self.requeued else {})}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[Ended]:
        result = Result.from_attrs(attrs)
        return None if result is None else cls(result, attrs.get(REQUEUED_KEY) is True)


@dataclass(frozen=True)
class TrialAttrs:
    """Everything sweepkit recorded on one trial, read once."""

    point: Optional[QueuedPoint] = None
    run: Optional[RunClaim] = None
    beat: Optional[Beat] = None
    live: Optional[LiveValues] = None
    result: Optional[Result] = None
    requeued: bool = False  # its point was queued again: the trial counts no slot of run_cap

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialAttrs:
        return cls(
            point=QueuedPoint.from_attrs(attrs),
            run=RunClaim.from_attrs(attrs),
            beat=Beat.from_attrs(attrs),
            live=LiveValues.from_attrs(attrs),
            result=Result.from_attrs(attrs),
            requeued=attrs.get(REQUEUED_KEY) is True,
        )


def _finite(value: Any) -> Optional[float]:
    v = _float(value)
    return v if v is not None and math.isfinite(v) else None


def _pair(value: Any) -> Optional[list[float]]:
    """[min, max] as recorded, or None."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    pair = [_float(v) for v in value]
    return [v for v in pair if v is not None] if None not in pair else None
