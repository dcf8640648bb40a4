"""The offline backend: Optuna holds sweep state, offline run dirs hold run data.

- grid: every point is enqueued at creation; agents claim them with `ask()` under the sweep's
  claim lock, so each point runs exactly once whatever the number of agents.
- random: `sample_random` with a generator seeded by (sweep id, trial number): reproducible.
- bayes: Optuna's TPESampler (multivariate, constant liar). W&B fits a GP; Optuna's GPSampler
  would import torch into every agent (seconds, hundreds of MB) and models W&B's categorical
  and nested spaces less naturally; TPE handles them, is cheap, and `constant_liar` keeps
  concurrent agents from proposing the same point.
- hyperband: `WandbHyperbandPruner` (W&B's exact rule), fed from the child's logged metric.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import warnings
import zlib
from datetime import datetime, timezone
from typing import Any, Optional

import numpy as np
import optuna
import yaml
from optuna.trial import TrialState

from agent.backends.base import (CRASHED, FAILED, FINISHED, KILLED, PRUNED, RUNNING, Backend,
                                 BackendError, RunRecord, SweepInfo, TrialFunction, TrialSpec)
from agent.backends.hyperband import WandbHyperbandPruner
from agent.backends.results import impute, jsonable, outcome, reached
from agent.backends.local_store import (Heartbeat, claim_lock, heartbeat_timeout, home, is_stale,
                                        mask_url, new_id, open_storage, reap_stale, sweep_dir)

optuna.logging.set_verbosity(optuna.logging.WARNING)

_OPTUNA_STATE = {FINISHED: TrialState.COMPLETE, PRUNED: TrialState.PRUNED}
EXIT_WAIT_S = 30.0   # how long a run's log may take to get its exit record after the trial ended


def max_failures_default() -> int:
    return int(os.environ.get("WANDB_AGENT_MAX_INITIAL_FAILURES") or 5)


def _told_values(study: optuna.Study) -> list[float]:
    """Real (not imputed) metric values of the sweep's finished trials."""
    return [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and (t.user_attrs.get("sk_result") or {}).get("imputed") is None
            and (t.user_attrs.get("sk_result") or {}).get("value") is not None]


def _wandb_run_open() -> bool:
    """An in-process trial that left its wandb run open: its log gets no exit record to wait for."""
    wandb = sys.modules.get("wandb")
    return getattr(wandb, "run", None) is not None


