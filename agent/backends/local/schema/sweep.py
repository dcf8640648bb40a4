"""The sweep's records: its config and when it was made (`SweepAttrs`), the configs an extension
replaced (`ConfigRevision`), the state a person set (`SweepControl`), and the marker of a sweep still
being made (`Creating`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Optional

from agent.backends.local.schema.keys import (
    CONFIG_KEY,
    CREATED_KEY,
    CREATING_KEY,
    FORMAT,
    FORMAT_KEY,
    HISTORY_KEY,
    MADE_FORMAT,
    PROJECT_KEY,
    STATE_KEY,
    IncompleteSweepError,
    StoreFormatError,
    as_dict,
    as_float,
    as_int,
    as_str,
)
from agent.states import SweepState


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
        d = as_dict(value)
        return cls(as_dict(d.get("config")), as_str(d.get("until")), as_str(d.get("change")) or "") if d else None


@dataclass(frozen=True)
class SweepControl:
    """The state a person set on the sweep (`SweepState`): PAUSED, STOPPED or CANCELLED (`sweepkit
    sweep --pause|--stop|--cancel`), or RUNNING (`--resume`, a rerun or an extension opening it again).
    An agent hands out trials only while it is RUNNING (`control.py`). A state this sweepkit does not
    know reads as RUNNING, so a sweepkit that writes a new state must raise FORMAT (format 4 brought
    PAUSED, STOPPED and CANCELLED): older agents then refuse the sweep instead."""

    state: SweepState = SweepState.RUNNING
    at: Optional[str] = None  # ISO time, UTC
    why: Optional[str] = None

    def to_attrs(self) -> dict[str, Any]:
        return {STATE_KEY: {"state": self.state.value, "at": self.at, "why": self.why}}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> SweepControl:
        d = as_dict(attrs.get(STATE_KEY))
        try:
            state = SweepState(str(d.get("state")))
        except ValueError:
            state = SweepState.RUNNING
        return cls(state, as_str(d.get("at")), as_str(d.get("why")))


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
        at = as_float(mark.get("at"))
        return cls(at if at is not None else 0.0, as_str(mark.get("host")), as_int(mark.get("pid")))

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds") if self.at else "?"
        return f"began {when} on {self.host or '?'}, pid {self.pid or '?'}"


@dataclass(frozen=True)
class SweepAttrs:
    config: dict[str, Any]
    created: Optional[str] = None  # ISO time, UTC
    project: Optional[str] = None
    format: int = MADE_FORMAT
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
        fmt = as_int(attrs.get(FORMAT_KEY)) or 1
        if fmt > FORMAT:
            raise StoreFormatError(
                f"sweep {sweep_id} was written by a newer sweepkit (store format {fmt}; this one reads up to "
                f"{FORMAT}): upgrade sweepkit"
            )
        history = attrs.get(HISTORY_KEY)
        revisions = [ConfigRevision.from_json(v) for v in history] if isinstance(history, list) else []
        out = cls(
            config=as_dict(attrs.get(CONFIG_KEY)),
            created=as_str(attrs.get(CREATED_KEY)),
            project=as_str(attrs.get(PROJECT_KEY)),
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
        fmt = max(self.format, MADE_FORMAT)
        return {FORMAT_KEY: fmt, CONFIG_KEY: config, HISTORY_KEY: [r.to_json() for r in history]}


def incomplete_line(sweep_id: str, mark: Optional[Creating]) -> str:
    """What a reader of an incomplete sweep is told, in one line."""
    who = f" ({mark.describe()})" if mark else ""
    return (
        f"sweep {sweep_id} is incomplete: the `sweepkit sweep` that made it{who} did not finish; if it was "
        f"interrupted, `sweepkit doctor {sweep_id} --repair` removes it"
    )
