"""`sweepkit doctor`: what can go wrong with a local sweep's store, found and (when safe) fixed.

Checks, each finding one line:
- torn records in the journal (a write cut short by a kill, a full disk or an I/O error), and a torn
  last line; agents already skip them, `--repair` rewrites the journal without them, backup kept;
- a stale symlink lock (`journal.log.lock`), left by a writer using Optuna's own journal lock that
  died holding it (sweepkit's agents lock with flock, which dies with its holder): Optuna's
  writers wait out a 30 s grace on every write until it goes; `--repair` removes it;
- orphaned leases: runs still running whose agent stopped beating; `--repair` marks them crashed
  and requeues grid points, exactly as the next agent would;
- lost claims: a run claimed by an agent that died before the run began (no run dir, no heartbeat,
  nothing logged: `lost_claims.py`); `--repair` marks it crashed, "claimed but never started", and
  requeues its point where no other trial has it. Nothing of it was lost, so once marked (by doctor
  or by the reaper of the next agent) it is no finding;
- run dirs with no record in the store (a claim that never got written); `--repair` moves them
  into `orphans-<time>/` beside `runs/`;
- records whose run dir is gone, of runs that did start: the result stays in the store, its logs are
  lost; reported only;
- an incomplete sweep (its `sweepkit sweep` was killed before it finished: `creation.py`); `--repair`
  removes its building folder and its study once its maker is gone, and checks nothing else.

A repair that rewrites the journal refuses while any run holds a live lease: agents keep byte
offsets into the file, so it may change only while none is running.

The store's format is checked first: a sweep written by a newer sweepkit is refused in one line
(nothing is checked or repaired with rules that may not hold for it); `store_format` says which
format a sweep has, for the report.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import optuna
from optuna.trial import TrialState

from agent.backends.base import BackendError
from agent.backends.local import creation, journal, lost_claims
from agent.backends.local.leases import is_stale, last_beat, reap_stale
from agent.backends.local.methods import method_for
from agent.backends.local.optuna_internals import storage_of
from agent.backends.local.schema import RunClaim, SweepAttrs
from agent.backends.local.store import claim_lock, open_storage, sweep_dir
from agent.states import RunState

LOCK_GRACE_S = 30.0  # Optuna's journal lock: a holder this quiet is presumed dead


@dataclass
class Finding:
    kind: str
    text: str
    fixed: Optional[str] = None  # what --repair did about it

    def line(self) -> str:
        return f"{self.kind}: {self.text}" + (f" -> fixed: {self.fixed}" if self.fixed else "")


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def check(sweep_id: str, storage_url: Optional[str] = None, *, repair: bool = False) -> list[Finding]:
    left = creation.find(sweep_id, storage_url)
    if left is not None:  # a sweep that was never finished: removing it is the one repair
        return [_check_incomplete(left, storage_url, repair)]
    d = sweep_dir(sweep_id)
    log = d / "journal.log"
    findings: list[Finding] = []
    if not storage_url:
        findings += _check_lock(log, repair)
    study = _load(sweep_id, storage_url)
    meta = SweepAttrs.from_attrs(study.user_attrs, sweep_id=sweep_id)  # a newer format: refused here
    if not storage_url:
        findings += _check_journal(log, study, repair)
    findings += _check_leases(study, meta, sweep_id, d / "runs", repair)
    findings += _check_run_dirs(study, d, repair)
    return findings


def store_format(sweep_id: str, storage_url: Optional[str] = None) -> int:
    """The sweep's store format (1: written before sweepkit recorded one); refuses a newer one."""
    return SweepAttrs.from_attrs(_load(sweep_id, storage_url).user_attrs, sweep_id=sweep_id).format


def _load(sweep_id: str, storage_url: Optional[str]) -> optuna.Study:
    try:
        return optuna.load_study(study_name=sweep_id, storage=open_storage(sweep_id, storage_url))
    except KeyError:
        where = sweep_dir(sweep_id)
        raise BackendError(f"no sweep {sweep_id!r} in {where}; list them with `sweepkit sweeps`") from None


def _check_incomplete(left: creation.Leftover, storage_url: Optional[str], repair: bool) -> Finding:
    f = Finding("incomplete sweep", left.describe())
    why_not = creation.why_not_removed(left, storage_url)
    if why_not:
        f.text += f" [{why_not}]"
    elif repair:
        f.fixed = creation.remove(left, storage_url)
    return f


def _check_lock(log: Path, repair: bool) -> list[Finding]:
    lock = Path(f"{log}.lock")
    try:
        age = time.time() - lock.lstat().st_mtime
    except FileNotFoundError:
        return []
    if age < LOCK_GRACE_S:
        return []  # a writer holds it now
    f = Finding("stale lock", f"{lock} has been held for {age:.0f} s by a writer that is gone")
    if repair:
        lock.unlink(missing_ok=True)
        f.fixed = "removed"
    return [f]


