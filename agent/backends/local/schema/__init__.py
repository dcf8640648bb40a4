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
3. The sweep's life after it is made. On the study: `sk_config_history` (the configs an extension
   replaced, each with when and what changed) and `sk_state` (the state a person set: `SweepControl`).
   Per trial: `sk_rerun_of` beside `sk_params` (a point queued again by `sweepkit rerun`; the re-run
   replaces that trial in run_cap, in what bayes learns and in the report) and `sk_prior` (a finished
   run of an earlier sweep added by a warm start: no slot of run_cap, not this sweep's target). A
   format-2 reader would count replaced and prior trials as this sweep's own runs, so a sweep gets
   format 3 when it is made, or when a rerun or an extension first writes these keys.
4. The states a person sets: `sk_state.state` may be `paused`, `stopped` or `cancelled` (`sweepkit
   sweep --pause|--stop|--cancel`; `--resume` writes `running`). A format-3 reader reads an unknown
   state as running and would go on claiming, so a sweep gets format 4 (`CONTROL_FORMAT`) when
   `--pause`, `--stop` or `--cancel` first writes `sk_state` (an older sweepkit then refuses it in
   one line), and keeps it. A new sweep is made with format 3 (`MADE_FORMAT`): it holds nothing
   of format 4 until a person sets one of these states, so an older sweepkit still runs it.
A sweep of a newer format than `FORMAT` is refused in one line: its records may mean something
this sweepkit would misread.

`sk_creating` (`Creating`: when, host, pid) marks a sweep still being made: it is written with the
sweep's first record and cleared (set to null) by its last write. A study that carries it, or that
has no sweep record at all, is incomplete: readers refuse it in one line (`IncompleteSweepError`) and
`doctor --repair` removes it once its maker is gone. A reader that predates the key ignores it; no
sweep is ever left marked by a creation that finished, so the format stays 2.
"""

from agent.backends.local.schema.keys import (
    CONFIG_KEY,
    CONTROL_FORMAT,
    CREATED_KEY,
    CREATING_KEY,
    DEFAULT_LEASE_S,
    FORMAT,
    FORMAT_KEY,
    HEARTBEAT_KEY,
    HISTORY_KEY,
    LIVE_KEY,
    MADE_FORMAT,
    PARAMS_KEY,
    PRIOR_KEY,
    PROJECT_KEY,
    REQUEUE_OF_KEY,
    REQUEUED_KEY,
    RERUN_OF_KEY,
    RESULT_KEY,
    RUN_KEY,
    STATE_KEY,
    IncompleteSweepError,
    StoreFormatError,
    as_dict,
    as_finite,
    as_float,
    as_int,
    as_pair,
    as_str,
)
from agent.backends.local.schema.sweep import (
    ConfigRevision,
    Creating,
    SweepAttrs,
    SweepControl,
    incomplete_line,
)
from agent.backends.local.schema.trial import (
    Beat,
    Ended,
    LiveValues,
    PriorMark,
    QueuedPoint,
    Result,
    RunClaim,
    TrialAttrs,
)

__all__ = [
    "FORMAT",
    "MADE_FORMAT",
    "CONTROL_FORMAT",
    "DEFAULT_LEASE_S",
    "FORMAT_KEY",
    "CONFIG_KEY",
    "CREATED_KEY",
    "PROJECT_KEY",
    "PARAMS_KEY",
    "REQUEUE_OF_KEY",
    "RUN_KEY",
    "HEARTBEAT_KEY",
    "LIVE_KEY",
    "RESULT_KEY",
    "REQUEUED_KEY",
    "HISTORY_KEY",
    "STATE_KEY",
    "RERUN_OF_KEY",
    "PRIOR_KEY",
    "CREATING_KEY",
    "StoreFormatError",
    "IncompleteSweepError",
    "as_dict",
    "as_float",
    "as_int",
    "as_str",
    "as_finite",
    "as_pair",
    "ConfigRevision",
    "SweepControl",
    "Creating",
    "SweepAttrs",
    "incomplete_line",
    "QueuedPoint",
    "PriorMark",
    "RunClaim",
    "Beat",
    "LiveValues",
    "Result",
    "Ended",
    "TrialAttrs",
]
