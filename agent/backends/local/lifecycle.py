"""A local sweep's life after it is made: re-running points, extending the config, warm-starting.

- `rerun`: each picked run's point is queued again as a new trial with the run's own params (and,
  where the method models the space, the earlier trial's own Optuna params); the new trial's
  `QueuedPoint.rerun_of` links it to the run it re-runs. The earlier trial stays in history but no
  longer holds a slot of run_cap, and once the re-run has told bayes a value, bayes leaves the
  earlier one out (`methods/bayes.py`).
- `extend`: the config is replaced by a compatible one (`sweep_config.extension`); the old config
  stays in the sweep's history; a grid queues only the points no trial ran or holds.
- `add_prior_runs`: a new sweep's warm start; each earlier run becomes a complete trial marked as a
  prior run (`PriorMark`), holding its record, which bayes learns from and a grid may skip.

Rerun and extend run under the claim lock, so no agent claims or reaps meanwhile, and write
`SweepControl(RUNNING)`: whatever state a person set, the sweep hands out runs again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState, create_trial

from agent.backends.base import BackendError, Extended, PriorRun, Rerun, SweepState
from agent.backends.local.leases import reap_stale
from agent.backends.local.methods import SearchMethod, method_for
from agent.backends.local.schema import (
    FORMAT_KEY,
    MADE_FORMAT,
    PriorMark,
    QueuedPoint,
    Result,
    RunClaim,
    SweepControl,
    TrialAttrs,
)
from agent.backends.local.store import batched_writes, claim_lock, sweep_dir
from agent.paths import write_atomic
from agent.states import RunState, count_states, describe_counts
from agent.sweep_config import SweepConfigError, extension, point_key
from agent.sweep_config.metric import reached

if TYPE_CHECKING:
    from agent.backends.local.engine import Engine

Trials = Sequence[tuple[FrozenTrial, TrialAttrs]]


@dataclass
class Links:
    """Run id -> the run whose point it ran again, and the other way round (the latest)."""

    rerun_of: dict[str, str] = field(default_factory=dict)
    rerun_by: dict[str, str] = field(default_factory=dict)


def run_links(trials: Trials) -> Links:
    """How the runs of one point follow each other: a re-run, or the sweep's own requeue of a lost
    run (a trial that never recorded its run is passed through)."""
    by_number = {t.number: a for t, a in trials}
    links = Links()
    for t, a in sorted(trials, key=lambda ta: ta[0].number):
        if a.run is None or not a.run.run_id or a.point is None:
            continue
        earlier, seen = a.point.earlier, {t.number}
        while earlier is not None and earlier not in seen:
            seen.add(earlier)
            before = by_number.get(earlier)
            if before is None:
                break
            if before.run is not None and before.run.run_id:
                links.rerun_of[a.run.run_id] = before.run.run_id
                links.rerun_by[before.run.run_id] = a.run.run_id
                break
            earlier = before.point.earlier if before.point else None
    return links


def slots_used(trials: Trials) -> int:
    """How many slots of run_cap the trials hold: every trial handed out, less one whose point the
    sweep requeued itself or a `sweepkit rerun` queued again (the slot went to the new trial), and
    less a warm start's prior runs (this sweep did not run them)."""
    replaced = {a.point.rerun_of for _, a in trials if a.point is not None and a.point.rerun_of is not None}
    return sum(
        1
        for t, a in trials
        if t.state != TrialState.WAITING and not a.requeued and not a.prior and t.number not in replaced
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _reopen(engine: Engine, why: str, extra: dict[str, Any] | None = None) -> None:
    """The sweep hands out runs again; its store gets the format that holds these records."""
    fmt = max(engine.meta.format, MADE_FORMAT)
    attrs = {FORMAT_KEY: fmt, **SweepControl(SweepState.RUNNING, _now(), why).to_attrs(), **(extra or {})}
    with batched_writes(engine.storage):  # one journal append
        for key, value in attrs.items():
            engine.study.set_user_attr(key, value)
    engine.reload()


def _read(engine: Engine) -> list[tuple[FrozenTrial, TrialAttrs]]:
    return [(t, TrialAttrs.from_attrs(t.user_attrs)) for t in engine.study.get_trials(deepcopy=False)]


def target_reached(metric: dict[str, Any], trials: Trials) -> str | None:
    """Which of the sweep's own runs reached metric.target, in words; None when none did."""
    for t, a in trials:
        if t.state == TrialState.COMPLETE and a.result and not a.prior and reached(metric, a.result.value):
            by = a.run.run_id if a.run else str(t.number)
            return f"metric.target {metric['target']} reached by run {by}"
    return None


# -- rerun ----------------------------------------------------------------------------------------
def _pick(engine: Engine, trials: Trials, states: Sequence[str], run_ids: Sequence[str]) -> tuple[list, list[str]]:
    """(the (trial, attrs) to run again, what was passed over in words); BackendError for a bad pick."""
    sid = engine.sweep_id
    ran_again = {a.point.earlier for _, a in trials if a.point is not None and a.point.earlier is not None}
    runs = {a.run.run_id: (t, a) for t, a in trials if a.run is not None and a.run.run_id}
    later = run_links(trials).rerun_by
    if run_ids:
        picked = []
        for rid in run_ids:
            if rid not in runs:
                raise BackendError(f"no run {rid!r} in sweep {sid}; list its runs with `sweepkit status {sid}`")
            t, a = runs[rid]
            if a.prior:
                raise BackendError(f"run {rid} is a prior run of sweep {a.prior.sweep}: re-run it there")
            if a.result is None:
                raise BackendError(f"run {rid} is still running; wait for it to end, then re-run it")
            if t.number in ran_again:
                by = later.get(rid)
                raise BackendError(
                    f"run {rid} was already run again{f' as run {by}' if by else ' (it is queued)'}; "
                    + (f"re-run {by} instead" if by else "let an agent take it")
                )
            picked.append((t, a))
        return picked, []
    ended = [(t, a) for t, a in trials if a.run and a.result and not a.prior and a.result.state in states]
    picked = [(t, a) for t, a in ended if t.number not in ran_again]
    passed = len(ended) - len(picked)
    return picked, [f"{passed} such run(s) already queued again or re-run"] if passed else []


def rerun(engine: Engine, states: Sequence[str], run_ids: Sequence[str]) -> Rerun:
    """Queue the picked runs' points again in the same sweep (see the module notes)."""
    sid = engine.sweep_id
    with claim_lock(engine.storage, sid):
        engine.reload()
        reap_stale(engine.study, requeue=engine.method.requeues)  # a lost run is crashed, not running
        trials = _read(engine)
        stopped = target_reached(engine.metric, trials)
        if stopped:
            raise BackendError(
                f"cannot rerun: {stopped}, so sweep {sid} hands out no more runs; make a new sweep "
                "of those points (`sweepkit sweep FILE --prior " + sid + "` skips the grid points already run)"
            )
        picked, passed = _pick(engine, trials, states, run_ids)
        if not picked:
            counts = describe_counts(count_states(a.result.state for _, a in trials if a.result and not a.prior))
            raise BackendError(
                f"nothing to re-run in sweep {sid}: no {', '.join(states)} run is left to run again"
                + (f" ({'; '.join(passed)})" if passed else "")
                + f"; its runs: {counts}"
            )
        out = Rerun(passed=passed)
        for t, a in picked:
            assert a.run is not None
            point = QueuedPoint(a.run.params, rerun_of=t.number)
            engine.study.enqueue_trial(engine.method.fixed_params(t), user_attrs=point.to_attrs())
            out.queued.append((a.run.run_id, a.run.params))
        _reopen(engine, f"rerun of {len(picked)} run(s)")
    return out


# -- extend ---------------------------------------------------------------------------------------
def _points_held(trials: Trials, parameters: dict[str, Any]) -> set[tuple[str, ...]]:
    """The points some trial ran, runs or waits to run (and a warm start's prior runs it skipped)."""
    held = set()
    for _, a in trials:
        if a.prior is not None and not a.prior.skipped:
            continue
        params = a.run.params if a.run else (a.point.params if a.point else None)
        if params is None:
            continue
        try:
            held.add(point_key(params, parameters))
        except KeyError:  # not a point of this space
            continue
    return held


def extend(engine: Engine, config: dict[str, Any]) -> Extended:
    """Make `config` the sweep's config when it extends the current one (see the module notes)."""
    sid = engine.sweep_id
    with claim_lock(engine.storage, sid):
        engine.reload()
        old = engine.config
        try:
            ext = extension(old, config)
            method = method_for(config, sid)
            method.check_extension(old, ext)
        except SweepConfigError as exc:
            raise BackendError(str(exc)) from None
        queued = method.setup(engine.study, skip=_points_held(_read(engine), method.parameters))
        change = "; ".join(ext.changes)
        _reopen(engine, f"extended: {change}", engine.meta.extended(config, at=_now(), change=change))
        write_atomic(sweep_dir(sid) / "sweep.yaml", yaml.safe_dump(config, sort_keys=False))
    return Extended(ext.changes, queued)


# -- warm start -----------------------------------------------------------------------------------
def add_prior_runs(study: optuna.Study, method: SearchMethod, prior: Iterable[PriorRun], skip: bool) -> set:
    """Add each prior run as a complete trial; the points they ran (what a grid may skip)."""
    done = set()
    for p in prior:
        run = p.run
        params, dists = method.prior_params(p.params)
        mark = PriorMark(p.sweep_id, run.created_at, run.ended_at, skipped=skip)
        claim = RunClaim(run_id=run.id, run_dir=run.run_dir or "", params=p.params, linked=False)
        result = Result(RunState.FINISHED, value=p.value, runtime=run.runtime_s, summary=run.summary, config=run.config)
        attrs = {**mark.to_attrs(), **claim.to_attrs(), **result.to_attrs()}
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE, value=p.value or 0.0, params=params, distributions=dists, user_attrs=attrs
            )
        )
        done.add(point_key(p.params, method.parameters))
    return done
