"""From a trial config to what Trainer takes: the resolved hardware, TrainingArguments, the collator.

Needs only torch + transformers. Which TrainingArguments each key sets is declared in the config
table (`training_kwargs`); `check_applied` then proves every one of them arrived.
"""

from __future__ import annotations

from typing import Any

from agent.trial.config import ConfigError, TrialConfig, training_kwargs

HARDWARE_KEYS = ("precision", "tf32", "optim")  # "auto"-style keys resolved against the machine


def resolve_hardware(cfg: TrialConfig) -> dict[str, Any]:
    """Effective precision / tf32 / optim on this machine (the values training really uses)."""
    import torch

    cuda = torch.cuda.is_available() and not cfg.use_cpu
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    ampere = cuda and torch.cuda.get_device_capability()[0] >= 8
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if bf16_ok else "fp32"
    if precision == "fp16" and not cuda:
        why = "use_cpu is set" if cfg.use_cpu else "there is none"
        raise ConfigError(f"precision=fp16 needs a CUDA GPU and {why}; use precision=auto or fp32")
    if precision == "bf16" and cuda and not bf16_ok:
        raise ConfigError("precision=bf16 is not supported by this GPU; use precision=auto, fp16 or fp32")
    optim = cfg.optim
    if optim == "auto":
        optim = "adamw_torch_fused" if cuda else "adamw_torch"
    return {"precision": precision, "tf32": bool(cfg.tf32 and ampere), "optim": optim, "cuda": cuda}


def training_arguments(cfg: TrialConfig, output_dir: str, hw: dict[str, Any], run_name: str | None = None):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        run_name=run_name,
        logging_strategy="steps",
        logging_nan_inf_filter=False,  # HF's default hides a NaN loss from the logs (and from us)
        remove_unused_columns=False,  # our datasets hold model inputs + `length` only
        use_cpu=not hw["cuda"],
        **training_kwargs(cfg, hw),
    )


def check_applied(args, cfg: TrialConfig, hw: dict[str, Any]) -> None:
    """Every knob must have reached TrainingArguments (the silently-unapplied-sweep-key trap)."""
    for name, value in training_kwargs(cfg, hw).items():
        got = getattr(args, name)
        got = getattr(got, "value", got)  # enums
        if got != value:
            raise AssertionError(f"{name}={value!r} did not reach TrainingArguments (it holds {got!r})")


def make_collator(tokenizer, pad_to_multiple_of: int | None = None):
    """Dynamic padding per batch; drops the `length` helper column. Works on any map-style
    Dataset whose items are dicts of input_ids/attention_mask/token_type_ids/labels."""
    from transformers import DataCollatorWithPadding

    pad = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def collate(features):
        return pad([{k: v for k, v in f.items() if k not in ("length", "idx")} for f in features])

    return collate