class LocalBackend(Backend):
    name = "local"

    def __init__(self, storage: Optional[str] = None):
        self.storage_url = storage or os.environ.get("SWEEPKIT_STORAGE") or None
        self._interrupted = threading.Event()
        self._sigints = 0

    # -- sweeps -----------------------------------------------------------------------------
    def _load(self, sweep_id: str) -> tuple[optuna.Study, dict]:
        storage = open_storage(sweep_id, self.storage_url)
        try:
            study = optuna.load_study(study_name=sweep_id, storage=storage)
        except KeyError:
            where = mask_url(self.storage_url) if self.storage_url else str(sweep_dir(sweep_id))
            raise BackendError(f"no sweep {sweep_id!r} in {where}; list them with `sweepkit sweeps`") from None
        config = study.user_attrs.get("sk_config") or {}
        study.pruner = self._pruner(config)
        study.sampler = self._sampler(config, sweep_id)
        return study, config

    @staticmethod
    def _pruner(config: dict) -> optuna.pruners.BasePruner:
        et = config.get("early_terminate") or {}
        if et.get("type") != "hyperband":
            return optuna.pruners.NopPruner()
        from agent.sweep_config import hyperband_rungs
        return WandbHyperbandPruner(hyperband_rungs(et), et.get("eta", 3))

    @staticmethod
    def _sampler(config: dict, sweep_id: str) -> optuna.samplers.BaseSampler:
        if config.get("method") == "bayes":
            with warnings.catch_warnings():  # multivariate/group/constant_liar are "experimental"
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True,
                                                  n_startup_trials=5)
        return optuna.samplers.RandomSampler(seed=zlib.crc32(sweep_id.encode()))

    def create_sweep(self, config: dict, *, project: str | None = None, entity: str | None = None) -> str:
        from agent.sweep_config import grid_points
        sweep_id = new_id()
        d = sweep_dir(sweep_id)
        d.mkdir(parents=True, exist_ok=False)
        (d / "sweep.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        if self.storage_url:
            (d / "storage.txt").write_text(mask_url(self.storage_url) + "\n")
        storage = open_storage(sweep_id, self.storage_url, create=True)
        goal = (config.get("metric") or {}).get("goal", "minimize")
        study = optuna.create_study(storage=storage, study_name=sweep_id,
                                    direction="maximize" if goal == "maximize" else "minimize")
        study.set_user_attr("sk_config", config)
        study.set_user_attr("sk_created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        study.set_user_attr("sk_project", project or config.get("project"))
        if config.get("method") == "grid":
            for point in grid_points(config.get("parameters") or {}):
                study.enqueue_trial({}, user_attrs={"sk_params": point})
        return sweep_id

    def sweep(self, sweep_id: str) -> SweepInfo:
        study, config = self._load(sweep_id)
        trials = study.get_trials(deepcopy=False)
        return SweepInfo(id=sweep_id, backend=self.name, config=config,
                         state=self._stop_reason(study, config, trials) and "finished" or "running",
                         name=config.get("name") or "", created_at=study.user_attrs.get("sk_created"),
                         path=mask_url(self.storage_url) if self.storage_url else str(sweep_dir(sweep_id)))

    def list_sweeps(self) -> list[SweepInfo]:
        out = []
        for d in sorted((home() / "sweeps").glob("*/sweep.yaml"), key=lambda p: p.stat().st_mtime):
            try:
                out.append(self.sweep(d.parent.name))
            except BackendError:
                continue
        return out

    # -- runs -------------------------------------------------------------------------------
    def runs(self, sweep_id: str) -> list[RunRecord]:
        study, config = self._load(sweep_id)
        now = time.time()
        out = []
        for t in study.get_trials(deepcopy=False):
            a = t.user_attrs
            run, res = a.get("sk_run"), a.get("sk_result") or {}
            if t.state == TrialState.WAITING or not run:
                continue
            state = res.get("state") or (CRASHED if is_stale(t, now) else RUNNING)
            summary = res.get("summary") or {}
            if state == RUNNING and not summary:
                summary = self._live_summary(run["run_dir"])
            out.append(RunRecord(
                id=run["run_id"], state=state, config=res.get("config") or run.get("params") or {},
                summary=summary, name=run["run_id"], runtime_s=res.get("runtime"),
                reason=res.get("reason"), run_dir=run["run_dir"],
                created_at=t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None))
        return out

    def linked_run_ids(self, sweep_id: str) -> list[str]:
        """Runs whose trial had WANDB_SWEEP_ID set (W&B will not accept them on upload)."""
        study, _ = self._load(sweep_id)
        runs = [t.user_attrs.get("sk_run") for t in study.get_trials(deepcopy=False)]
        return [r["run_id"] for r in runs if r and r.get("linked", True)]

    @staticmethod
    def _live_summary(run_dir: Optional[str]) -> dict:
        from agent.runreader import RunReadError, read_summary
        if not run_dir:
            return {}
        try:
            return read_summary(run_dir, timeout=10).get("summary") or {}
        except (RunReadError, OSError, ValueError, Exception):
            return {}

    # -- claiming ---------------------------------------------------------------------------
    @staticmethod
    def _stop_reason(study: optuna.Study, config: dict, trials) -> Optional[str]:
        """Why no new trial may be handed out (target reached, run_cap, grid exhausted)."""
        metric = config.get("metric") or {}
        for t in trials:
            if t.state == TrialState.COMPLETE and reached(metric, (t.user_attrs.get("sk_result") or {}).get("value")):
                return f"metric.target {metric['target']} reached by run {t.user_attrs['sk_run']['run_id']}"
        used = sum(1 for t in trials if t.state != TrialState.WAITING and not t.user_attrs.get("sk_requeued"))
        cap = config.get("run_cap")
        if cap and used >= cap:
            return f"run_cap {cap} reached"
        if config.get("method") == "grid" and not any(
                t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials):
            return "grid exhausted: every point has run"
        return None

    def _claim(self, study: optuna.Study, config: dict, sweep_id: str, lease_s: float, link: bool = True):
        """A (trial, params) to run; or a string: why the sweep has nothing for us ("wait:" = later)."""
        from agent.sweep_config import sample_random, suggest
        grid = config.get("method") == "grid"
        with claim_lock(study._storage, sweep_id):
            reap_stale(study, requeue=grid)
            trials = study.get_trials(deepcopy=False)
            why = self._stop_reason(study, config, trials)
            if why:
                return why
            if grid and not any(t.state == TrialState.WAITING for t in trials):
                n = sum(t.state == TrialState.RUNNING for t in trials)
                return f"wait: {n} grid point(s) still running in other agents"
            trial = study.ask()
            params = config.get("parameters") or {}
            if grid:
                point = trial.user_attrs.get("sk_params", {})
            elif config.get("method") == "bayes":
                point = suggest(trial, params)
            else:
                rng = np.random.default_rng([zlib.crc32(sweep_id.encode()), trial.number])
                point = sample_random(params, rng)
            run_id = new_id()
            # one attr per write: every journal write costs a lock + append + replay (~4 ms)
            run = {"params": point, "run_id": run_id, "lease_s": lease_s, "linked": link,
                   "run_dir": str((sweep_dir(sweep_id) / "runs" / run_id).resolve()),
                   "host": socket.gethostname(), "pid": os.getpid()}
            trial.set_user_attr("sk_heartbeat", time.time())
            trial.set_user_attr("sk_run", run)
            return trial, run

    # -- finishing --------------------------------------------------------------------------
    def _finish(self, study: optuna.Study, config: dict, trial: optuna.Trial, spec: TrialSpec, *,
                exit_code: Optional[int], stopped: Optional[str], runtime: float,
                log_reason: Optional[str], summary: Optional[dict] = None,
                expect_exit: bool = True) -> tuple[str, Optional[float], Optional[str]]:
        """Record the ended trial. `expect_exit`: the run ended by itself, so its log will get an
        exit record (wait for it); False after a signal killed the writer (read what is there)."""
        from agent.runreader import RunReadError, find_run_file, read_final_summary
        info: dict = {"summary": dict(summary or {})}
        incomplete = None
        run_file = find_run_file(spec.run_dir)
        if run_file is not None:
            try:
                read, complete = read_final_summary(spec.run_dir, wait_s=EXIT_WAIT_S if expect_exit else 0)
                info = {**read, "summary": {**(read.get("summary") or {}), **info["summary"]}}
                if expect_exit and not complete:
                    incomplete = (f"wandb had not finished writing {run_file.name} {EXIT_WAIT_S:g} s after "
                                  "the trial ended (no exit record): its summary may be incomplete")
            except (RunReadError, OSError, ValueError) as exc:
                log_reason = log_reason or f"unreadable run log: {exc}"
        metric = (config.get("metric") or {}).get("name")
        state, value, reason = outcome(metric=metric, exit_code=exit_code, stopped=stopped,
                                       run_info=info, log_reason=log_reason)
        if incomplete:
            reason = f"{reason}; {incomplete}" if reason else incomplete
        run_config = {k: v for k, v in (info.get("config") or {}).items() if k != "_wandb"}
        attrs = {"sk_result": {"state": state, "reason": reason, "runtime": round(runtime, 3),
                               "value": value, "exit_code": exit_code,
                               "summary": jsonable(info.get("summary") or {}) or {metric: value},
                               "config": jsonable(run_config) or spec.params}}
        requeue = state == KILLED and config.get("method") == "grid"
        if requeue:
            attrs["sk_requeued"] = True
        imputed = None
        if state in (FAILED, CRASHED) and metric and config.get("method") == "bayes":
            imputed = impute(config["metric"], value, _told_values(study))
            attrs["sk_result"]["imputed"] = imputed
        try:
            for key, v in attrs.items():
                trial.set_user_attr(key, v)
            if imputed is not None:
                study.tell(trial, imputed)   # W&B's bayes imputes failed runs; the run stays "failed"
            elif state == FINISHED and (value is not None or not metric):
                study.tell(trial, 0.0 if value is None else value)   # no metric: samplers ignore it
            elif state == FINISHED:
                study.tell(trial, state=TrialState.FAIL)   # ran fine, but nothing for the sampler to learn
            else:
                study.tell(trial, state=_OPTUNA_STATE.get(state, TrialState.FAIL))
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            return CRASHED, value, "another agent declared this run lost (heartbeat timeout); its result was not recorded"
        if requeue:
            study.enqueue_trial({}, user_attrs={"sk_params": spec.params, "sk_requeue_of": trial.number})
        return state, value, reason

    # -- the agent loop ---------------------------------------------------------------------
    def run_agent(self, sweep_id: str, *, count: int | None = None, function: TrialFunction | None = None,
                  **options: Any) -> int:
        from agent.progress import AgentProgress
        study, config = self._load(sweep_id)
        lease_s = heartbeat_timeout(options.get("heartbeat_timeout"))
        max_fail = options.get("max_consecutive_failures") or max_failures_default()
        kill_delay = options.get("kill_delay")
        echo = bool(options.get("verbose"))
        link = options.get("link_sweep", True)
        metric = config.get("metric") or {}
        goal = metric.get("goal", "minimize")
        constants = frozenset(k for k, v in (config.get("parameters") or {}).items()
                              if isinstance(v, dict) and "value" in v)
        progress = options.get("progress") or AgentProgress(sweep_id, metric.get("name"), goal,
                                                            constants=constants)
        self._interrupted.clear()
        self._sigints = 0
        old = None
        if function is None and threading.current_thread() is threading.main_thread():
            old = signal.signal(signal.SIGINT, self._on_sigint)
        ran, fails, code, overheads = 0, 0, 0, []
        try:
            with progress:
                while count is None or ran < count:
                    if self._interrupted.is_set():
                        code = 130
                        break
                    t_claim = time.monotonic()
                    got = self._claim(study, config, sweep_id, lease_s, link)
                    if isinstance(got, str):
                        if got.startswith("wait:"):
                            progress.note(got[5:].strip())
                            self._interrupted.wait(min(5.0, lease_s / 4))
                            continue
                        progress.note(got)
                        break
                    trial, run = got
                    spec = TrialSpec(sweep_id, run["run_id"], run["params"], run["run_dir"], trial.number)
                    progress.started(spec)
                    with Heartbeat(study._storage, trial._trial_id, lease_s):
                        state, value, reason, child_s = self._run_one(study, config, trial, spec, function,
                                                                      kill_delay, echo, link)
                    ran += 1
                    overheads.append(time.monotonic() - t_claim - child_s)
                    progress.finished(spec, state, value, reason)
                    if state == KILLED:
                        code = 130
                        break
                    fails = fails + 1 if state in (FAILED, CRASHED) else 0
                    if fails >= max_fail:
                        progress.note(f"stopping: {fails} runs failed in a row (last: {reason}); "
                                      "fix the trial or raise --max-consecutive-failures")
                        code = 1
                        break
                if overheads:
                    progress.note(f"{ran} trial(s); agent time outside the trials: median "
                                  f"{1000 * float(np.median(overheads)):.0f} ms per trial, first "
                                  f"{1000 * overheads[0]:.0f} ms (imports)")
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        return code

    def _on_sigint(self, *_: Any) -> None:
        self._sigints += 1         # the first stops the trial gracefully, a second kills it now
        self._interrupted.set()

    def _run_one(self, study, config, trial, spec: TrialSpec, function, kill_delay, echo, link=True):
        """Run the trial and record it: (state, value, reason, seconds spent in the trial itself)."""
        t0 = time.monotonic()
        prune: dict[str, str] = {}
        lock = threading.Lock()
        hyperband = isinstance(study.pruner, WandbHyperbandPruner)

        def on_value(step: int, value: float) -> None:
            with lock:
                if prune:
                    return
                trial.report(value, step)
                if trial.should_prune():
                    prune["why"] = (f"hyperband: {config['metric']['name']}={value:g} at iteration {step} "
                                    "is worse than the band's cut")

        if function is not None:
            metrics, stopped, exit_code, why = None, None, 0, None
            kwargs = {}
            if hyperband and getattr(function, "reports_metrics", False) and (config.get("metric") or {}).get("name"):
                from agent.worker import MetricFeed
                feed = MetricFeed(config["metric"]["name"], on_value)

                def report(row: dict) -> Optional[str]:
                    """Each logged row of an in-process trial; a reason back means: stop now, pruned."""
                    feed.row("trial", row)
                    return prune.get("why")

                kwargs["report"] = report
            try:
                metrics = function(spec, **kwargs) or {}
            except KeyboardInterrupt:
                self._interrupted.set()
                stopped, exit_code = "interrupted", None
            except Exception as exc:  # a warm trial's crash is that trial's failure, not the agent's
                exit_code, why = 1, f"{type(exc).__name__}: {exc}"
            stopped = stopped or prune.get("why")
            took = time.monotonic() - t0
            return (*self._finish(study, config, trial, spec, exit_code=exit_code, stopped=stopped,
                                  runtime=took, log_reason=why, summary=metrics,
                                  expect_exit=not _wandb_run_open()), took)
        from agent.worker import run_child

        def should_stop() -> Optional[str]:
            if self._interrupted.is_set():
                return "interrupted"
            return prune.get("why")

        res = run_child(spec, config, on_value=on_value if hyperband else None, should_stop=should_stop,
                        kill_delay=kill_delay, echo=echo, link_sweep=link,
                        kill_now=lambda: self._sigints > 1)
        # a child killed by a signal never wrote its exit record: do not wait for one
        ended = res.exit_code is not None and res.exit_code >= 0
        return (*self._finish(study, config, trial, spec, exit_code=res.exit_code, stopped=res.stopped,
                              runtime=res.runtime_s, log_reason=res.reason, expect_exit=ended), res.runtime_s)