def _live(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    now = time.time()
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if not is_stale(t, now)]


def _check_journal(log: Path, study: optuna.Study, repair: bool) -> list[Finding]:
    _, torn = journal.scan(log)
    findings = [
        Finding(
            "torn tail" if t.tail else "torn record",
            f"{log} byte {t.offset}: {t.length} bytes that are not a record ({t.head[:40]!r}...)",
        )
        for t in torn
    ]
    if not findings or not repair:
        return findings
    live = _live(study)
    if live:
        why = f"not rewritten: {len(live)} run(s) are running; stop the agents (or let them finish), then repair"
        for f in findings:
            f.fixed = None
            f.text += f" [{why}]"
        return findings
    backup = log.with_name(f"{log.name}.bak-{_stamp()}")
    with journal.held(journal.FlockLock(str(log))):
        dropped = journal.rewrite(log, backup)
    for f in findings:
        f.fixed = f"journal rewritten without it ({dropped} line(s) dropped), the original kept as {backup.name}"
    return findings


def _check_leases(study: optuna.Study, meta: SweepAttrs, sweep_id: str, runs: Path, repair: bool) -> list[Finding]:
    now = time.time()
    stale = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if is_stale(t, now)]
    lost = [t for t in stale if lost_claims.never_started(t, runs)]
    findings = _check_lost_claims(study, meta, sweep_id, lost, repair)
    stale = [t for t in stale if t not in lost]
    for t in stale:
        run = RunClaim.from_attrs(t.user_attrs)
        who, lease = (run.run_id, f"{run.lease_s:g}") if run else (str(t.number), "?")
        where = f"{run.host or '?'} pid {run.pid or '?'}" if run else "? pid ?"
        findings.append(
            Finding(
                "orphaned lease",
                f"run {who} is '{RunState.RUNNING}' but its agent ({where}) has not beaten for "
                f"{now - last_beat(t):.0f} s (lease {lease} s)",
            )
        )
    if stale and repair:
        requeue = method_for(meta.config, sweep_id).requeues
        with claim_lock(storage_of(study), sweep_id):
            reaped = set(reap_stale(study, requeue=requeue))
        for t, f in zip(stale, findings, strict=True):
            if t.number in reaped:
                f.fixed = "marked crashed" + (", its point requeued" if requeue else "")
    return findings


def _check_lost_claims(
    study: optuna.Study, meta: SweepAttrs, sweep_id: str, lost: list[optuna.trial.FrozenTrial], repair: bool
) -> list[Finding]:
    findings = []
    for t in lost:
        run = RunClaim.from_attrs(t.user_attrs)
        assert run is not None  # never_started holds only claimed trials
        findings.append(
            Finding(
                "lost claim",
                f"run {run.run_id} (trial {t.number}) was claimed by its agent ({run.host or '?'} pid "
                f"{run.pid or '?'}), which died before the run began: no run dir, no heartbeat, nothing logged",
            )
        )
    if lost and repair:
        requeue = method_for(meta.config, sweep_id).requeues
        with claim_lock(storage_of(study), sweep_id):
            for t, f in zip(lost, findings, strict=True):
                again = lost_claims.mark(study, t, requeue=requeue)
                if again is None:
                    continue  # it ended meanwhile
                point = ", its point requeued" if again else ", its point is held by another trial"
                f.fixed = f"marked crashed ({lost_claims.NEVER_STARTED})" + (point if requeue else "")
    return findings


def _check_run_dirs(study: optuna.Study, d: Path, repair: bool) -> list[Finding]:
    runs = d / "runs"
    recorded: dict[str, optuna.trial.FrozenTrial] = {}
    for t in study.get_trials(deepcopy=False):
        run = RunClaim.from_attrs(t.user_attrs)
        if run and run.run_id:
            recorded[run.run_id] = t
    on_disk = {p.name for p in runs.iterdir() if p.is_dir()} if runs.is_dir() else set()
    findings = []
    strays = sorted(on_disk - set(recorded))
    if strays:
        orphans = d / f"orphans-{_stamp()}"
        for name in strays:
            f = Finding("run dir without a record", f"{runs / name} belongs to no run of the sweep")
            if repair:
                orphans.mkdir(exist_ok=True)
                shutil.move(str(runs / name), str(orphans / name))
                f.fixed = f"moved to {orphans.name}/"
            findings.append(f)
    for run_id in sorted(set(recorded) - on_disk):
        t = recorded[run_id]
        if t.state == TrialState.RUNNING and not is_stale(t, time.time()):
            continue  # just claimed: its agent is creating the dir
        if lost_claims.never_started(t, runs):
            continue  # no logs ever existed: a lost claim (its lease above), or one marked already
        findings.append(
            Finding(
                "record without a run dir",
                f"run {run_id} (trial {t.number}, {t.state.name.lower()}) has no {runs / run_id}: its result "
                "is kept, its logs are gone (nothing to repair)",
            )
        )
    return findings
