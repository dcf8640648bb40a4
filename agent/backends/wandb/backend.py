"""The W&B backend: W&B's server holds the sweep, `wandb agent` runs it, the public API lists runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

import yaml

from agent.backends.base import (
    AgentSettings,
    Backend,
    BackendError,
    Extended,
    PriorRun,
    ProgressSink,
    Rerun,
    RunHistory,
    RunRecord,
    SweepInfo,
    SweepState,
    TrialControl,
    TrialRunner,
    TrialSpec,
)
from agent.backends.outcome import outcome
from agent.backends.stopping import StopRequest, exit_code_for, is_agent_stop
from agent.backends.wandb.api import PER_PAGE, fetch_history, run_to_record, split_path, with_retry
from agent.errors import one_line

# What `wandb sweep --pause|--resume|--stop|--cancel` asks W&B's server for: a stopped sweep is FINISHED there.
_WANDB_STATE = {
    SweepState.PAUSED: "PAUSED",
    SweepState.RUNNING: "RUNNING",
    SweepState.STOPPED: "FINISHED",
    SweepState.CANCELLED: "CANCELED",
}
_WANDB_WORDS = {"canceled": SweepState.CANCELLED, "pending": SweepState.RUNNING}  # W&B's words that are not ours
_AGENTS_DO = {
    SweepState.PAUSED: "W&B hands out no new run; agents wait, running runs go on",
    SweepState.RUNNING: "W&B hands out runs again to the agents that wait",
    SweepState.STOPPED: "W&B hands out no new run and shows the sweep finished; running runs finish, agents exit",
    SweepState.CANCELLED: "W&B tells each agent to stop its running run (killed), and agents exit",
}


def sweep_state(word: object) -> str:
    """W&B's word for a sweep's state as ours (`SweepState`); a word of W&B's own (crashed) as it is."""
    w = str(word or "").lower()
    if w in _WANDB_WORDS:
        return _WANDB_WORDS[w]
    try:
        return SweepState(w)
    except ValueError:
        return w


def spec_from_agent_env(sweep_id: str, number: int = 0) -> TrialSpec:
    """The TrialSpec of the job `wandb.agent(function=...)` is running, from what it set before
    calling the function: WANDB_RUN_ID and the param file at WANDB_SWEEP_PARAM_PATH
    (`{key: {value: v}}`, nested params as dict values)."""
    run_id, path = os.environ.get("WANDB_RUN_ID"), os.environ.get("WANDB_SWEEP_PARAM_PATH")
    if not run_id or not path:
        raise BackendError("not inside a wandb.agent job: WANDB_RUN_ID / WANDB_SWEEP_PARAM_PATH are not set")
    with open(path) as fh:
        raw = yaml.safe_load(fh) or {}
    params = {k: v.get("value") if isinstance(v, dict) else v for k, v in raw.items() if k != "wandb_version"}
    base = os.environ.get("WANDB_DIR") or os.getcwd()
    run_dir = os.path.join(os.path.abspath(base), "wandb", f"sweep-{sweep_id}", run_id)
    return TrialSpec(sweep_id=sweep_id, run_id=run_id, params=params, run_dir=run_dir, number=number, wandb_ready=True)


