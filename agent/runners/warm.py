"""Warm trials: a worker runs a sweep's trials one after another in its own process.

A cold trial pays 10-14 s of imports, CUDA init and model/data loading; a warm one pays them once
per worker. To stay equivalent to the cold path, a warm trial is set up exactly as `wandb agent`
sets up a child: the same expanded command (from which the trial's own args are taken), the same
param file and `WANDB_SWEEP_*` env, and `run_trial` with a config built by the same `parse_argv` +
`build_config` as `python -m agent`. wandb reads its env once per setup, so unless the backend has
just set wandb up for this run, each trial starts with `wandb.teardown()` (without it the second
trial silently reuses the first one's run id and locked config).

After each trial the worker checks that it is still clean: host RSS growth beyond a bound
(caches are allowed to grow when a new model or dataset first appears) or a broken / leaking
CUDA context sets `restart_reason`; the launcher then replaces the process (exit 75).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

from agent.backends.base import TrialControl, TrialOutcome, TrialSpec
from agent.backends.stopping import is_cancel
from agent.errors import one_line
from agent.runners.child import LOG_FILE, prepare
from agent.states import RunState
from agent.sweep_config import DEFAULT_COMMAND, module_args
from agent.trial import TRIAL_MODULE

RESTART_EXIT = 75  # EX_TEMPFAIL: "start me again"; the launcher does
RSS_GROWTH_ENV = "SWEEPKIT_WARM_RSS_GROWTH_MB"
DEFAULT_RSS_GROWTH_MB = 1024.0  # host growth tolerated after the caches are filled
CUDA_LEAK_MB = 512.0  # allocated GPU memory a finished trial may leave behind


class WarmUnsupported(ValueError):
    """This sweep cannot run warm (one line: why, and to use --cold)."""


def trial_args(argv: list[str]) -> list[str]:
    """The arguments the sweep's command hands to sweepkit's trial (`python -m agent ...`).

    Raises WarmUnsupported for any other program: a foreign script cannot run in-process.
    """
    args = module_args(argv, TRIAL_MODULE)
    if args is not None:
        return args
    for i, tok in enumerate(argv):
        if tok.endswith((".py", TRIAL_MODULE)) and _is_our_main(tok):
            return argv[i + 1 :]
    raise WarmUnsupported(
        f"the sweep command {' '.join(argv[:4])} ... does not run sweepkit's trial "
        f"(python -m {TRIAL_MODULE}), so its trials cannot run in-process: they run cold (--cold), a fresh "
        "process each"
    )


def _is_our_main(path: str) -> bool:
    here = Path(__file__).resolve().parents[1]
    try:
        p = Path(path).resolve()
    except OSError:
        return False
    return p in (here, here / "__main__.py")


@contextlib.contextmanager
def patched_env(updates: dict[str, str]):
    """os.environ with `updates` for the duration; restored exactly afterwards."""
    saved = {k: os.environ.get(k) for k in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def output_to(path: Path):
    """fds 1 and 2 (so C extensions, wandb and tqdm too) append to `path`, as a cold child's do."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def preload() -> float:
    """Import everything a trial imports, once per worker, before the first trial; returns seconds.

    Besides saving each trial the imports, this keeps them out of the window where a SIGTERM is
    turned into an exception by run_trial's handler: an import interrupted half-way leaves torch
    unusable for the rest of the process ("duplicate registrations"), which a warm worker must avoid.
    """
    t0 = time.monotonic()
    import importlib

    for name in (
        "torch",
        "transformers",
        "agent.trial.train",
        "agent.trial.data",
        "agent.trial.models",
        "wandb",
        "datasets",
        "evaluate",
        "sklearn.metrics",
        "scipy.stats",
    ):
        with contextlib.suppress(ImportError):  # the trial reports a missing package itself, with its fix
            importlib.import_module(name)
    from transformers import Trainer, TrainingArguments  # noqa: F401  (lazy submodules)

    return time.monotonic() - t0


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class WarmRunner:
    """A `TrialRunner` that runs sweepkit's trial in this process, trial after trial."""

    in_process = True

    def __init__(self, *, rss_growth_mb: Optional[float] = None, capture_output: bool = True, lean: bool = True):
        # lean=False: without the set-up savings (one listing of the installed packages, a frozen
        # heap, the raw data kept between trials), so a benchmark can measure them in one run.
        self.lean = lean
        self.rss_growth_mb = float(
            rss_growth_mb if rss_growth_mb is not None else os.environ.get(RSS_GROWTH_ENV) or DEFAULT_RSS_GROWTH_MB
        )
        self.capture_output = capture_output
        self.calls = 0
        self.last_status: Optional[RunState] = None
        self.last_result: Any = None
        self.restart_reason: Optional[str] = None
        self.rss_history: list[float] = []
        self.overhead_s: list[float] = []  # per trial: wall time outside Trainer's train loop
        self._baseline_rss: Optional[float] = None
        self._baseline_cuda: Optional[float] = None
        self._seen: set[tuple] = set()

    @staticmethod
    def check(config: dict) -> None:
        """WarmUnsupported unless the sweep's command runs sweepkit's trial."""
        command = config.get("command") or DEFAULT_COMMAND
        trial_args([str(config.get("program") or "") if c == "${program}" else str(c) for c in command])

    # -- one trial ---------------------------------------------------------------------------
    def __call__(self, spec: TrialSpec, config: dict, control: TrialControl) -> TrialOutcome:
        from agent.trial.argv import parse_argv
        from agent.trial.config import ConfigError, build_config

        self.calls += 1
        self.last_status = RunState.FAILED  # until run_trial says otherwise
        t0 = time.monotonic()
        argv, env = prepare(spec, config, env_base=dict(os.environ))  # writes the param file, as for a child
        env = {k: v for k, v in env.items() if os.environ.get(k) != v}
        args = trial_args(argv)
        try:
            cfg = build_config(parse_argv(args))
        except ConfigError as exc:  # a bad value in this trial's config; the process is fine
            return TrialOutcome(2, time.monotonic() - t0, reason=f"bad config: {exc}")
        report = None
        if control.on_row is not None:
            on_row = control.on_row

            def report(row: dict) -> Optional[str]:
                on_row("trial", row)
                return control.stop_reason()

        log = Path(spec.run_dir) / LOG_FILE
        with patched_env(env), output_to(log) if self.capture_output else contextlib.nullcontext():
            if self.capture_output:
                print(f"[sweepkit warm worker pid {os.getpid()}] trial {spec.run_id}: {' '.join(args)}", flush=True)
            try:
                result = self._run(cfg, report, fresh=not spec.wandb_ready, lean=self.lean)
            except Exception as exc:
                # run_trial reports trial failures in its result; an exception escaping it means this
                # process's state is suspect (e.g. a library import broken half-way): start afresh.
                self.restart_reason = f"run_trial raised {type(exc).__name__}; replacing the process to be safe"
                return TrialOutcome(1, time.monotonic() - t0, reason=f"{type(exc).__name__}: {one_line(exc)}")
        took = time.monotonic() - t0
        self.last_result, self.last_status = result, result.status
        self.overhead_s.append(took - (result.train_runtime_s or 0.0))
        self._check_health(result)
        ended = TrialOutcome(
            result.exit_code if result.status is not RunState.KILLED else None,
            took,
            summary=dict(result.metrics),
            log_complete=_wandb_run_closed(),
        )
        if result.status is RunState.KILLED:
            ended.stopped = "interrupted"
        elif result.status is RunState.PRUNED and is_cancel(result.reason):
            ended.exit_code, ended.stopped = None, result.reason  # stopped for the sweep's cancel: killed
        elif result.status is RunState.FAILED:
            ended.reason = result.reason or "trial failed"
        return ended

    @staticmethod
    def _run(cfg, report=None, fresh: bool = True, lean: bool = True):
        try:
            import wandb

            if fresh and wandb.run is None:
                wandb.teardown()  # wandb.agent does this before each job; here we are the agent
            if lean:
                _memoize_working_set()
        except ImportError:
            pass
        if not lean:
            from agent.trial import data

            data.forget_raw()
        from agent.trial.train import run_trial

        return run_trial(cfg, on_log=report)

    # -- staying clean -----------------------------------------------------------------------
    def _check_health(self, result) -> None:
        # run_trial has just collected: no second gc.collect here
        cfg = result.config or {}
        key = (
            cfg.get("model_name_or_path"),
            cfg.get("task_name"),
            cfg.get("max_seq_length"),
            cfg.get("train_file"),
            cfg.get("max_train_samples"),
            cfg.get("pad_to_max_length"),
        )
        new_cache_entry = key not in self._seen
        self._seen.add(key)
        if not self.lean:
            gc.collect()
        elif new_cache_entry:
            # What survived the trial's collection is imports and caches, here for good: frozen,
            # the collector stops re-scanning it after every trial (0.1-0.3 s each with torch).
            gc.freeze()
        rss = rss_mb()
        self.rss_history.append(rss)
        # A first sight of a model or dataset legitimately grows the in-memory caches: re-base.
        if self._baseline_rss is None or new_cache_entry:
            self._baseline_rss = max(rss, self._baseline_rss or 0.0)
        elif rss - self._baseline_rss > self.rss_growth_mb:
            self.restart_reason = (
                f"host memory grew {rss - self._baseline_rss:.0f} MB over "
                f"{len(self.rss_history)} trials (limit {self.rss_growth_mb:.0f} MB)"
            )
            return
        self.restart_reason = self._cuda_problem()

    def _cuda_problem(self) -> Optional[str]:
        """Why this process's CUDA context cannot be trusted for another trial, or None."""
        if "torch" not in sys.modules:
            return None
        import torch

        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return None
        try:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            probe = torch.ones(8, device="cuda") * 2  # a sticky error (illegal access, ECC) fails here
            float(probe.sum())
            del probe
        except Exception as exc:  # any CUDA error at all means this context is done
            return f"CUDA context broken after the last trial: {one_line(exc, 160)}"
        allocated = torch.cuda.memory_allocated() / 2**20
        if self._baseline_cuda is None:
            self._baseline_cuda = allocated
        elif allocated - self._baseline_cuda > CUDA_LEAK_MB:
            return (
                f"{allocated - self._baseline_cuda:.0f} MB of GPU memory still allocated after the trial "
                f"(limit {CUDA_LEAK_MB:.0f} MB)"
            )
        return None


def _memoize_working_set() -> None:
    """wandb.init lists every installed distribution for the run's requirements file (~0.5 s on CPU,
    a third of a warm trial's set-up); this process's packages do not change between its trials, so
    a warm worker lists them once and every run still gets the full list."""
    import wandb.util

    current = getattr(wandb.util, "working_set", None)
    if current is None or isinstance(current, _ListedOnce):
        return
    wandb.util.working_set = _ListedOnce(current)


class _ListedOnce:
    """A listing function whose first answer is kept and given again on every later call."""

    def __init__(self, list_them: Callable[[], Iterable[Any]]):
        self.list_them = list_them
        self.listed: Optional[list[Any]] = None

    def __call__(self) -> Iterator[Any]:
        if self.listed is None:
            self.listed = list(self.list_them())
        return iter(self.listed)


def _wandb_run_closed() -> bool:
    """False when an in-process trial left its wandb run open: its log gets no exit record to wait for."""
    wandb = sys.modules.get("wandb")
    return getattr(wandb, "run", None) is None
