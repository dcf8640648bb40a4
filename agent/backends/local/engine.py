"""One local sweep in Optuna: hands out trials and records how they ended.

- grid: every point is enqueued at creation; agents claim them with `ask()` under the sweep's
  claim lock, so each point runs exactly once whatever the number of agents.
- random: `sample_random` with a generator seeded by (sweep id, trial number): reproducible.
- bayes: Optuna's GPSampler, a Gaussian process as W&B's bayes fits one; trials still running in
  other agents enter its batch acquisition (qLogEI), so concurrent agents do not propose the same
  point. It beat TPE on every objective of benchmarks/search_quality.py.
- hyperband: `WandbHyperbandPruner` (W&B's rule), fed the trial's logged metric.

Optuna holds sweep state; the run dirs hold run data (each trial's offline `.wandb` log).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import warnings
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Optional

import numpy as np
import optuna
import yaml
from optuna.trial import TrialState

from agent import runlog
from agent.backends.base import (
    CRASHED,
    FINISHED,
    KILLED,
    PRUNED,
    RUNNING,
    BackendError,
    RunRecord,
    SweepInfo,
    TrialOutcome,
    TrialSpec,
)
from agent.backends.local.hyperband import WandbHyperbandPruner
from agent.backends.local.leases import is_stale, reap_stale
from agent.backends.local.queue import live_counts, pop_waiting
from agent.backends.local.results import extremes, jsonable, learned_value
from agent.backends.local.space import suggest
from agent.backends.local.store import batched_writes, claim_lock, mask_url, new_id, open_storage, sweep_dir
from agent.backends.outcome import is_disk_full, outcome
from agent.paths import write_atomic
from agent.sweep_config import grid_points, hyperband_rungs, sample_random
from agent.sweep_config.metric import finite, reached

optuna.logging.set_verbosity(optuna.logging.WARNING)

_OPTUNA_STATE = {FINISHED: TrialState.COMPLETE, PRUNED: TrialState.PRUNED}
EXIT_WAIT_S = 30.0  # how long a run's log may take to get its exit record after the trial ended
REAP_EVERY_S = 1.0  # how often one agent looks for dead agents' runs (a claim costs less without the scan)


@dataclass
class Claim:
    trial: optuna.Trial
    run: dict  # the `sk_run` attr: params, run_id, run_dir, lease_s, host, pid, linked


def _pruner(config: dict) -> optuna.pruners.BasePruner:
    et = config.get("early_terminate") or {}
    if et.get("type") != "hyperband":
        return optuna.pruners.NopPruner()
    return WandbHyperbandPruner(hyperband_rungs(et), et.get("eta", 3), et.get("strict", True))


# W&B's bayes samples at random until 2 runs have finished, then fits its GP.
BAYES_STARTUP_TRIALS = 2


def _sampler(config: dict, sweep_id: str) -> optuna.samplers.BaseSampler:
    if config.get("method") == "bayes":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.GPSampler(n_startup_trials=BAYES_STARTUP_TRIALS, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=zlib.crc32(sweep_id.encode()))


class Engine:
    def __init__(self, sweep_id: str, storage_url: Optional[str] = None):
        self.sweep_id, self.storage_url = sweep_id, storage_url
        storage = open_storage(sweep_id, storage_url)
        try:
            self.study = optuna.load_study(study_name=sweep_id, storage=storage)
        except KeyError:
            where = mask_url(storage_url) if storage_url else str(sweep_dir(sweep_id))
            raise BackendError(f"no sweep {sweep_id!r} in {where}; list them with `sweepkit sweeps`") from None
        self.config: dict = self.study.user_attrs.get("sk_config") or {}
        self.metric: dict = self.config.get("metric") or {}
        self.study.pruner = _pruner(self.config)
        self.study.sampler = _sampler(self.config, sweep_id)
        self._run_files: dict = {}
        self._reaped_at = -math.inf

    @staticmethod
    def create(config: dict, storage_url: Optional[str], project: Optional[str]) -> str:
        sweep_id = new_id()
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
        study.set_user_attr("sk_config", config)
        study.set_user_attr("sk_created", datetime.now(UTC).isoformat(timespec="seconds"))
        study.set_user_attr("sk_project", project or config.get("project"))
        if config.get("method") == "grid":
            for point in grid_points(config.get("parameters") or {}):
                study.enqueue_trial({}, user_attrs={"sk_params": point})
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
            state="finished" if self.stop_reason(_counts(trials)) else "running",
            name=self.config.get("name") or "",
            created_at=self.study.user_attrs.get("sk_created"),
            path=mask_url(self.storage_url) if self.storage_url else str(sweep_dir(self.sweep_id)),
        )

    def records(self) -> list[RunRecord]:
        now = time.time()
        out = []
        for t in self.study.get_trials(deepcopy=False):
            a = t.user_attrs
            run, res = a.get("sk_run"), a.get("sk_result") or {}
            if t.state == TrialState.WAITING or not run:
                continue
            state = res.get("state") or (CRASHED if is_stale(t, now) else RUNNING)
            summary = res.get("summary") or {}
            if state == RUNNING and not summary:
                summary = _live_summary(run["run_dir"])
            data_key = None
            try:
                f = self._run_file(run["run_id"], run["run_dir"])
                if f is not None:
                    st = f.stat()
                    data_key = f"{state}:{st.st_size}:{st.st_mtime_ns}"
            except OSError:  # a run dir removed under us: its data cannot be cached
                self._run_files.pop(run["run_id"], None)
            out.append(
                RunRecord(
                    id=run["run_id"],
                    state=state,
                    config=res.get("config") or run.get("params") or {},
                    summary=summary,
                    name=run["run_id"],
                    runtime_s=res.get("runtime"),
                    reason=res.get("reason"),
                    run_dir=run["run_dir"],
                    data_key=data_key,
                    created_at=t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
                    ended_at=t.datetime_complete.isoformat(timespec="seconds") if t.datetime_complete else None,
                )
            )
        return out

    def _run_file(self, run_id: str, run_dir: str):
        """The run's `.wandb` log, looked up once (it does not move)."""
        if run_id not in self._run_files:
            f = runlog.find_run_file(run_dir)
            if f is None:
                return None
            self._run_files[run_id] = f
        return self._run_files[run_id]

    def linked_run_ids(self) -> list[str]:
        """Runs whose trial had WANDB_SWEEP_ID set (W&B will not accept them on upload)."""
        runs = [t.user_attrs.get("sk_run") for t in self.study.get_trials(deepcopy=False)]
        return [r["run_id"] for r in runs if r and r.get("linked", True)]

    # -- claiming ---------------------------------------------------------------------------
    def stop_reason(self, live: Optional[tuple[int, int]] = None) -> Optional[str]:
        """Why no new trial may be handed out (target reached, run_cap, grid exhausted). `live`: the
        (waiting, running) counts, if the caller has them. Only a target or a cap needs every trial:
        a claim reads no more than it must (on PostgreSQL every read is a query)."""
        if self.metric.get("target") is not None or self.config.get("run_cap"):
            trials = self.study.get_trials(deepcopy=False)
            for t in trials:
                if t.state == TrialState.COMPLETE and reached(
                    self.metric, (t.user_attrs.get("sk_result") or {}).get("value")
                ):
                    return f"metric.target {self.metric['target']} reached by run {t.user_attrs['sk_run']['run_id']}"
            used = sum(1 for t in trials if t.state != TrialState.WAITING and not t.user_attrs.get("sk_requeued"))
            cap = self.config.get("run_cap")
            if cap and used >= cap:
                return f"run_cap {cap} reached"
        if self.config.get("method") == "grid" and not any(live_counts(self.study) if live is None else live):
            return "grid exhausted: every point has run"
        return None

    def claim(self, lease_s: float, link: bool = True) -> Claim | str:
        """A trial to run; or a string: why the sweep has nothing for us ("wait:" = try again later).

        The claim lock serialises what must not race: reaping dead agents' runs (two agents must not
        both requeue a point), counting against run_cap, and sampling. A grid point is popped
        without it: the store's own state change hands each point to exactly one agent."""
        study, config = self.study, self.config
        grid = config.get("method") == "grid"
        if time.monotonic() - self._reaped_at >= REAP_EVERY_S:
            with claim_lock(study._storage, self.sweep_id, wait=False) as mine:
                if mine:  # else another agent is reaping right now: no need to queue behind it
                    reap_stale(study, requeue=grid)
            self._reaped_at = time.monotonic()
        # bayes and random sample under the lock too: the next agent then sees this one's trial
        serial = bool(config.get("run_cap")) or not grid
        with claim_lock(study._storage, self.sweep_id) if serial else contextlib.nullcontext():
            # a grid with points left needs no count: the pop is the check
            why = self.stop_reason((1, 0)) if grid else self.stop_reason()
            if why:
                return why
            if not grid:
                return self._start(study.ask(), lease_s, link)
            trial = pop_waiting(study)
            if trial is not None:
                return self._start(trial, lease_s, link)
            waiting, running = live_counts(study)
            if not waiting and not running:
                return "grid exhausted: every point has run"
            return f"wait: {running} grid point(s) still running in other agents"

    def _start(self, trial: optuna.Trial, lease_s: float, link: bool) -> Claim:
        config = self.config
        grid = config.get("method") == "grid"
        params = config.get("parameters") or {}
        if grid:
            point = trial.user_attrs.get("sk_params", {})
        elif config.get("method") == "bayes":
            point = suggest(trial, params)
        else:
            rng = np.random.default_rng([zlib.crc32(self.sweep_id.encode()), trial.number])
            point = sample_random(params, rng)
        run_id = new_id()
        # one attr, one write: every journal write costs a lock, an append, an fsync and a replay
        run = {
            "params": point,
            "run_id": run_id,
            "lease_s": lease_s,
            "linked": link,
            "run_dir": str((sweep_dir(self.sweep_id) / "runs" / run_id).resolve()),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        trial.set_user_attr("sk_run", run)  # its start time is its first heartbeat
        return Claim(trial, run)

    # -- while it runs ----------------------------------------------------------------------
    def report(self, trial: optuna.Trial, step: int, value: float) -> Optional[str]:
        """Tell the pruner the trial's `step`-th value (from 0); a reason back means: stop it now, pruned."""
        trial.report(value, step)
        pruner = self.study.pruner
        if not isinstance(pruner, WandbHyperbandPruner):
            return None
        v = pruner.verdict(self.study, self.study._storage.get_trial(trial._trial_id))
        if v is None or not v.stop:
            return None
        judged = f"its value {v.value:g} at band {v.band}" if pruner.strict else f"its best so far {v.value:g}"
        return (
            f"hyperband: {self.metric['name']}: {judged} (logged {step + 1} times) is worse than "
            f"the band's cut {v.cut:g}"
        )

    # -- finishing --------------------------------------------------------------------------
    def finish(self, claim: Claim, spec: TrialSpec, ended: TrialOutcome) -> tuple[str, Optional[float], Optional[str]]:
        """Record the ended trial: (state, value, reason)."""
        study, config, trial = self.study, self.config, claim.trial
        info: dict = {"summary": dict(ended.summary or {})}
        log_reason = ended.reason
        incomplete = None
        run_file = runlog.find_run_file(spec.run_dir)
        if run_file is not None:
            try:
                wait = EXIT_WAIT_S if ended.log_complete else 0
                read, complete = runlog.read_final_summary(spec.run_dir, wait_s=wait)
                info = {**read, "summary": {**(read.get("summary") or {}), **info["summary"]}}
                if ended.log_complete and not complete:
                    incomplete = (
                        f"wandb had not finished writing {run_file.name} {EXIT_WAIT_S:g} s after "
                        "the trial ended (no exit record): its summary may be incomplete"
                    )
            except (runlog.RunReadError, OSError, ValueError) as exc:
                log_reason = log_reason or f"unreadable run log: {exc}"
        metric = self.metric.get("name")
        state, value, reason = outcome(
            metric=metric, exit_code=ended.exit_code, stopped=ended.stopped, run_info=info, log_reason=log_reason
        )
        if incomplete:
            reason = f"{reason}; {incomplete}" if reason else incomplete
        run_config = {k: v for k, v in (info.get("config") or {}).items() if k != "_wandb"}
        attrs = {
            "sk_result": {
                "state": state,
                "reason": reason,
                "runtime": round(ended.runtime_s, 3),
                "value": value,
                "exit_code": ended.exit_code,
                "summary": jsonable(info.get("summary") or {}) or {metric: value},
                "config": jsonable(run_config) or spec.params,
            }
        }
        requeue = (state == KILLED or is_disk_full(state, reason)) and config.get("method") == "grid"
        if requeue:
            attrs["sk_requeued"] = True
        learned, imputed = None, False
        if metric and config.get("method") == "bayes":
            history = self._metric_history(claim, spec, metric)
            own = extremes(history + [info["summary"].get(metric)])
            attrs["sk_result"]["extremes"] = own
            # A pruned run learns as a finished one does: its best value so far.
            as_state = FINISHED if state == PRUNED else state
            learned, imputed = learned_value(self.metric, as_state, history, own, [*self._ended_extremes(), own])
            if imputed or as_state != FINISHED:
                attrs["sk_result"]["imputed"] = learned if imputed else None
        try:
            with batched_writes(study._storage):  # the result and the state: one journal append
                for key, v in attrs.items():
                    trial.set_user_attr(key, v)
                if learned is not None:
                    study.tell(trial, learned)  # W&B's bayes: a run's best value, or one imputed; it keeps its state
                elif config.get("method") == "bayes" and metric:
                    study.tell(trial, state=TrialState.FAIL)  # nothing to learn from yet
                elif state == FINISHED and (value is not None or not metric):
                    study.tell(trial, 0.0 if value is None else value)  # no metric: samplers ignore it
                elif state == FINISHED:
                    study.tell(trial, state=TrialState.FAIL)  # ran fine, but nothing for the sampler to learn
                else:
                    study.tell(trial, state=_OPTUNA_STATE.get(state, TrialState.FAIL))
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):  # ValueError: tell on a FAIL
            return (
                CRASHED,
                value,
                "another agent declared this run lost (heartbeat timeout); its result was not recorded",
            )
        if requeue:
            study.enqueue_trial({}, user_attrs={"sk_params": spec.params, "sk_requeue_of": trial.number})
        return state, value, reason

    def _ended_extremes(self) -> list[Optional[list[float]]]:
        """[min, max] of the metric of every ended trial (what W&B's `worst` imputation draws on)."""
        return [
            (t.user_attrs.get("sk_result") or {}).get("extremes")
            for t in self.study.get_trials(deepcopy=False)
            if t.state.is_finished()
        ]

    @staticmethod
    def _metric_history(claim: Claim, spec: TrialSpec, metric: str) -> list[float]:
        """The trial's finite logged values of the metric: what the pruner was fed, else its run's log."""
        fed = claim.trial.study._storage.get_trial(claim.trial._trial_id).intermediate_values
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


def _live_summary(run_dir: Optional[str]) -> dict:
    if not run_dir:
        return {}
    try:
        return runlog.read_summary(run_dir, timeout=10).get("summary") or {}
    except Exception:  # a running trial's log may be mid-write: no live value is not an error
        return {}
