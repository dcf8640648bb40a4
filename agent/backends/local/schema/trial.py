"""A trial's records: a queued point, a warm start's mark, the claim, heartbeats and live values, and
how it ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from agent.backends.local.schema.keys import (
    DEFAULT_LEASE_S,
    HEARTBEAT_KEY,
    LIVE_KEY,
    PARAMS_KEY,
    PRIOR_KEY,
    REQUEUE_OF_KEY,
    REQUEUED_KEY,
    RERUN_OF_KEY,
    RESULT_KEY,
    RUN_KEY,
    as_dict,
    as_finite,
    as_float,
    as_int,
    as_pair,
    as_str,
)
from agent.states import RunState


# -- a trial --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueuedPoint:
    """A waiting trial's params: a grid point, the point of a lost or killed run the sweep queued
    again itself (`requeue_of`), or one a person asked to run again (`rerun_of`, `sweepkit rerun`)."""

    params: dict[str, Any]
    requeue_of: Optional[int] = None  # the number of the trial whose point this is
    rerun_of: Optional[int] = None  # likewise, queued by `sweepkit rerun`: this trial replaces that one

    def to_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {PARAMS_KEY: self.params}
        if self.requeue_of is not None:
            attrs[REQUEUE_OF_KEY] = self.requeue_of
        if self.rerun_of is not None:
            attrs[RERUN_OF_KEY] = self.rerun_of
        return attrs

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[QueuedPoint]:
        if PARAMS_KEY not in attrs:
            return None
        return cls(as_dict(attrs.get(PARAMS_KEY)), as_int(attrs.get(REQUEUE_OF_KEY)), as_int(attrs.get(RERUN_OF_KEY)))

    @property
    def earlier(self) -> Optional[int]:
        """The trial whose point this one runs again, however it was queued."""
        return self.rerun_of if self.rerun_of is not None else self.requeue_of


@dataclass(frozen=True)
class PriorMark:
    """A trial that holds a finished run of an earlier sweep (a warm start): where it ran, and when."""

    sweep: str
    created_at: Optional[str] = None
    ended_at: Optional[str] = None
    skipped: bool = True  # the sweep skips its point (else, `--no-skip`, runs it too)

    def to_attrs(self) -> dict[str, Any]:
        mark = {"sweep": self.sweep, "created_at": self.created_at, "ended_at": self.ended_at, "skipped": self.skipped}
        return {PRIOR_KEY: mark}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[PriorMark]:
        d = as_dict(attrs.get(PRIOR_KEY))
        sweep = as_str(d.get("sweep"))
        if not sweep:
            return None
        return cls(sweep, as_str(d.get("created_at")), as_str(d.get("ended_at")), d.get("skipped") is not False)


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
        run = as_dict(attrs[RUN_KEY])
        lease = as_float(run.get("lease_s"))
        return cls(
            run_id=as_str(run.get("run_id")) or "",
            run_dir=as_str(run.get("run_dir")) or "",
            params=as_dict(run.get("params")),
            lease_s=DEFAULT_LEASE_S if lease is None else lease,
            host=as_str(run.get("host")),
            pid=as_int(run.get("pid")),
            linked=run.get("linked", True) is not False,
            at=as_float(run.get("at")),
        )


@dataclass(frozen=True)
class Beat:
    """The last sign of life of a running trial's agent (unix time)."""

    at: float

    def to_attrs(self) -> dict[str, Any]:
        return {HEARTBEAT_KEY: self.at}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[Beat]:
        at = as_float(attrs.get(HEARTBEAT_KEY))
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
        live = as_dict(attrs.get(LIVE_KEY))
        at = as_float(live.get("at"))
        if at is None:
            return None
        return cls({k: v for k, v in as_dict(live.get("summary")).items() if as_float(v) is not None}, at)


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
        res = as_dict(attrs[RESULT_KEY])
        try:
            state = RunState(str(res.get("state")))
        except ValueError:  # not a state any sweepkit wrote: not a result either
            state = RunState.CRASHED
        return cls(
            state=state,
            reason=as_str(res.get("reason")),
            value=as_finite(res.get("value")),
            runtime=as_float(res.get("runtime")),
            exit_code=as_int(res.get("exit_code")),
            summary=as_dict(res.get("summary")) if "summary" in res else None,
            config=as_dict(res.get("config")) if isinstance(res.get("config"), Mapping) else None,
            extremes=as_pair(res.get("extremes")),
            imputed=as_float(res.get("imputed")),
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
    prior: Optional[PriorMark] = None  # a warm start's run of an earlier sweep

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialAttrs:
        return cls(
            point=QueuedPoint.from_attrs(attrs),
            run=RunClaim.from_attrs(attrs),
            beat=Beat.from_attrs(attrs),
            live=LiveValues.from_attrs(attrs),
            result=Result.from_attrs(attrs),
            requeued=attrs.get(REQUEUED_KEY) is True,
            prior=PriorMark.from_attrs(attrs),
        )
