"""`LocalBackend`: the offline backend behind the one `Backend` interface."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Optional

from agent import runlog
from agent.backends.base import (
    AgentSettings,
    Backend,
    BackendError,
    Extended,
    IncompleteSweep,
    PriorRun,
    ProgressSink,
    Rerun,
    RunHistory,
    RunRecord,
    SweepInfo,
    SyncPlan,
    TrialRunner,
)
from agent.backends.local import control, creation, doctor, lifecycle
from agent.backends.local.engine import Engine
from agent.backends.local.loop import AgentLoop
from agent.backends.local.schema import IncompleteSweepError, incomplete_line
from agent.backends.local.store import mask_url, sweep_dir
from agent.backends.local.sync import default_project, offline_run_dirs, sync_commands
from agent.backends.stopping import StopRequest
from agent.errors import one_line
from agent.paths import home, write_atomic
from agent.states import RunState, SweepState

# wandb-core flushes the offline `.wandb` log every 15 s by default; a live pruner wants it sooner.
FLUSH_ENV = "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL"
DEFAULT_FLUSH_S = "2"
WANDB_SWEEP_FILE = "wandb-sweep.json"  # the W&B sweep `sync` made of this sweep's runs


class LocalBackend(Backend):
    name = "local"

    def __init__(self, storage: Optional[str] = None):
        self.storage_url = storage or os.environ.get("SWEEPKIT_STORAGE") or None
        self._engines: dict[tuple[str, str, Optional[str]], Engine] = {}

    def engine(self, sweep_id: str) -> Engine:
        """The sweep's engine, opened once per backend: its store then reads only what is new."""
        key = (str(home().resolve()), sweep_id, self.storage_url)
        if key not in self._engines:
            if not sweep_dir(sweep_id).exists():
                left = creation.find(sweep_id)
                if left is not None:  # only its building folder: say so, rather than "no such sweep"
                    raise IncompleteSweepError(incomplete_line(sweep_id, left.mark))
            self._engines[key] = Engine(sweep_id, self.storage_url)
        return self._engines[key]

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
        return Engine.create(config, self.storage_url, project, prior, skip_done)

    def prior_runs_of(self, sweep_id: str) -> tuple[SweepInfo, list[RunRecord]]:
        if "/" in sweep_id:  # entity/project/id
            raise BackendError(
                f"--prior {sweep_id}: a local sweep warm-starts from local sweeps; to learn from W&B runs, "
                "make the new sweep on W&B (--backend wandb), whose prior_runs takes them"
            )
        return self.sweep(sweep_id), self.runs(sweep_id)

    def rerun(self, sweep_id: str, *, states: Sequence[str], run_ids: Sequence[str] = ()) -> Rerun:
        return lifecycle.rerun(self.engine(sweep_id), states, run_ids)

    def extend_sweep(self, sweep_id: str, config: dict) -> Extended:
        return lifecycle.extend(self.engine(sweep_id), config)

    def set_sweep_state(self, sweep_id: str, state: SweepState, why: Optional[str] = None) -> str:
        return control.set_state(self.engine(sweep_id), state, why)

    def sweep(self, sweep_id: str) -> SweepInfo:
        return self.engine(sweep_id).info()

    def list_sweeps(self) -> list[SweepInfo]:
        out = []
        for d in sorted(self._sweep_files(), key=lambda p: p.stat().st_mtime):
            try:
                out.append(self.sweep(d.parent.name))
            except BackendError:  # incomplete, or not readable here: `incomplete_sweeps` says which
                continue
        return out

    def incomplete_sweeps(self) -> list[IncompleteSweep]:
        """Building folders an interrupted `sweep` left, and (on a database) sweeps renamed into place
        whose study is still marked as being made."""
        out = [IncompleteSweep(left.sweep_id, left.abandoned(), left.store) for left in creation.leftovers()]
        for d in self._sweep_files():
            try:
                self.engine(d.parent.name)
            except IncompleteSweepError:
                left = creation.find(d.parent.name, self.storage_url)
                abandoned = left.abandoned() if left else True
                store = mask_url(self.storage_url) if self.storage_url else None
                out.append(IncompleteSweep(d.parent.name, abandoned, store))
            except BackendError:
                continue
        return out

    @staticmethod
    def _sweep_files() -> list[Path]:
        return [p for p in (home() / "sweeps").glob("*/sweep.yaml") if not p.parent.name.startswith(".")]

    # -- runs -------------------------------------------------------------------------------
    def runs(self, sweep_id: str) -> list[RunRecord]:
        return self.engine(sweep_id).records()

    def history(self, sweep_id: str, run: RunRecord, keys: Optional[list[str]] = None) -> RunHistory:
        if not run.run_dir or runlog.find_run_file(run.run_dir) is None:
            return RunHistory()
        out = RunHistory()
        try:
            records = list(runlog.iter_records(run.run_dir))
        except (runlog.RunReadError, OSError, ValueError) as exc:
            return RunHistory(summary={"failure_reason": f"unreadable log: {exc}"})
        for rec in records:
            kind = rec.get("type")
            if kind == "history":
                row = rec["history"]["item"]
                out.rows.append({k: v for k, v in row.items() if keys is None or k in keys or k.startswith("_")})
            elif kind == "stats":
                item = {f"system.{k}": v for k, v in (rec["stats"].get("item") or {}).items()}
                item["_timestamp"] = _unix(rec["stats"].get("timestamp"))
                out.system.append(item)
            elif kind == "summary":
                out.summary.update((rec["summary"] or {}).get("update") or {})
            elif kind == "output_raw":
                out.console.append(rec["output_raw"].get("line", ""))
        out.console = "".join(out.console).splitlines()
        return out

    def host_bound_store(self, info: SweepInfo) -> Optional[str]:
        """The embedded journal's folder, or a SQLite URL: file locks, which hold on this host only.
        A database server (PostgreSQL, MySQL) binds no agent to a host."""
        where = info.path or ""
        if where.startswith("sqlite") or ("://" not in where and where and os.path.isdir(where)):
            return where
        return None

    # -- agents -----------------------------------------------------------------------------
    def trial_env(self, sweep_id: str, config: dict) -> dict[str, str]:
        env = {
            "WANDB_MODE": "offline",
            # `wandb sync` has no --group/--tags: grouping must be in the run itself, set at init time.
            "WANDB_RUN_GROUP": f"sweep-{sweep_id}",
            "WANDB_TAGS": f"sweepkit,sweep-{sweep_id}",
            FLUSH_ENV: DEFAULT_FLUSH_S,
        }
        # with WANDB_SWEEP_ID set, wandb.init ignores project=/entity= (the sweep decides), as online
        for key, var in (("project", "WANDB_PROJECT"), ("entity", "WANDB_ENTITY")):
            if config.get(key):
                env[var] = str(config[key])
        return env

    def run_agent(
        self,
        sweep_id: str,
        *,
        runner: TrialRunner,
        progress: ProgressSink,
        settings: Optional[AgentSettings] = None,
        stop: Optional[StopRequest] = None,
    ) -> int:
        engine = self.engine(sweep_id)
        env = self.trial_env(sweep_id, engine.config)
        return AgentLoop(engine, runner, progress, settings or AgentSettings(), env, stop=stop).run()

    # -- W&B later --------------------------------------------------------------------------
    def doctor(self, sweep_id: str, *, repair: bool = False) -> list[str]:
        self._engines.clear()  # a repair may rewrite the journal under an engine's cached offsets
        return [f.line() for f in doctor.check(sweep_id, self.storage_url, repair=repair)]

    def store_format(self, sweep_id: str) -> Optional[str]:
        fmt = doctor.store_format(sweep_id, self.storage_url)
        return f"store format {fmt}" + (", written before sweepkit recorded its format" if fmt == 1 else "")

    def sync_plan(
        self, sweep_id: str, *, project: Optional[str], entity: Optional[str], include_synced: bool = False
    ) -> SyncPlan:
        engine = self.engine(sweep_id)
        # a warm start's prior runs belong to their own sweep: they are synced with it
        runs = [r for r in engine.records() if r.state != RunState.RUNNING and r.prior is None]
        warnings = []
        linked = set(engine.linked_run_ids()) & {r.id for r in runs}
        if linked:
            warnings.append(
                f"warning: {len(linked)} of {len(runs)} runs were made with WANDB_SWEEP_ID={sweep_id}, "
                "a sweep W&B does not have; W&B may reject them (404), and they cannot join a W&B sweep. "
                "Run agents with --no-sweep-id to make runs you can sync (docs/OFFLINE.md)."
            )
        synced = [r for r in runs if runlog.find_run_file(r.run_dir or "") is not None]
        if not synced:
            raise BackendError(f"sweep {sweep_id} has no finished offline runs on this machine to sync")
        project = project or default_project(engine.config)
        entity = entity or engine.config.get("entity")
        cmds = sync_commands(offline_run_dirs(synced), project=project, entity=entity, include_synced=include_synced)
        joining = [r.id for r in synced if r.id not in linked]
        made = _read_json(sweep_dir(sweep_id) / WANDB_SWEEP_FILE)
        if made:
            note = (
                f"the runs joined W&B sweep {made['path']} ({made.get('url') or 'its page'}) at the first sync; "
                "W&B has no way to add runs to an existing sweep, so this sync creates no second one"
            )
        elif joining:
            note = (
                f"then: create a W&B sweep in {entity + '/' if entity else ''}{project} from this sweep's YAML "
                f"holding the {len(joining)} uploaded run(s) (wandb.sweep(..., prior_runs=[...]))"
            )
        else:
            note = "no W&B sweep will be created: every run names the local sweep id (see the warning)"
        return SyncPlan(
            commands=cmds,
            warnings=warnings,
            runs=len(synced),
            run_ids=joining,
            project=project,
            entity=entity,
            sweep_note=note,
        )

    def finish_sync(self, sweep_id: str, plan: SyncPlan) -> str:
        record = sweep_dir(sweep_id) / WANDB_SWEEP_FILE
        made = _read_json(record)
        if made or not plan.run_ids:
            return plan.sweep_note
        import wandb

        try:
            wb_id = wandb.sweep(
                self.engine(sweep_id).config, entity=plan.entity, project=plan.project, prior_runs=plan.run_ids
            )
        except Exception as exc:  # W&B's errors are many-typed; the runs are uploaded either way
            raise BackendError(
                f"the runs are uploaded, but W&B refused the sweep: {one_line(exc)}; rerun `sweepkit sync` to try again"
            ) from None
        if not wb_id:
            raise BackendError("the runs are uploaded, but W&B created no sweep (offline? run `wandb login`)")
        entity = plan.entity
        url = None
        try:
            api = wandb.Api(timeout=30)
            entity = entity or api.default_entity
            url = api.sweep(f"{entity}/{plan.project}/{wb_id}").url
        except Exception:  # the sweep exists; only its address could not be looked up
            pass
        path = "/".join(p for p in (entity, plan.project, wb_id) if p)
        write_atomic(record, json.dumps({"path": path, "url": url, "runs": plan.run_ids}, indent=1))
        return f"created W&B sweep {path}{f' ({url})' if url else ''} holding the {len(plan.run_ids)} uploaded run(s)"


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _unix(stamp: Optional[str]) -> Optional[float]:
    if not stamp:
        return None
    try:  # wandb-core writes nanoseconds; datetime takes micro
        head, _, frac = stamp.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()
    except ValueError:
        return None
