"""`sweepkit validate FILE...`: W&B's sweep schema, and the trial's own keys when the sweep runs our trial;
then the warnings: what is valid but may not run as meant (exit 0 unless --strict)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Optional

import click

from agent.cli.session import Session, max_grid_option, pass_session
from agent.sweep_config import ParamCheck, Problem, SweepConfigError, load_sweep_file, module_args, validate
from agent.sweep_config.limits import MAX_FILE_BYTES, MAX_GRID
from agent.sweep_config.traps import numeric_strings, yaml_float
from agent.trial import TRIAL_MODULE

# What marks a program as an HF Trainer script, and what shows it reports to W&B by itself.
_TRAINER = re.compile(r"\b(TrainingArguments|HfArgumentParser)\b")
_REPORTS = re.compile(r"\breport_to\s*=|\bwandb\.init\s*\(")  # sets report_to, or starts its own run


def runs_trial(config: dict) -> bool:
    """Whether the sweep's command runs sweepkit's trial (`python -m agent`)."""
    return isinstance(config.get("command"), list) and module_args(config["command"], TRIAL_MODULE) is not None


def trial_check(config: dict) -> Optional[ParamCheck]:
    """When the sweep's command runs sweepkit's trial (`-m agent`), check each parameter against its table."""
    if not runs_trial(config):
        return None
    from agent.trial.draws import check_draws

    return lambda name, d: check_draws(name, d.values, d.low, d.high, d.integral, d.nested)


def problems_of(path: str, max_grid: int = MAX_GRID) -> tuple[Optional[dict], list[str]]:
    """(the config, every problem as one line) of a sweep file."""
    try:
        config = load_sweep_file(path)
    except SweepConfigError as exc:
        return None, [str(exc)]
    found: list[Problem] = validate(
        config, check_param=trial_check(config) if isinstance(config, dict) else None, max_grid=max_grid
    )
    return config, [str(p) for p in found]


def warnings_of(config: Any) -> list[Problem]:
    """What a valid sweep holds that may not run as meant: numbers YAML read as text, and an HF Trainer
    script that would report nowhere."""
    if not isinstance(config, dict):
        return []
    ours = runs_trial(config)
    out = [_text_number(path, name, v, ours) for path, name, v in numeric_strings(config)]
    if not ours:
        out += _silent_trainer(config)
    return out


def _text_number(path: str, name: str, value: str, ours: bool) -> Problem:
    said = f"{value!r} is text, not a number, to YAML 1.1 and so to W&B"
    meant = _as_trial_number(name, value) if ours else None
    if meant is not None:
        said += f"; sweepkit's trial reads it as {meant:g}, but W&B shows and groups it as text"
    else:
        said += f", so the program gets the string {value!r}"
    return Problem(path, said, f"write {yaml_float(value)}")


def _as_trial_number(name: str, value: str) -> Optional[float]:
    from agent.trial.config import ConfigError, check_value, translate_flags

    try:
        (key, raw), *_ = translate_flags({name: value}).items()
        got = check_value(key, raw)
    except (ConfigError, ValueError):
        return None
    return float(got) if isinstance(got, (int, float)) and not isinstance(got, bool) else None


def _silent_trainer(config: dict) -> list[Problem]:
    """An HF Trainer script that sets no report_to: since transformers 5 it reports nowhere by default, so
    it would start no W&B run and log no metric."""
    params = config.get("parameters") or {}
    command = [str(c) for c in config.get("command") or []]
    if "report_to" in params or any("report_to" in c for c in command):
        return []
    programs = [str(config["program"])] if isinstance(config.get("program"), str) else []
    for prog in dict.fromkeys(programs + [c for c in command if c.endswith(".py")]):
        try:
            with open(prog, "rb") as fh:
                text = fh.read(MAX_FILE_BYTES).decode(errors="replace")
        except OSError:
            continue
        if _TRAINER.search(text) and not _REPORTS.search(text):
            return [
                Problem(
                    "parameters",
                    f"{Path(prog).name} builds HF TrainingArguments and sets no report_to, which transformers 5 "
                    "defaults to none: its runs would start no W&B run and log no metric",
                    "add `report_to: {value: wandb}` to parameters",
                )
            ]
    return []


def load_valid(session: Session, path: str, max_grid: int = MAX_GRID) -> dict:
    """The config of a valid sweep file; otherwise every problem on stderr and exit 2. Warnings go to stderr."""
    config, problems = problems_of(path, max_grid)
    for p in problems[1:] if config is None else problems:
        session.err.print(f"{path}: {p}")
    if config is None:
        session.fail(problems[0])
    if problems:
        session.fail(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}; sweep not valid")
    for w in warnings_of(config):
        session.err.print(f"{path}: warning: {w}")
    return config


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@max_grid_option
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 2).")
@pass_session
def validate_command(session: Session, files: tuple[str, ...], max_grid: int, strict: bool) -> None:
    """Check sweep YAMLs against W&B's sweep schema and, for sweeps of sweepkit's trial, its keys and
    ranges (exit 2 and one line per problem if not); then warn of what is valid but may not run as meant
    (numbers YAML reads as text, an HF Trainer script that reports nowhere): exit 0 unless --strict."""
    bad = 0
    for path in files:
        config, problems = problems_of(path, max_grid)
        for p in problems:
            session.err.print(p if p.startswith(path) else f"{path}: {p}")
        warned = [] if problems else warnings_of(config)
        for w in warned:
            session.err.print(f"{path}: warning: {w}")
        if problems or (strict and warned):
            bad += 1
        else:
            click.echo(f"{path}: ok" + (f" ({len(warned)} warning{'s' if len(warned) != 1 else ''})" if warned else ""))
    if bad:
        sys.exit(2)
