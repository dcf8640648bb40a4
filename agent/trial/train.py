"""One trial = one Hugging Face Trainer fine-tune, logged to W&B, summarized in trial_result.json.

`run_trial(cfg)` is re-entrant, so a warm worker can call it many times in one process: each
call does its own wandb.init/finish and frees GPU/host memory at the end. Under a sweep
(`WANDB_SWEEP_PARAM_PATH`), the values W&B locked into `wandb.config` override `cfg`, are
validated, and are checked against the TrainingArguments actually built, so a swept value can
never show in the UI without reaching training.
"""

from __future__ import annotations

import errno
import gc
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from agent.errors import one_line
from agent.paths import disk_full, disk_full_reason, trials_dir
from agent.states import RunState
from agent.trial.arguments import HARDWARE_KEYS, check_applied, make_collator, resolve_hardware, training_arguments
from agent.trial.config import ConfigError, TrialConfig, build_config, check_value
from agent.trial.result import TrialFailure, TrialKilled, TrialResult, gpu_agents, phase

METRIC_PATH = str(Path(__file__).with_name("metrics") / "glue.py")


def wandb_row(logs: dict, step: int) -> dict:
    """A Trainer log row under the names WandbCallback logs it with (eval_loss -> eval/loss)."""
    row = {(f"eval/{k[5:]}" if k.startswith("eval_") else f"train/{k}"): v for k, v in logs.items()}
    row["_step"] = step
    return row


def _callbacks(cfg: TrialConfig, stop: threading.Event, on_begin=None, on_log=None):
    import torch
    from transformers import TrainerCallback

    class FailureGuard(TrainerCallback):
        """Stops on a non-finite loss or SIGTERM; injects failures when asked (tests)."""

        def __init__(self):
            self.bad_loss: tuple[int, float] | None = None
            self.stopped_early: str | None = None  # why `on_log` asked to stop (e.g. pruned)

        def on_train_begin(self, args, state, control, **kw):
            if on_begin is not None:  # runs after WandbCallback's set-up, which writes its own view
                on_begin()

        def on_log(self, args, state, control, logs=None, **kw):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(loss):
                self.bad_loss = (state.global_step, loss)
                control.should_training_stop = True
            if on_log is not None and logs and self.stopped_early is None:
                why = on_log(wandb_row(logs, state.global_step))
                if why:  # the same stop as SIGTERM's, decided by whoever watches the metric
                    self.stopped_early = str(why)
                    control.should_training_stop = True
                    control.should_save = False

        def on_step_end(self, args, state, control, model=None, **kw):
            if stop.is_set():
                control.should_training_stop = True
                control.should_evaluate = control.should_save = False
            if state.global_step == 1 and cfg.inject_failure != "none":
                if cfg.inject_failure == "exception":
                    raise RuntimeError("injected failure (inject_failure=exception)")
                if cfg.inject_failure == "oom":
                    raise torch.OutOfMemoryError("CUDA out of memory (injected: inject_failure=oom)")
                if cfg.inject_failure == "disk_full":
                    raise OSError(errno.ENOSPC, "No space left on device (injected: inject_failure=disk_full)")
                with torch.no_grad():  # nan: poison the weights so the next losses are NaN
                    for p in model.parameters():
                        p.fill_(float("nan"))

    return FailureGuard()


# ---- W&B ----------------------------------------------------------------------------------


def _wandb_start(cfg: TrialConfig, sweep: bool):
    import wandb

    os.environ.setdefault("WANDB_PROJECT", "sweepkit")
    # An agent sets WANDB_DIR to the run's folder; by hand, the run goes beside the trial's output.
    where = Path(os.environ.get("WANDB_DIR") or cfg.output_dir or trials_dir())
    where.mkdir(parents=True, exist_ok=True)  # wandb falls back to a temp dir for a missing one
    return wandb.init(project=os.environ["WANDB_PROJECT"], dir=str(where), reinit="finish_previous")


def _sweep_config(run, cfg: TrialConfig) -> TrialConfig:
    """cfg overridden by what the sweep put into wandb.config, validated like any other input."""
    swept = {k: v for k, v in dict(run.config).items() if not k.startswith("_")}
    return build_config({**_explicit(cfg), **swept})


def _explicit(cfg: TrialConfig) -> dict[str, Any]:
    default = TrialConfig()
    return {k: v for k, v in cfg.to_dict().items() if getattr(default, k) != v}


def _locked(run) -> set[str]:
    return set(getattr(run.config, "_locked", {}) or {})


