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
3. The sweep's life after it is made. On the study: `sk_config_history` (the configs an extension
   replaced, each with when and what changed) and `sk_state` (the state a person set: `SweepControl`).
   Per trial: `sk_rerun_of` beside `sk_params` (a point queued again by `sweepkit rerun`; the re-run
   replaces that trial in run_cap, in what bayes learns and in the report) and `sk_prior` (a finished
   run of an earlier sweep added by a warm start: no slot of run_cap, not this sweep's target). A
   format-2 reader would count replaced and prior trials as this sweep's own runs, so a sweep gets
   format 3 when it is made, or when a rerun or an extension first writes these keys.
A sweep of a newer format than `FORMAT` is refused in one line: its records may mean something
this sweepkit would misread.

`sk_creating` (`Creating`: when, host, pid) marks a sweep still being made: it is written with the
sweep's first record and cleared (set to null) by its last write. A study that carries it, or that
has no sweep record at all, is incomplete: readers refuse it in one line (`IncompleteSweepError`) and
`doctor --repair` removes it once its maker is gone. A reader that predates the key ignores it; no
sweep is ever left marked by a creation that finished, so the format stays 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Optional

from agent.backends.base import BackendError, SweepState
from agent.states import RunState

FORMAT = 3  # the store format this sweepkit writes, and the newest it reads
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
class ConfigRevision:
    """A config the sweep had before an extension replaced it."""

    config: dict[str, Any]
    until: Optional[str] = None  # ISO time, UTC, of the extension
    change: str = ""  # what the extension changed, in words

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "until": self.until, "change": self.change}

    @classmethod
    def from_json(cls, value: Any) -> Optional[ConfigRevision]:
        d = _dict(value)
        return cls(_dict(d.get("config")), _str(d.get("until")), _str(d.get("change")) or "") if d else None


@dataclass(frozen=True)
class SweepControl:
    """The state a person set on the sweep (`SweepState`): only RUNNING so far, which a rerun or an
    extension writes when it opens the sweep again. An agent hands out trials only while it is
    RUNNING. A state this sweepkit does not know reads as RUNNING, so the sweepkit that first writes
    a new state (pause, stop, cancel) must raise FORMAT: older agents then refuse the sweep instead."""

    state: SweepState = SweepState.RUNNING
    at: Optional[str] = None  # ISO time, UTC
    why: Optional[str] = None

    def to_attrs(self) -> dict[str, Any]:
        return {STATE_KEY: {"state": self.state.value, "at": self.at, "why": self.why}}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> SweepControl:
        d = _dict(attrs.get(STATE_KEY))
        try:
            state = SweepState(str(d.get("state")))
        except ValueError:
            state = SweepState.RUNNING
        return cls(state, _str(d.get("at")), _str(d.get("why")))


@dataclass(frozen=True)
class Creating:
    """Who is making a sweep, and since when: a study that carries it is not a sweep yet."""

    at: float  # unix time the creation began
    host: Optional[str] = None
    pid: Optional[int] = None

    def to_attrs(self) -> dict[str, Any]:
        return {CREATING_KEY: {"at": self.at, "host": self.host, "pid": self.pid}}

    @staticmethod
    def done() -> dict[str, Any]:
        """The creation's last write: the marker cleared (Optuna cannot delete an attr)."""
        return {CREATING_KEY: None}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Optional[Creating]:
        mark = attrs.get(CREATING_KEY)
        if not isinstance(mark, Mapping):
            return None
        at = _float(mark.get("at"))
        return cls(at if at is not None else 0.0, _str(mark.get("host")), _int(mark.get("pid")))

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds") if self.at else "?"
        return f"began {when} on {self.host or '?'}, pid {self.pid or '?'}"