class WandbBackend(Backend):
    name = "wandb"
    listing_is_costly = True

    def __init__(
        self,
        project: Optional[str] = None,
        entity: Optional[str] = None,
        *,
        api: Any = None,
        retries: int = 6,
        base_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.project, self.entity = project, entity
        self._api_obj = api
        self._retries, self._base_delay, self._sleep = retries, base_delay, sleep
        self._public_runs: dict[str, Any] = {}  # run id -> public Run from the last `runs()` query

    def _call(self, fn: Callable[[], Any], *, what: str) -> Any:
        return with_retry(fn, what=what, retries=self._retries, base_delay=self._base_delay, sleep=self._sleep)

    def _api(self) -> Any:
        if self._api_obj is None:
            import wandb

            self._api_obj = self._call(lambda: wandb.Api(timeout=60), what="connecting")
        return self._api_obj

    def _path(self, sweep_id: str) -> str:
        entity, project, sid = split_path(sweep_id)
        entity = entity or self.entity or os.environ.get("WANDB_ENTITY")
        project = project or self.project or os.environ.get("WANDB_PROJECT")
        if not project:
            raise BackendError(f"W&B sweep {sid!r} needs a project: pass entity/project/{sid} or --project")
        return "/".join(p for p in (entity, project, sid) if p)

    # -- sweeps -----------------------------------------------------------------------------
    def create_sweep(
        self,
        config: dict,
        *,
        project: str | None = None,
        entity: str | None = None,
        prior: Sequence[PriorRun] = (),
        skip_done: bool = True,
    ) -> str:
        import wandb

        project = project or self.project or config.get("project")
        entity = entity or self.entity or config.get("entity")
        if prior and not skip_done:
            raise BackendError(
                "--no-skip: W&B's grid never hands out a point that a run of the sweep holds, prior runs "
                "included; drop --no-skip, or --prior"
            )
        for p in prior:
            p_entity, p_project, _ = split_path(self._path(p.sweep_id))
            if p_project != project or (entity and p_entity and p_entity != entity):
                raise BackendError(
                    f"--prior {p.sweep_id}: W&B attaches prior runs of the project the sweep is made in "
                    f"({'/'.join(x for x in (entity, project) if x)}); pass --project {p_project}"
                )
        try:
            attach = {"prior_runs": [p.run.id for p in prior]} if prior else {}
            sweep_id = wandb.sweep(config, project=project, entity=entity, **attach)
        except Exception as exc:
            raise BackendError(f"W&B refused the sweep: {one_line(exc)}") from None
        if not sweep_id:
            raise BackendError(
                "W&B did not create the sweep (offline or not logged in?); "
                "run `wandb login`, or use the default local backend"
            )
        entity = entity or os.environ.get("WANDB_ENTITY") or self._default_entity()
        project = project or os.environ.get("WANDB_PROJECT") or "uncategorized"
        return "/".join(p for p in (entity, project, sweep_id) if p)

    def _default_entity(self) -> Optional[str]:
        try:
            return self._api().default_entity
        except Exception:
            return None

    def prior_runs_of(self, sweep_id: str) -> tuple[SweepInfo, list[RunRecord]]:
        try:
            return self.sweep(sweep_id), self.runs(sweep_id)
        except BackendError as exc:
            raise BackendError(
                f"--prior {sweep_id}: {exc}; W&B's prior_runs takes runs already on W&B "
                "(`sweepkit sync SWEEP` uploads a local sweep's runs)"
            ) from None

    def rerun(self, sweep_id: str, *, states: Sequence[str], run_ids: Sequence[str] = ()) -> Rerun:
        raise BackendError(
            "W&B has no re-run of a sweep's runs: its server hands a grid point out only while no run of the "
            "sweep holds it, failed or not. Make a new W&B sweep of the same file holding the finished runs: "
            f"`sweepkit sweep FILE --backend wandb --prior {sweep_id}` (its grid then runs only the other points)"
        )

    def extend_sweep(self, sweep_id: str, config: dict) -> Extended:
        raise BackendError(
            "W&B cannot extend a sweep that has runs: `wandb sweep --update` changes a sweep only while it is "
            "pending, before any run has started. Make a new sweep that learns from this one: "
            f"`sweepkit sweep FILE --backend wandb --prior {sweep_id}`"
        )

    def sweep(self, sweep_id: str) -> SweepInfo:
        path = self._path(sweep_id)
        try:
            sw = self._call(lambda: self._api().sweep(path), what="reading the sweep")
        except BackendError as exc:
            raise BackendError(f"no W&B sweep {path!r}: {exc}") from None
        entity = getattr(sw, "entity", None)
        project = getattr(sw, "project", None)
        full = "/".join([entity, project, sw.id]) if entity and project else path
        return SweepInfo(
            id=sw.id,
            backend=self.name,
            config=dict(sw.config or {}),
            state=sweep_state(getattr(sw, "state", SweepState.RUNNING)),
            name=getattr(sw, "name", "") or "",
            path=full,
        )

    def set_sweep_state(self, sweep_id: str, state: SweepState, why: Optional[str] = None) -> str:
        """What `wandb sweep --pause|--resume|--stop|--cancel` does: the sweep's state on W&B's server
        (wandb's own request, which refuses a change the sweep's state does not allow)."""
        from wandb.apis.public.sweeps import _set_sweep_state

        path = self._path(sweep_id)
        entity, project, sid = split_path(path)
        if state not in _WANDB_STATE:
            raise BackendError(f"W&B sweeps can be set to {', '.join(s.value for s in _WANDB_STATE)}, not {state}")
        api = self._api()
        try:
            _set_sweep_state(api, sid, _WANDB_STATE[state], entity=entity, project=project)  # type: ignore[arg-type]
        except Exception as exc:
            raise BackendError(f"W&B did not set sweep {path} to {state.value}: {one_line(exc)}") from None
        return _AGENTS_DO[state]

    def list_sweeps(self) -> list[SweepInfo]:
        project = self.project or os.environ.get("WANDB_PROJECT")
        if not project:
            raise BackendError("listing W&B sweeps needs a project: pass --project P (and --entity E)")
        entity = self.entity or os.environ.get("WANDB_ENTITY")
        where = f"{entity}/{project}" if entity else project
        sweeps = self._call(
            lambda: list(self._api().project(project, entity=entity).sweeps()), what=f"listing the sweeps of {where}"
        )
        return [
            SweepInfo(
                id=s.id,
                backend=self.name,
                config=dict(getattr(s, "config", {}) or {}),
                state=sweep_state(getattr(s, "state", "")),
                name=getattr(s, "name", "") or "",
                path=f"{where}/{s.id}",
            )
            for s in sweeps
        ]

    # -- runs -------------------------------------------------------------------------------
    def runs(self, sweep_id: str) -> list[RunRecord]:
        entity, project, sid = split_path(self._path(sweep_id))
        where = "/".join(p for p in (entity, project) if p)
        runs = self._call(
            lambda: list(self._api().runs(where, filters={"sweep": sid}, per_page=PER_PAGE, lazy=False)),
            what=f"listing runs of {sweep_id}",
        )
        self._public_runs = {r.id: r for r in runs}
        return sorted((run_to_record(r) for r in runs), key=lambda r: r.created_at or "")

    def history(self, sweep_id: str, run: RunRecord, keys: Optional[list[str]] = None) -> RunHistory:
        public = self._public_runs.get(run.id)
        if public is None:
            entity, project, _ = split_path(self._path(sweep_id))
            path = "/".join(p for p in (entity, project, run.id) if p)
            public = self._call(lambda: self._api().run(path), what=f"reading run {run.id}")
        return fetch_history(public, keys, self._call)

    # -- agents -----------------------------------------------------------------------------
    def in_process_limit(self, config: dict) -> Optional[str]:
        if (config.get("early_terminate") or {}).get("type") == "hyperband":
            return (
                "this sweep uses hyperband early termination, and W&B's agent stops runs by "
                "interrupting them from outside"
            )
        return None

    def trial_env(self, sweep_id: str, config: dict) -> dict[str, str]:
        return {"WANDB_MODE": "online"}  # wandb.agent's runs are online unless the user says otherwise

    def host_bound_store(self, info: SweepInfo) -> Optional[str]:
        return None  # W&B's server: agents anywhere share it

    def agent_argv(self, sweep_id: str, count: Optional[int]) -> list[str]:
        exe = shutil.which("wandb") or os.path.join(os.path.dirname(sys.executable), "wandb")
        argv = [exe, "agent"]
        if count:
            argv += ["--count", str(count)]
        return argv + [self._path(sweep_id)]

    def run_agent(
        self,
        sweep_id: str,
        *,
        runner: TrialRunner,
        progress: ProgressSink,
        settings: Optional[AgentSettings] = None,
        stop: Optional[StopRequest] = None,
    ) -> int:
        settings = settings or AgentSettings()
        stop = stop or StopRequest()
        if not runner.in_process:  # a child per trial: that is `wandb agent` itself
            return _wandb_agent(self.agent_argv(sweep_id, settings.count), stop)
        import wandb

        entity, project, sid = split_path(self._path(sweep_id))
        config = self.sweep(sweep_id).config
        metric = (config.get("metric") or {}).get("name")
        env = self.trial_env(sweep_id, config)
        calls = [0]

        def one() -> None:
            # wandb.agent has set WANDB_RUN_ID / WANDB_SWEEP_PARAM_PATH / WANDB_SWEEP_ID and set wandb up
            # afresh for this job; the trial opens the run itself, exactly once.
            spec = spec_from_agent_env(sid, calls[0])
            spec.env = dict(env)
            calls[0] += 1
            progress.started(spec)
            ended = runner(spec, config, TrialControl())
            state, value, reason = outcome(
                metric=metric,
                exit_code=ended.exit_code,
                stopped=ended.stopped,
                run_info={"summary": ended.summary},
                log_reason=ended.reason,
            )
            progress.finished(spec, state, value, reason)
            run = wandb.run
            if ended.summary and run is not None and run.id == spec.run_id:  # a trial that left its run open
                run.summary.update(ended.summary)
            if is_agent_stop(ended.stopped) or stop.requested:
                raise KeyboardInterrupt

        with progress:
            try:
                wandb.agent(sid, function=one, entity=entity, project=project, count=settings.count)
            except KeyboardInterrupt:
                return exit_code_for(stop.reason)
        return 0

    # -- reports ----------------------------------------------------------------------------
    def publish_report(
        self,
        info: SweepInfo,
        *,
        title: str,
        summary_markdown: str,
        params: list[str],
        metric: str,
        compare: Optional[str],
        save: bool = True,
    ) -> tuple[Optional[str], str]:
        from agent.backends.wandb.publish import publish

        return publish(
            info,
            save=save,
            title=title,
            summary_markdown=summary_markdown,
            params=params,
            metric=metric,
            compare=compare,
        )


def _wandb_agent(argv: list[str], stop: StopRequest) -> int:
    """`wandb agent` as a child: a stop of ours reaches it as the Ctrl-C it knows (it stops its run)."""
    try:
        proc = subprocess.Popen(argv)
    except OSError as exc:
        raise BackendError(f"cannot start {argv[0]}: {one_line(exc)}") from None
    asked = 0
    try:
        while proc.poll() is None:
            if stop.times > asked:
                asked = stop.times
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        proc.wait()
        return exit_code_for(stop.reason)
    return exit_code_for(stop.reason) if stop.requested else proc.returncode