def _publish_config(run, effective: dict[str, Any], cfg: TrialConfig) -> None:
    """W&B config := the effective values. Locked (swept) keys cannot be written, so they are
    checked instead: what W&B shows must be exactly what training used."""
    locked = _locked(run)
    run.config.update({k: v for k, v in effective.items() if k not in locked}, allow_val_change=True)
    for k in locked & set(effective):
        shown = run.config.get(k)
        used = getattr(cfg, k)
        # What W&B shows, read as the table reads it: YAML 1.1's string '2e-4' is 0.0002, 'MRPC' is mrpc.
        meant = check_value(k, shown)
        if meant != used and not (
            isinstance(meant, (int, float))
            and isinstance(used, (int, float))
            and math.isclose(meant, used, rel_tol=1e-12)
        ):
            raise AssertionError(f"sweep key {k}: W&B shows {shown!r} but training used {used!r}")
        if k in HARDWARE_KEYS and effective[k] != used:
            run.config.update({f"{k}_effective": effective[k]}, allow_val_change=True)


def _default_output_dir(run) -> str:
    if os.environ.get("SWEEPKIT_RUN_DIR"):
        return os.environ["SWEEPKIT_RUN_DIR"]
    rid = getattr(run, "id", None) or time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    return str(trials_dir() / rid)


# ---- the trial ----------------------------------------------------------------------------


def _install_sigterm(stop: threading.Event, signals: dict):
    if threading.current_thread() is not threading.main_thread():
        return None  # signals can only be handled on the main thread (wandb.agent runs f in a thread)

    def handler(signum, frame):
        stop.set()
        if signals["raise"]:  # set-up or evaluation: nothing polls `stop`, so interrupt now
            raise TrialKilled()

    return signal.signal(signal.SIGTERM, handler)


def _metrics_fn(task: str, regression: bool):
    import evaluate
    import numpy as np

    metric = evaluate.load(METRIC_PATH, task)

    def compute(p):
        logits = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        preds = np.squeeze(logits) if regression else np.argmax(logits, axis=1)
        return metric.compute(predictions=preds, references=p.label_ids)

    return compute


def _one_line(exc: BaseException) -> str:
    import torch

    from agent.trial.data import DataError
    from agent.trial.models import ModelLoadError

    if isinstance(exc, (DataError, ModelLoadError, TrialFailure)):
        return str(exc)
    if isinstance(exc, torch.OutOfMemoryError):
        return "CUDA out of memory; fix: lower per_device_train_batch_size or max_seq_length, or use precision=bf16"
    return f"{type(exc).__name__}: {one_line(exc)}" if str(exc).strip() else type(exc).__name__


def run_trial(cfg: TrialConfig, on_log=None) -> TrialResult:
    """Run one fine-tune end to end. Never raises for trial failures: the result says why.
    Raises ConfigError (exit 2) for bad values found after wandb.init under a sweep.

    `on_log(row)`, optional, sees every logged row (W&B names: `eval/loss`, `train/loss`, `_step`);
    returning a reason stops training at that step, and the result is "pruned" with that reason."""
    t0 = time.monotonic()
    sweep = bool(os.environ.get("WANDB_SWEEP_PARAM_PATH"))
    run = None
    stop, signals = threading.Event(), {"raise": True}
    previous = _install_sigterm(stop, signals)
    result = TrialResult(status=RunState.FAILED, config=cfg.to_dict())
    try:
        if cfg.report_to == "wandb" or sweep:
            with phase(result, "wandb_init"):
                run = _wandb_start(cfg, sweep)
            result.run_id = run.id
            if sweep:
                cfg = _sweep_config(run, cfg)
        hw = resolve_hardware(cfg)
        effective = {**cfg.to_dict(), **{k: hw[k] for k in HARDWARE_KEYS}}
        effective["output_dir"] = cfg.output_dir or _default_output_dir(run)
        result.config, result.output_dir = effective, effective["output_dir"]
        if run is not None:
            _publish_config(run, effective, cfg)
        result = _train(cfg, hw, effective, run, result, stop, signals, on_log)
    except ConfigError as exc:
        result.reason = str(exc)
        _finish(run, result, exit_code=2)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        raise
    except TrialKilled:
        result.status, result.reason = RunState.KILLED, "stopped by SIGTERM"
    except Exception as exc:
        result.status, result.reason = RunState.FAILED, _one_line(exc)
        if disk_full(exc, result.output_dir):
            _mark_disk_full(result)
    finally:
        signals["raise"] = False  # from here a SIGTERM only marks the trial; the run still finishes
        _free_memory()
    try:
        result.runtime_s = round(time.monotonic() - t0, 3)
        if stop.is_set() and result.status is RunState.FINISHED:
            result.status, result.reason = RunState.KILLED, "stopped by SIGTERM"
        if result.output_dir:
            try:
                result.write(result.output_dir)  # the wandb finish below is not in its phases
            except OSError as exc:
                if not disk_full(exc, result.output_dir):
                    raise
                _mark_disk_full(result)  # the agent still learns it from the exit code
        try:
            _finish(run, result)
        except Exception as exc:
            if not result.disk_full and not disk_full(exc, result.output_dir):
                raise
            _mark_disk_full(result)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return result