@dataclass(frozen=True)
class SweepAttrs:
    config: dict[str, Any]
    created: Optional[str] = None  # ISO time, UTC
    project: Optional[str] = None
    format: int = FORMAT
    history: tuple[ConfigRevision, ...] = ()  # earlier configs, oldest first
    control: SweepControl = SweepControl()
    creating: Optional[Creating] = None  # set while the sweep is being made
    recorded: bool = True  # False: the study holds no sweep record at all

    @property
    def incomplete(self) -> bool:
        return self.creating is not None or not self.recorded

    def to_attrs(self) -> dict[str, Any]:
        return {
            FORMAT_KEY: self.format,
            CONFIG_KEY: self.config,
            CREATED_KEY: self.created,
            PROJECT_KEY: self.project,
            **(self.creating.to_attrs() if self.creating else {}),
        }

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], *, sweep_id: str, incomplete_ok: bool = False) -> SweepAttrs:
        """The sweep's record; StoreFormatError for a format newer than this sweepkit reads, and
        IncompleteSweepError for a sweep still being made (unless `incomplete_ok`: doctor looks)."""
        fmt = _int(attrs.get(FORMAT_KEY)) or 1
        if fmt > FORMAT:
            raise StoreFormatError(
                f"sweep {sweep_id} was written by a newer sweepkit (store format {fmt}; this one reads up to "
                f"{FORMAT}): upgrade sweepkit"
            )
        history = attrs.get(HISTORY_KEY)
        revisions = [ConfigRevision.from_json(v) for v in history] if isinstance(history, list) else []
        out = cls(
            config=_dict(attrs.get(CONFIG_KEY)),
            created=_str(attrs.get(CREATED_KEY)),
            project=_str(attrs.get(PROJECT_KEY)),
            format=fmt,
            history=tuple(r for r in revisions if r is not None),
            control=SweepControl.from_attrs(attrs),
            creating=Creating.from_attrs(attrs),
            recorded=CONFIG_KEY in attrs,
        )
        if out.incomplete and not incomplete_ok:
            raise IncompleteSweepError(incomplete_line(sweep_id, out.creating))
        return out

    @property
    def revision(self) -> int:
        """1 for the config the sweep was made with, +1 per extension."""
        return len(self.history) + 1

    def extended(self, config: dict[str, Any], *, at: str, change: str) -> dict[str, Any]:
        """The study attrs that make `config` the sweep's config, the current one kept in its history."""
        history = [*self.history, ConfigRevision(self.config, at, change)]
        return {FORMAT_KEY: FORMAT, CONFIG_KEY: config, HISTORY_KEY: [r.to_json() for r in history]}


def incomplete_line(sweep_id: str, mark: Optional[Creating]) -> str:
    """What a reader of an incomplete sweep is told, in one line."""
    who = f" ({mark.describe()})" if mark else ""
    return (
        f"sweep {sweep_id} is incomplete: the `sweepkit sweep` that made it{who} did not finish; if it was "
        f"interrupted, `sweepkit doctor {sweep_id} --repair` removes it"
    )


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
        return cls(_dict(attrs.get(PARAMS_KEY)), _int(attrs.get(REQUEUE_OF_KEY)), _int(attrs.get(RERUN_OF_KEY)))

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
        d = _dict(attrs.get(PRIOR_KEY))
        sweep = _str(d.get("sweep"))
        if not sweep:
            return None
        return cls(sweep, _str(d.get("created_at")), _str(d.get("ended_at")), d.get("skipped") is not False)


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

    def to_attrs(self) -> dict[str, Any]:
        return {
            RUN_KEY: {
                "params": self.params,
                "run_id": self.run_id,
                "lease_s": self.lease_s,
                "linked": self.linked,
                "run_dir": self.run_dir,
                "host": self.host,
                "pid": self.pid,
            }
        }

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


def _finite(value: Any) -> Optional[float]:
    v = _float(value)
    return v if v is not None and math.isfinite(v) else None


def _pair(value: Any) -> Optional[list[float]]:
    """[min, max] as recorded, or None."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    pair = [_float(v) for v in value]
    return [v for v in pair if v is not None] if None not in pair else None
