"""The W&B backend: W&B's server holds the sweep, `wandb agent` runs it, the public API lists runs.

Named `wandb_backend` so that `import wandb` inside this package still means the library.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from typing import Any, Optional

import yaml

from agent.backends.base import Backend, BackendError, RunRecord, SweepInfo, TrialFunction, TrialSpec

PER_PAGE = 200


def split_path(sweep_path: str) -> tuple[Optional[str], Optional[str], str]:
    """"entity/project/id", "project/id" or "id" -> (entity, project, id)."""
    parts = [p for p in sweep_path.strip("/").split("/") if p]
    if "sweeps" in parts:  # a pasted URL path: entity/project/sweeps/id
        parts.remove("sweeps")
    if not parts or len(parts) > 3:
        raise BackendError(f"bad W&B sweep path {sweep_path!r}; expected entity/project/sweep_id")
    parts = [None] * (3 - len(parts)) + parts
    return parts[0], parts[1], parts[2]


def run_to_record(run: Any) -> RunRecord:
    """A `wandb.apis.public.Run` in our one shape."""
    summary = dict(getattr(run, "summary_metrics", None) or {})
    config = {k: v for k, v in dict(run.config or {}).items() if not k.startswith("_")}
    runtime = summary.get("_runtime")
    return RunRecord(
        id=run.id, state=str(run.state), config=config, summary=summary, name=run.name or run.id,
        runtime_s=float(runtime) if isinstance(runtime, (int, float)) else None,
        reason=summary.get("failure_reason"), url=getattr(run, "url", None),
        created_at=getattr(run, "created_at", None))


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
    return TrialSpec(sweep_id=sweep_id, run_id=run_id, params=params, run_dir=run_dir, number=number)


@contextlib.contextmanager
def _env_default(key: str, value: str):
    had = key in os.environ
    os.environ.setdefault(key, value)
    try:
        yield
    finally:
        if not had:
            os.environ.pop(key, None)


class WandbBackend(Backend):
    name = "wandb"

    def __init__(self, project: Optional[str] = None, entity: Optional[str] = None):
        self.project, self.entity = project, entity

    def _api(self):
        import wandb
        try:
            return wandb.Api(timeout=30)
        except Exception as exc:
            raise BackendError(f"cannot reach W&B: {str(exc).splitlines()[0][:200]}; "
                               "run `wandb login` or use the local backend") from None

    def _path(self, sweep_id: str) -> str:
        entity, project, sid = split_path(sweep_id)
        entity = entity or self.entity or os.environ.get("WANDB_ENTITY")
        project = project or self.project or os.environ.get("WANDB_PROJECT")
        if not project:
            raise BackendError(f"W&B sweep {sid!r} needs a project: pass entity/project/{sid} or --project")
        return "/".join(p for p in (entity, project, sid) if p)

    def create_sweep(self, config: dict, *, project: str | None = None, entity: str | None = None) -> str:
        import wandb
        project = project or self.project or config.get("project")
        entity = entity or self.entity or config.get("entity")
        try:
            sweep_id = wandb.sweep(config, project=project, entity=entity)
        except Exception as exc:
            raise BackendError(f"W&B refused the sweep: {str(exc).splitlines()[0][:200]}") from None
        if not sweep_id:
            raise BackendError("W&B did not create the sweep (offline or not logged in?); "
                               "run `wandb login`, or use the default local backend")
        entity = entity or os.environ.get("WANDB_ENTITY") or self._default_entity()
        project = project or os.environ.get("WANDB_PROJECT") or "uncategorized"
        return "/".join(p for p in (entity, project, sweep_id) if p)

    def _default_entity(self) -> Optional[str]:
        try:
            return self._api().default_entity
        except Exception:
            return None

    def sweep(self, sweep_id: str) -> SweepInfo:
        path = self._path(sweep_id)
        try:
            sw = self._api().sweep(path)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"no W&B sweep {path!r}: {str(exc).splitlines()[0][:200]}") from None
        return SweepInfo(id=sw.id, backend=self.name, config=dict(sw.config or {}),
                         state=str(getattr(sw, "state", "running")).lower(),
                         name=getattr(sw, "name", "") or "", path=path)

    def runs(self, sweep_id: str) -> list[RunRecord]:
        path = self._path(sweep_id)
        entity, project, sid = split_path(path)
        try:
            runs = self._api().runs("/".join(p for p in (entity, project) if p), filters={"sweep": sid},
                                    per_page=PER_PAGE, lazy=False)
            records = [run_to_record(r) for r in runs]
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"cannot list runs of {path!r}: {str(exc).splitlines()[0][:200]}") from None
        return sorted(records, key=lambda r: r.created_at or "")

    def agent_argv(self, sweep_id: str, count: Optional[int]) -> list[str]:
        exe = shutil.which("wandb") or os.path.join(os.path.dirname(sys.executable), "wandb")
        argv = [exe, "agent"]
        if count:
            argv += ["--count", str(count)]
        return argv + [self._path(sweep_id)]

    def run_agent(self, sweep_id: str, *, count: int | None = None, function: TrialFunction | None = None,
                  **options: Any) -> int:
        if function is None:
            try:
                return subprocess.call(self.agent_argv(sweep_id, count))
            except KeyboardInterrupt:
                return 130
        import wandb
        entity, project, sid = split_path(self._path(sweep_id))
        calls = [0]

        def one() -> None:
            # wandb.agent has set WANDB_RUN_ID / WANDB_SWEEP_PARAM_PATH / WANDB_SWEEP_ID and torn down
            # wandb's setup for this job; the trial function opens the run itself, exactly once.
            spec = spec_from_agent_env(sid, calls[0])
            calls[0] += 1
            # wandb.agent runs online unless told otherwise; the trial's env must not say "offline"
            with _env_default("WANDB_MODE", "online"):
                metrics = function(spec) or {}
            run = wandb.run
            if metrics and run is not None and run.id == spec.run_id:   # a function that left its run open
                run.summary.update(metrics)

        try:
            wandb.agent(sid, function=one, entity=entity, project=project, count=count)
        except KeyboardInterrupt:
            return 130
        return 0