def _train(cfg, hw, effective, run, result, stop, signals, on_log=None) -> TrialResult:
    import torch
    from transformers import Trainer

    from agent.trial import data, models

    cuda = hw["cuda"]
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        agents_at_start = gpu_agents() or 1
    with phase(result, "tokenizer"):
        tokenizer = models.load_tokenizer(cfg.model_name_or_path)
    with phase(result, "data"):
        fingerprint = models.tokenizer_fingerprint(cfg.model_name_or_path, tokenizer)
        task = data.load_task_data(cfg, tokenizer, fingerprint)
    result.data_cache = task.cache
    id2label = dict(enumerate(task.label_names)) if task.label_names else None
    with phase(result, "model"):
        model = models.build_model(
            cfg.model_name_or_path,
            task.num_labels,
            cfg.seed,
            problem_type="regression" if task.is_regression else None,
            id2label=id2label,
        )
    result.num_parameters = model.num_parameters()
    with phase(result, "arguments"):
        args = training_arguments(cfg, effective["output_dir"], hw, run_name=getattr(run, "name", None))
        check_applied(args, cfg, hw)
    # HF's WandbCallback writes TrainingArguments' own spelling of some keys over ours at
    # train begin (warmup_steps as a ratio, tf32=None on CPU); put the effective values back.
    republish = (
        None
        if run is None
        else (
            lambda: run.config.update(
                {k: v for k, v in effective.items() if k not in _locked(run)}, allow_val_change=True
            )
        )
    )
    guard = _callbacks(cfg, stop, republish, on_log)
    with phase(result, "metric_load"):
        compute_metrics = _metrics_fn(task.task, task.is_regression)
    with phase(result, "trainer_init"):
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=task.train,
            eval_dataset=task.eval,
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
            data_collator=make_collator(tokenizer, 8 if cuda and not cfg.pad_to_max_length else None),
            callbacks=[guard],
        )
    signals["raise"] = False  # the FailureGuard callback polls `stop` at every step
    try:
        with phase(result, "train"):
            out = trainer.train()
    finally:
        signals["raise"] = True
    state = trainer.state
    result.global_step = state.global_step
    result.train_runtime_s = out.metrics.get("train_runtime")
    evals = [h for h in state.log_history if any(k.startswith("eval_") for k in h)]
    if stop.is_set():
        result.status, result.reason = RunState.KILLED, "stopped by SIGTERM"
    elif guard.stopped_early:
        result.status, result.reason = RunState.PRUNED, guard.stopped_early
    elif guard.bad_loss or not math.isfinite(out.training_loss):
        step, loss = guard.bad_loss or (state.global_step, out.training_loss)
        result.status = RunState.FAILED
        result.reason = f"loss became {loss} at step {step}; fix: lower learning_rate or use precision=fp32"
    else:
        if cfg.eval_strategy == "no" or not evals or evals[-1].get("step") != state.global_step:
            with phase(result, "final_eval"):
                trainer.evaluate()
            evals = [h for h in state.log_history if any(k.startswith("eval_") for k in h)]
        result.status = RunState.FINISHED
    if evals:
        result.metrics = {
            f"eval/{k[5:]}": v for k, v in evals[-1].items() if k.startswith("eval_") and isinstance(v, (int, float))
        }
    if cuda:
        result.peak_gpu_memory_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        result.gpu_share = round(2.0 / (agents_at_start + (gpu_agents() or 1)), 4)
    if run is not None:
        run.summary.update(
            {
                **result.metrics,
                "train/train_runtime": result.train_runtime_s,
                "train/train_samples_per_second": out.metrics.get("train_samples_per_second"),
                "num_parameters": result.num_parameters,
                "peak_gpu_memory_mb": result.peak_gpu_memory_mb,
                "gpu_share": result.gpu_share,
                "global_step": result.global_step,
            }
        )
    trainer.model = None
    del trainer, model
    return result


def _finish(run, result: TrialResult, exit_code: int | None = None) -> None:
    if run is None:
        return
    if result.status is RunState.KILLED:
        run.summary["stopped_by"] = "sigterm"
    elif result.status is RunState.FAILED:
        run.summary["failure_reason"] = result.reason
    elif result.status is RunState.PRUNED:
        run.summary["stopped_by"] = result.reason
    run.summary["status"] = result.status
    # A killed run ends cleanly (exit 0): W&B's own early-terminate stops are not failures.
    code = exit_code if exit_code is not None else (result.exit_code if result.status is RunState.FAILED else 0)
    run.finish(exit_code=code)


def _mark_disk_full(result: TrialResult) -> None:
    if not result.disk_full:
        result.status, result.disk_full = RunState.FAILED, True
        result.reason = disk_full_reason(result.output_dir)


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
