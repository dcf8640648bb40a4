"""One local sweep in Optuna: hands out trials and records how they ended.

The engine never asks which search method it runs: `methods/` holds one module per method (how a
sweep is set up, how a trial is taken, its params, what the sampler learns) and `hyperband.py` the
stopper `early_terminate` chooses. `schema.py` declares what the store keeps beside Optuna's own
fields. Optuna holds sweep state; the run dirs hold run data (each trial's offline `.wandb` log).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

import optuna
import yaml
from optuna.trial import TrialState

from agent import runlog
from agent.backends.base import BackendError, RunRecord, SweepInfo, SweepState, TrialOutcome, TrialSpec
from agent.backends.local.hyperband import WandbHyperbandPruner, stopper
from agent.backends.local.leases import heartbeat_timeout, is_stale, reap_stale
from agent.backends.local.methods import EndedTrial, Lesson, method_for
from agent.backends.local.optuna_internals import frozen, storage_of, trial_id_of
from agent.backends.local.queue import live_counts, queue_again
from agent.backends.local.results import jsonable
from agent.backends.local.retry import StoreRetry
from agent.backends.local.schema import Ended, Result, RunClaim, SweepAttrs, TrialAttrs
from agent.backends.local.store import batched_writes, claim_lock, mask_url, new_id, open_storage, sweep_dir
from agent.backends.outcome import is_disk_full, outcome
from agent.backends.stopping import is_preemption
from agent.paths import write_atomic
from agent.states import RunState
from agent.sweep_config.metric import finite, reached

optuna.logging.set_verbosity(optuna.logging.WARNING)

EXIT_WAIT_S = 30.0  # how long a run's log may take to get its exit record after the trial ended
# How often one agent looks for dead agents' runs: every second, or a quarter of its lease if longer
# (64 agents each scanning every second cost the store more than their claims; a lost run is still
# found within a quarter lease of its own lease lapsing, and sooner when several agents look).
REAP_EVERY_S = 1.0


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
        self.meta = SweepAttrs.from_attrs(self.study.user_attrs, sweep_id=sweep_id)
        self.config: dict[str, Any] = self.meta.config
        self.metric: dict[str, Any] = self.config.get("metric") or {}
        self.method = method_for(self.config, sweep_id)
        self.study.pruner = stopper(self.config)
        self.study.sampler = self.method.sampler()
        self._run_files: dict[str, Path] = {}
        # An agent's first look comes within its first second, at random: agents an array starts
        # together do not all scan at their first claim.
        self._next_reap = time.monotonic() + random.uniform(0, REAP_EVERY_S)
        # A store that stops answering is retried up to the lease (the agent loop sets its own lease
        # and where the notes go); what is not retried is the store's own answer.
        where = f"the sweep store {mask_url(storage_url)}" if storage_url else f"the journal of sweep {sweep_id}"
        self.retry = StoreRetry(heartbeat_timeout(), where=where)

    @staticmethod
    def create(config: dict[str, Any], storage_url: Optional[str], project: Optional[str]) -> str:
        sweep_id = new_id()
        method = method_for(config, sweep_id)
        d = sweep_dir(sweep_id)
        d.mkdir(parents=True, exist_ok=False)
        write_atomic(d / "sweep.yaml", yaml.safe_dump(config, sort_keys=False))
        if storage_url:
            write_atomic(d / "storage.txt", mask_url(storage_url) + "\n")
        storage = open_storage(sweep_id, storage_url, create=True)
        goal = (config.get("metric") or {}).get("goal", "minimize")
        study = optuna.create_study(
            storage=storage, study_name=sweep_id, direction="maximize" if goal == "maximize" else "minimize"
        )
        meta = SweepAttrs(
            config, created=datetime.now(UTC).isoformat(timespec="seconds"), project=project or config.get("project")
        )
        with batched_writes(storage_of(study)):  # the sweep's record: one journal append
            for key, value in meta.to_attrs().items():
                study.set_user_attr(key, value)
        method.setup(study)
        return sweep_id

    @property
    def prunes(self) -> bool:
        return isinstance(self.study.pruner, WandbHyperbandPruner) and bool(self.metric.get("name"))

    # -- reading ----------------------------------------------------------------------------
    def info(self) -> SweepInfo:
        trials = self.study.get_trials(deepcopy=False)
        return SweepInfo(
            id=self.sweep_id,
            backend="local",
            config=self.config,
            state=SweepState.FINISHED if self.stop_reason(_counts(trials)) else SweepState.RUNNING,
            name=self.config.get("name") or "",
            created_at=self.meta.created,
            path=mask_url(self.storage_url) if self.storage_url else str(sweep_dir(self.sweep_id)),
        )

    def records(self) -> list[RunRecord]:
        """Every run, from the store and plain file stats: no reader process per run. A running run's
        summary is what its agent last wrote with its heartbeat."""
        now = time.time()
        out = []
        for t in self.study.get_trials(deepcopy=False):
            a = TrialAttrs.from_attrs(t.user_attrs)
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
                    created_at=t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
                    ended_at=t.datetime_complete.isoformat(timespec="seconds") if t.datetime_complete else None,
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
        for t, a in trials:
            if t.state == TrialState.COMPLETE and a.result and reached(self.metric, a.result.value):
                by = a.run.run_id if a.run else str(t.number)
                return f"metric.target {self.metric['target']} reached by run {by}"
        used = sum(1 for t, a in trials if t.state != TrialState.WAITING and not a.requeued)
        cap = self.config.get("run_cap")
        if cap and used >= cap:
            return f"run_cap {cap} reached"
        return None

    def claim(self, lease_s: float, link: bool = True) -> Claim | str:
        """A trial to run; or a string: why the sweep has nothing for us ("wait:" = try again later).

        The claim lock serialises what must not race: reaping dead agents' runs (two agents must not
        both requeue a point), counting against run_cap, and a method's sampling (the next agent then
        sees this one's trial). A method that pops queued trials takes them without it. A store that
        does not answer is retried up to the lease (a claim cut short meanwhile is reaped, its point
        queued again); one that is full is waited for."""
        return self.retry("claim", lambda: self._claim(lease_s, link), budget_s=lease_s, wait_when_full=True)

    def _claim(self, lease_s: float, link: bool) -> Claim | str:
        method = self.method
        if time.monotonic() >= self._next_reap:
            with claim_lock(self.storage, self.sweep_id, wait=False) as mine:
                if mine:  # else another agent is reaping right now: no need to queue behind it
                    reap_stale(self.study, requeue=method.requeues, retry=self.retry)
            self._next_reap = time.monotonic() + max(REAP_EVERY_S, lease_s / 4)
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
        info, log_reason, incomplete = self._final_info(spec, ended)
        metric = self.metric.get("name")
        state, value, reason = outcome(
            metric=metric, exit_code=ended.exit_code, stopped=ended.stopped, run_info=info, log_reason=log_reason
        )
        if incomplete:
            reason = f"{reason}; {incomplete}" if reason else incomplete
        summary: dict[str, Any] = info.get("summary") or {}
        history = lambda: self._metric_history(claim, spec, metric) if metric else []
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
        if not self._record(trial, Ended(result, requeued=requeue), lesson):
            return (
                RunState.CRASHED,
                value,
                "another agent declared this run lost (heartbeat timeout); its result was not recorded",
            )
        if requeue:
            queue_again(study, self.retry, trial.number, spec.params, fixed=fixed)
        return state, value, reason

    def _record(self, trial: optuna.Trial, ended: Ended, lesson: Lesson) -> bool:
        """Write how the trial ended and end it; False if another agent had ended it (declared it
        lost). Retried while the store does not answer; a retry that finds the trial ended with this
        very result knows its earlier write went through unseen."""
        tries = 0

        def write() -> bool:
            nonlocal tries
            tries += 1
            try:
                with batched_writes(self.storage):  # the result and the state: one journal append
                    for key, v in ended.to_attrs().items():
                        trial.set_user_attr(key, v)
                    if lesson.state == TrialState.COMPLETE:
                        self.study.tell(trial, lesson.value)
                    else:
                        self.study.tell(trial, state=lesson.state)
            except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):  # ValueError: tell on a FAIL
                return tries > 1 and self._recorded_as(trial, ended.result)
            return True

        return self.retry("record the result", write)

    def _recorded_as(self, trial: optuna.Trial, result: Result) -> bool:
        stored = self.storage.get_trial(trial_id_of(trial))
        mine = Result.from_attrs(stored.user_attrs)
        return (
            stored.state.is_finished()
            and mine is not None
            and (mine.state, mine.runtime)
            == (
                result.state,
                result.runtime,
            )
        )

    @staticmethod
    def _final_info(spec: TrialSpec, ended: TrialOutcome) -> tuple[dict[str, Any], Optional[str], Optional[str]]:
        """(the run's final info: summary, config...; the reason its log gave, if unreadable; why its
        summary may be incomplete). The runner's own summary wins over the log's."""
        info: dict[str, Any] = {"summary": dict(ended.summary or {})}
        log_reason, incomplete = ended.reason, None
        run_file = runlog.find_run_file(spec.run_dir)
        if run_file is None:
            return info, log_reason, None
        try:
            # a preempted agent has seconds before the scheduler's SIGKILL: it never waits for the log
            wait = EXIT_WAIT_S if ended.log_complete and not is_preemption(ended.stopped) else 0
            read, complete = runlog.read_final_summary(spec.run_dir, wait_s=wait)
            info = {**read, "summary": {**(read.get("summary") or {}), **info["summary"]}}
            if ended.log_complete and not complete:
                incomplete = (
                    f"wandb had not finished writing {run_file.name} {EXIT_WAIT_S:g} s after "
                    "the trial ended (no exit record): its summary may be incomplete"
                )
        except (runlog.RunReadError, OSError, ValueError) as exc:
            log_reason = log_reason or f"unreadable run log: {exc}"
        return info, log_reason, incomplete

    def _ended_extremes(self) -> list[Optional[list[float]]]:
        """[min, max] of the metric of every ended trial (what W&B's `worst` imputation draws on)."""
        trials = self.study.get_trials(deepcopy=False)
        ended = [Result.from_attrs(t.user_attrs) for t in trials if t.state.is_finished()]
        return [r.extremes if r else None for r in ended]

    @staticmethod
    def _metric_history(claim: Claim, spec: TrialSpec, metric: str) -> list[float]:
        """The trial's finite logged values of the metric: what the stopper was fed, else its run's log."""
        fed = frozen(claim.trial).intermediate_values
        if fed:
            return [fed[k] for k in sorted(fed)]
        if runlog.find_run_file(spec.run_dir) is None:
            return []
        try:
            rows = runlog.history_rows(spec.run_dir)
        except (runlog.RunReadError, OSError, ValueError):
            return []
        return [float(r[metric]) for r in rows if finite(r.get(metric))]


def _counts(trials: list[optuna.trial.FrozenTrial]) -> tuple[int, int]:
    """(waiting, running) among trials already read."""
    return sum(t.state == TrialState.WAITING for t in trials), sum(t.state == TrialState.RUNNING for t in trials)
