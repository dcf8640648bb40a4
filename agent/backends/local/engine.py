"""One local sweep in Optuna: hands out trials and records how they ended.

The engine never asks which search method it runs: `methods/` holds one module per method (how a
sweep is set up, how a trial is taken, its params, what the sampler learns) and `hyperband.py` the
stopper `early_terminate` chooses. `schema/` declares what the store keeps beside Optuna's own
fields. Optuna holds sweep state; the run dirs hold run data (each trial's offline `.wandb` log).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import optuna
from optuna.trial import TrialState

from agent import runlog
from agent.backends.base import BackendError, PriorRun, RunRecord, SweepInfo, SweepState, TrialOutcome, TrialSpec
from agent.backends.local import creation
from agent.backends.local.control import WAIT, claim_answer
from agent.backends.local.ending import final_info, metric_history, record_end
from agent.backends.local.hyperband import WandbHyperbandPruner, stopper
from agent.backends.local.leases import heartbeat_timeout, is_stale, reap_stale
from agent.backends.local.lifecycle import run_links, slots_used, target_reached
from agent.backends.local.methods import EndedTrial, Lesson, method_for
from agent.backends.local.optuna_internals import frozen, storage_of
from agent.backends.local.queue import live_counts, queue_again
from agent.backends.local.results import jsonable
from agent.backends.local.retry import StoreRetry
from agent.backends.local.schema import Ended, Result, RunClaim, SweepAttrs, TrialAttrs
from agent.backends.local.store import claim_lock, mask_url, new_id, open_storage, sweep_dir
from agent.backends.outcome import is_disk_full, outcome
from agent.states import RunState

optuna.logging.set_verbosity(optuna.logging.WARNING)

# How often one agent looks for dead agents' runs: every second, or a quarter of its lease if longer
# (64 agents each scanning every second cost the store more than their claims; a lost run is still
# found within a quarter lease of its own lease lapsing, and sooner when several agents look).
REAP_EVERY_S = 1.0
RELOAD_EVERY_S = 2.0  # how often a claim re-reads the sweep's record (an extension, a state a person set)


@dataclass
class Claim:
    trial: optuna.Trial
    run: RunClaim

    def spec(self, sweep_id: str, env: dict[str, str], link: bool) -> TrialSpec:
        """What a runner needs to run this trial."""
        run = self.run
        return TrialSpec(
            sweep_id, run.run_id, run.params, run.run_dir, self.trial.number, env=dict(env), link_sweep=link
        )


class Engine:
    def __init__(self, sweep_id: str, storage_url: Optional[str] = None):
        self.sweep_id, self.storage_url = sweep_id, storage_url
        try:
            self.study = optuna.load_study(study_name=sweep_id, storage=open_storage(sweep_id, storage_url))
        except KeyError:
            where = mask_url(storage_url) if storage_url else str(sweep_dir(sweep_id))
            raise BackendError(f"no sweep {sweep_id!r} in {where}; list them with `sweepkit sweeps`") from None
        self.storage = storage_of(self.study)
        self.config: dict[str, Any] = {}
        self._use(SweepAttrs.from_attrs(self.study.user_attrs, sweep_id=sweep_id))
        self._reloaded_at = time.monotonic()
        self._run_files: dict[str, Path] = {}
        # An agent's first look comes within its first second, at random: agents an array starts
        # together do not all scan at their first claim.
        self._next_reap = time.monotonic() + random.uniform(0, REAP_EVERY_S)
        # A store that stops answering is retried up to the lease (the agent loop sets its own lease
        # and where the notes go); what is not retried is the store's own answer.
        where = f"the sweep store {mask_url(storage_url)}" if storage_url else f"the journal of sweep {sweep_id}"
        self.retry = StoreRetry(heartbeat_timeout(), where=where)

    def _use(self, meta: SweepAttrs) -> None:
        """Run by the sweep's record as read: its config (new after an extension), its state."""
        self.meta = meta
        if meta.config == self.config:
            return
        self.config = meta.config
        self.metric: dict[str, Any] = self.config.get("metric") or {}
        self.method = method_for(self.config, self.sweep_id)
        self.study.pruner = stopper(self.config)
        self.study.sampler = self.method.sampler()

    def reload(self) -> None:
        """Read the sweep's record again: another process may have extended it, or set its state."""
        self._use(SweepAttrs.from_attrs(self.study.user_attrs, sweep_id=self.sweep_id))
        self._reloaded_at = time.monotonic()

    @staticmethod
    def create(
        config: dict[str, Any],
        storage_url: Optional[str],
        project: Optional[str],
        prior: Sequence[PriorRun] = (),
        skip_done: bool = True,
    ) -> str:
        """A new sweep, shown only once complete (`creation.py`), seeded with `prior` runs; its id."""
        return creation.create(config, storage_url, project, prior, skip_done)

    @property
    def paused(self) -> bool:
        return self.meta.control.state == SweepState.PAUSED

    @property
    def prunes(self) -> bool:
        return isinstance(self.study.pruner, WandbHyperbandPruner) and bool(self.metric.get("name"))

    # -- reading ----------------------------------------------------------------------------
    def info(self) -> SweepInfo:
        self.reload()
        trials = self.study.get_trials(deepcopy=False)
        state = self.meta.control.state
        if state == SweepState.RUNNING and self.stop_reason(_counts(trials)):
            state = SweepState.FINISHED
        return SweepInfo(
            id=self.sweep_id,
            backend="local",
            config=self.config,
            state=state,
            name=self.config.get("name") or "",
            created_at=self.meta.created,
            path=mask_url(self.storage_url) if self.storage_url else str(sweep_dir(self.sweep_id)),
        )

    def records(self) -> list[RunRecord]:
        """Every run, from the store and plain file stats: no reader process per run. A running run's
        summary is what its agent last wrote with its heartbeat."""
        now = time.time()
        out = []
        trials = [(t, TrialAttrs.from_attrs(t.user_attrs)) for t in self.study.get_trials(deepcopy=False)]
        links = run_links(trials)
        for t, a in trials:
            run, res = a.run, a.result
            if t.state == TrialState.WAITING or run is None or not run.run_id:
                continue
            state = res.state if res else (RunState.CRASHED if is_stale(t, now) else RunState.RUNNING)
            summary = dict(res.summary or {}) if res else {}
            if state == RunState.RUNNING and not summary and a.live:
                summary = dict(a.live.summary)
            out.append(
                RunRecord(
                    id=run.run_id,
                    state=state,
                    config=(res.config if res else None) or run.params,
                    summary=summary,
                    name=run.run_id,
                    runtime_s=res.runtime if res else None,
                    reason=res.reason if res else None,
                    run_dir=run.run_dir,
                    data_key=self._data_key(run, state),
                    created_at=_iso(t.datetime_start, a.prior.created_at if a.prior else None),
                    ended_at=_iso(t.datetime_complete, a.prior.ended_at if a.prior else None),
                    rerun_of=links.rerun_of.get(run.run_id),
                    rerun_by=links.rerun_by.get(run.run_id),
                    prior=a.prior.sweep if a.prior else None,
                )
            )
        return out

    def _data_key(self, run: RunClaim, state: RunState) -> Optional[str]:
        """Changes whenever the run's log may have (its size and time); None: no log (yet)."""
        try:
            f = self._run_file(run.run_id, run.run_dir)
            if f is None:
                return None
            st = f.stat()
            return f"{state}:{st.st_size}:{st.st_mtime_ns}"
        except OSError:  # a run dir removed under us: its data cannot be cached
            self._run_files.pop(run.run_id, None)
            return None

    def _run_file(self, run_id: str, run_dir: str) -> Optional[Path]:
        """The run's `.wandb` log, looked up once (it does not move)."""
        if run_id not in self._run_files:
            f = runlog.find_run_file(run_dir)
            if f is None:
                return None
            self._run_files[run_id] = f
        return self._run_files[run_id]

    def linked_run_ids(self) -> list[str]:
        """Runs whose trial had WANDB_SWEEP_ID set (W&B will not accept them on upload)."""
        runs = [RunClaim.from_attrs(t.user_attrs) for t in self.study.get_trials(deepcopy=False)]
        return [r.run_id for r in runs if r and r.linked]

    # -- claiming ---------------------------------------------------------------------------
    def stop_reason(self, live: Optional[tuple[int, int]] = None) -> Optional[str]:
        """Why no new trial may be handed out (target reached, run_cap, the method exhausted). `live`:
        the (waiting, running) counts, if the caller has them."""
        return self._limit_reason() or self.method.exhausted(lambda: live_counts(self.study) if live is None else live)

    def _limit_reason(self) -> Optional[str]:
        """A reached target or run_cap. Only these need every trial: a claim reads no more than it
        must (on PostgreSQL every read is a query)."""
        if self.metric.get("target") is None and not self.config.get("run_cap"):
            return None
        trials = [(t, TrialAttrs.from_attrs(t.user_attrs)) for t in self.study.get_trials(deepcopy=False)]
        reached_by = target_reached(self.metric, trials)
        if reached_by:
            return reached_by
        cap = self.config.get("run_cap")
        if cap and slots_used(trials) >= cap:
            return f"run_cap {cap} reached"
        return None

    def claim(self, lease_s: float, link: bool = True) -> Claim | str:
        """A trial to run; or a string: why the sweep has nothing for us ("wait:" = try again later).

        The claim lock serialises what must not race: reaping dead agents' runs (two agents must not
        both requeue a point), counting against run_cap, and a method's sampling (the next agent then
        sees this one's trial). A method that pops queued trials takes them without it. The sweep's
        record is read again every RELOAD_EVERY_S and before an agent is told to wait or stop, so an
        extension (a new config) or a state a person set reaches every running agent; the first claim
        after a trial always reads it (one small read per trial), so no trial starts after a pause or
        a stop was recorded. A store that
        does not answer is retried up to the lease (a claim cut short meanwhile is reaped, its point
        queued again); one that is full is waited for."""
        return self.retry("claim", lambda: self._fresh_claim(lease_s, link), budget_s=lease_s, wait_when_full=True)

    def _fresh_claim(self, lease_s: float, link: bool) -> Claim | str:
        fresh = time.monotonic() - self._reloaded_at >= RELOAD_EVERY_S
        if fresh:
            self.reload()
        got = self._claim(lease_s, link)
        if isinstance(got, str) and not fresh:
            self.reload()  # before an agent waits or leaves: was the sweep extended meanwhile?
            got = self._claim(lease_s, link)
        return got

    def _claim(self, lease_s: float, link: bool) -> Claim | str:
        said = claim_answer(self.meta.control)  # paused: wait; stopped, cancelled: leave
        if said:
            return said
        looked = time.monotonic() >= self._next_reap and self._reap(lease_s) is not None
        got = self._take(lease_s, link)
        # Before an agent waits, it looks for lost runs whatever its schedule: at a sweep's end a lost
        # run's point may be all that is left, and a wait lasts up to five seconds.
        if isinstance(got, str) and got.startswith(WAIT) and not looked and self._reap(lease_s):
            got = self._take(lease_s, link)
        return got

    def _reap(self, lease_s: float) -> Optional[list[int]]:
        """Requeue dead agents' runs (their numbers); None if another agent is looking right now."""
        reaped = None
        with claim_lock(self.storage, self.sweep_id, wait=False) as mine:
            if mine:  # else another agent is reaping right now: no need to queue behind it
                reaped = reap_stale(self.study, requeue=self.method.requeues, retry=self.retry)
        self._next_reap = time.monotonic() + max(REAP_EVERY_S, lease_s / 4)
        return reaped

    def _take(self, lease_s: float, link: bool) -> Claim | str:
        method = self.method
        serial = bool(self.config.get("run_cap")) or method.claims_under_lock
        with claim_lock(self.storage, self.sweep_id) if serial else contextlib.nullcontext():
            why = self._limit_reason()  # the method's own end shows in its next trial
            if why:
                return why
            got = method.next_trial(self.study)
            return got if isinstance(got, str) else self._start(got, lease_s, link)

    def _start(self, trial: optuna.Trial, lease_s: float, link: bool) -> Claim:
        run_id = new_id()
        run = RunClaim(
            run_id=run_id,
            run_dir=str((sweep_dir(self.sweep_id) / "runs" / run_id).resolve()),
            params=self.method.params(trial),
            lease_s=lease_s,
            host=socket.gethostname(),
            pid=os.getpid(),
            linked=link,
            at=time.time(),
        )
        # one attr, one write: every journal write costs a lock, an append, an fsync and a replay;
        # retried here, not by claiming again: the trial is ours already
        for key, value in run.to_attrs().items():
            write = functools.partial(trial.set_user_attr, key, value)  # its start is its first beat
            self.retry("claim", write, wait_when_full=True)
        return Claim(trial, run)

    # -- while it runs ----------------------------------------------------------------------
    def report(self, trial: optuna.Trial, step: int, value: float) -> Optional[str]:
        """Tell the stopper the trial's `step`-th value (from 0); a reason back means: stop it now, pruned."""
        trial.report(value, step)
        pruner = self.study.pruner
        if not isinstance(pruner, WandbHyperbandPruner):
            return None
        v = pruner.verdict(self.study, frozen(trial))
        if v is None or not v.stop:
            return None
        judged = f"its value {v.value:g} at band {v.band}" if pruner.strict else f"its best so far {v.value:g}"
        return (
            f"hyperband: {self.metric['name']}: {judged} (logged {step + 1} times) is worse than "
            f"the band's cut {v.cut:g}"
        )

    # -- finishing --------------------------------------------------------------------------
    def finish(
        self, claim: Claim, spec: TrialSpec, ended: TrialOutcome
    ) -> tuple[RunState, Optional[float], Optional[str]]:
        """Record the ended trial: (state, value, reason)."""
        study, trial = self.study, claim.trial
        info, log_reason, incomplete = final_info(spec, ended)
        metric = self.metric.get("name")
        state, value, reason = outcome(
            metric=metric,
            exit_code=ended.exit_code,
            stopped=ended.stopped,
            run_info=info,
            log_reason=log_reason,
            run_log=runlog.find_run_file(spec.run_dir) is not None,
        )
        if incomplete:
            reason = f"{reason}; {incomplete}" if reason else incomplete
        summary: dict[str, Any] = info.get("summary") or {}
        history = lambda: metric_history(claim.trial, spec.run_dir, metric) if metric else []
        seen = EndedTrial(state, value, summary, history=history, ended_extremes=self._ended_extremes)
        # A preempted run teaches the sampler nothing (no imputed value): its point runs again.
        lesson = Lesson(state=TrialState.FAIL) if state == RunState.PREEMPTED else self.method.lesson(seen)
        run_config = {k: v for k, v in (info.get("config") or {}).items() if k != "_wandb"}
        result = Result(
            state,
            reason=reason,
            value=value,
            runtime=round(ended.runtime_s, 3),
            exit_code=ended.exit_code,
            summary=jsonable(summary) or ({metric: value} if metric else {}),
            config=jsonable(run_config) or spec.params,
            extremes=lesson.extremes,
            imputed=lesson.imputed,
            has_imputed=lesson.has_imputed,
        )
        # Whatever the method, a preempted point runs again, with the same params.
        requeue = state == RunState.PREEMPTED or (
            self.method.requeues and (state == RunState.KILLED or is_disk_full(state, reason))
        )
        fixed = dict(trial.params)  # Optuna's own params, read before the trial ends
        self._reloaded_at = float("-inf")  # the next claim reads the record: a pause or stop made meanwhile holds
        if not record_end(self.study, trial, Ended(result, requeued=requeue), lesson, self.retry):
            return (
                RunState.CRASHED,
                value,
                "another agent declared this run lost (heartbeat timeout); its result was not recorded",
            )
        if requeue:
            queue_again(study, self.retry, trial.number, spec.params, fixed=fixed)
        return state, value, reason

    def _ended_extremes(self) -> list[Optional[list[float]]]:
        """[min, max] of the metric of every ended trial (what W&B's `worst` imputation draws on)."""
        trials = self.study.get_trials(deepcopy=False)
        ended = [Result.from_attrs(t.user_attrs) for t in trials if t.state.is_finished()]
        return [r.extremes if r else None for r in ended]


def _iso(when: Optional[datetime], recorded: Optional[str]) -> Optional[str]:
    """A time as the record shows it: the one recorded with the run (a prior run's), else the trial's."""
    return recorded or (when.isoformat(timespec="seconds") if when else None)


def _counts(trials: list[optuna.trial.FrozenTrial]) -> tuple[int, int]:
    """(waiting, running) among trials already read."""
    return sum(t.state == TrialState.WAITING for t in trials), sum(t.state == TrialState.RUNNING for t in trials)
