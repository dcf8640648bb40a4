"""The trial's keys as text: `python -m agent --help` and the README's config reference, from the table."""

from __future__ import annotations

from agent.trial.config import FIELDS, base_type, range_text
from agent.trial.flags import FLAGS, Flag


def _choices_or_range(name: str) -> str:
    meta = FIELDS[name].metadata
    if meta["choices"]:
        return "Choices: " + ", ".join(f"`{c}`" for c in meta["choices"]) + "."
    rng = range_text(name)
    return f"Range: {rng}." if rng else ""


def help_text() -> str:
    lines = [
        "usage: python -m agent [--key=value | key=value | --key value | args.json | --args_json_file F] ...",
        "",
        "Runs one trial: a Hugging Face Trainer fine-tune logged to W&B, then writes",
        "<output_dir>/trial_result.json. Under a sweep (WANDB_SWEEP_PARAM_PATH set) values come",
        "from wandb.config. Exit codes: 0 ok, 1 failed trial, 2 bad config, 143 SIGTERM.",
        "Environment: WANDB_PROJECT (default sweepkit), WANDB_MODE, WANDB_DIR, WANDB_WATCH,",
        "WANDB_LOG_MODEL, SWEEPKIT_RUN_DIR, SWEEPKIT_HOME (by hand, a trial writes under its trials/;",
        "default ./.sweepkit), SWEEPKIT_CACHE (tiny models, tokenized data; ~/.cache/sweepkit).",
        "",
        "keys:",
    ]
    for name, f in FIELDS.items():
        typ, optional = base_type(name)
        lines.append(f"  --{name} ({typ.__name__}{', optional' if optional else ''}) default: {f.default}")
        lines.append(
            f"      {f.metadata['help']}" + (f"  {_choices_or_range(name)}" if _choices_or_range(name) else "")
        )
    lines += ["", "run_glue's and TrainingArguments' own flags (the HF tutorial's command line works as it is):"]
    for name, flag in FLAGS.items():
        lines.append(f"  --{name}: {_flag_text(flag)}")
    return "\n".join(lines)


def _flag_text(flag: Flag) -> str:
    if flag.rename:
        return f"{flag.what}: the same as --{flag.rename}"
    return flag.what


def reference_markdown() -> str:
    """The README's config reference table (a test keeps the README equal to this)."""
    rows = ["| key | type | default | what |", "|---|---|---|---|"]
    for name, f in FIELDS.items():
        typ, optional = base_type(name)
        what = f"{f.metadata['help']}." + (f" {_choices_or_range(name)}" if _choices_or_range(name) else "")
        rows.append(f"| `{name}` | {typ.__name__}{'?' if optional else ''} | `{f.default}` | {what} |")
    return "\n".join(rows)


def flags_markdown() -> str:
    """The README's table of run_glue / TrainingArguments flags (a test keeps the README equal to this)."""
    rows = ["| flag | what sweepkit's trial does with it |", "|---|---|"]
    for name, flag in FLAGS.items():
        what = f"{flag.what}: the same as `{flag.rename}`" if flag.rename else flag.what
        rows.append(f"| `--{name}` | {what}. |")
    return "\n".join(rows)
