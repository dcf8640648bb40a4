"""wandb agent's command macros, expanded exactly as `wandb agent` does (wandb 0.31).

Behaviour copied from `wandb/wandb_agent.py::Agent._command_run` and
`wandb/sdk/launch/sweeps/utils.py::create_sweep_command{,_args}`:

- No `command` (or an empty one) means `[${env}, ${interpreter}, ${program}, ${args}]`.
- `${envvar:NAME}` is replaced anywhere inside an element first (NAME matches `[A-Z0-9_]*`);
  an unset variable becomes its own name, as in wandb.
- Every other macro expands only when it is a whole list element; `--x=${args}` stays literal.
- Only the top level of `params` becomes flags: a nested parameter is one flag whose value is
  Python's `str()` of the dict (`--opt={'lr': 0.1}`), because wandb formats `f"{k}={v}"`.
  `${args_json}` / `${args_json_file}` carry the nesting as JSON.
- `${args_no_boolean_flags}`: a true bool becomes a bare `--k`, a false one is dropped.

Two deliberate differences: `${interpreter}` is a parameter (the local engine passes
`sys.executable`, wandb hard-codes "python"), and an unknown macro or a `${program}` with no
program raises `SweepConfigError` instead of silently vanishing from the command line.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .problems import Problem, SweepConfigError, closest, join

DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
ENVVAR_RE = re.compile(r"\$\{envvar\:([A-Z0-9_]*)\}")
# Anything that looks like a macro, to catch `${...}` that is not whole or not known.
ANY_MACRO_RE = re.compile(r"\$\{([^}]*)\}")

ARG_MACROS = (
    "args",
    "args_no_equals",
    "args_no_hyphens",
    "args_no_boolean_flags",
    "args_json",
    "args_append_hydra",
    "args_override_hydra",
)
MACROS = ("env", "interpreter", "program", "args_json_file") + ARG_MACROS


def _json_default(value: Any) -> Any:
    # numpy scalars sneak in from samplers; JSON them as the Python numbers they are.
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"parameter value {value!r} of type {type(value).__name__} is not JSON serializable")


def args_json(params: Mapping[str, Any]) -> str:
    """The `${args_json}` string, and the content the caller writes to `${args_json_file}`."""
    return json.dumps(dict(params), default=_json_default)


def format_param_file(params: Mapping[str, Any]) -> dict:
    """`{key: {"value": v}}` for `WANDB_SWEEP_PARAM_PATH`; nesting stays inside each value."""
    return {k: {"value": v} for k, v in params.items()}


def arg_lists(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every args-style macro's expansion, in `params` order (wandb's create_sweep_command_args)."""
    out: dict[str, list[str]] = {name: [] for name in ARG_MACROS}
    for key, value in params.items():
        flag = f"{key}={value}"
        out["args"].append("--" + flag)
        out["args_no_hyphens"].append(flag)
        out["args_no_equals"] += [f"--{key}", str(value)]
        out["args_append_hydra"].append("+" + flag)
        out["args_override_hydra"].append("++" + flag)
        if isinstance(value, bool):
            if value:
                out["args_no_boolean_flags"].append("--" + key)
        else:
            out["args_no_boolean_flags"].append("--" + flag)
    out["args_json"] = [args_json(params)]
    return out


def substitute_envvars(element: Any, environ: Mapping[str, str]) -> str:
    text = str(element)
    # Right to left so earlier match offsets stay valid, as wandb does.
    for m in list(ENVVAR_RE.finditer(text))[::-1]:
        text = text[: m.start()] + environ.get(m.group(1), m.group(1)) + text[m.end() :]
    return text


def _did_you_mean_macro(name: str) -> str:
    close = closest(name, MACROS)
    return f" (did you mean ${{{close}}}?)" if close else ""


def expand_command(
    command: Optional[Sequence[Any]],
    *,
    program: Optional[str],
    params: Mapping[str, Any],
    args_json_file: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
    interpreter: str = "python",
) -> list[str]:
    """The argv `wandb agent` would run for one trial with `params` (top-level keys, nested values)."""
    environ = os.environ if environ is None else environ
    template = list(command) if command else list(DEFAULT_COMMAND)
    macro_values: dict[str, Optional[list[str]]] = dict(arg_lists(params))
    macro_values["interpreter"] = [interpreter]
    macro_values["env"] = [] if platform.system() == "Windows" else ["/usr/bin/env"]
    macro_values["program"] = [program] if program is not None else None
    macro_values["args_json_file"] = [args_json_file] if args_json_file is not None else None
    argv: list[str] = []
    for raw in template:
        element = substitute_envvars(raw, environ)
        if not (element.startswith("${") and element.endswith("}")):
            argv.append(element)
            continue
        name = element[2:-1]
        if name not in macro_values:
            raise SweepConfigError(f"command: unknown macro {element}{_did_you_mean_macro(name)}")
        value = macro_values[name]
        if value is None:
            what = "a `program` key" if name == "program" else "the path of the args JSON file"
            raise SweepConfigError(f"command: {element} needs {what}, and none was given")
        argv += value
    return argv


def command_problems(command: Any, program: Any, path: str = "command") -> list[Problem]:
    """What is wrong with a sweep's `command` (known macros, whole elements, `${program}` set)."""
    if command is None:
        return []
    if not isinstance(command, list):
        return [
            Problem(
                path,
                f"must be a list of strings, got {type(command).__name__}",
                'write it as a YAML list: command: ["${env}", "${interpreter}", "${program}", "${args}"]',
            )
        ]
    problems = []
    for i, element in enumerate(command):
        where = join(path, i)
        if isinstance(element, (dict, list)) or element is None:
            problems.append(
                Problem(
                    where,
                    f"must be a string, got {type(element).__name__}",
                    "quote the argument so YAML reads it as one string",
                )
            )
            continue
        text = str(element)
        for m in ANY_MACRO_RE.finditer(text):
            name = m.group(1)
            if name.startswith("envvar:"):
                if not ENVVAR_RE.fullmatch(m.group(0)):
                    problems.append(
                        Problem(
                            where,
                            f"{m.group(0)}: environment variable names here must match [A-Z0-9_]*",
                            "use the variable's upper-case name, e.g. ${envvar:DATA_DIR}",
                        )
                    )
                continue
            if name not in MACROS:
                problems.append(
                    Problem(
                        where,
                        f"unknown macro {m.group(0)}{_did_you_mean_macro(name)}",
                        "use one of " + ", ".join(f"${{{n}}}" for n in MACROS) + ", ${envvar:NAME}",
                    )
                )
            elif m.group(0) != text:
                problems.append(
                    Problem(
                        where,
                        f"{m.group(0)} is inside {text!r}, and wandb expands a macro only as a whole list element",
                        f"make {m.group(0)} its own list element",
                    )
                )
            elif name == "program" and program is None:
                problems.append(
                    Problem(
                        where,
                        "${program} is used but the config has no `program`",
                        "add `program: train.py` (your script), or drop ${program} from command",
                    )
                )
    return problems


def module_args(argv: Sequence[Any], module: str) -> Optional[list[str]]:
    """The arguments after `-m MODULE` (or `-m MODULE.__main__`) in a command; None if it runs no such module."""
    items = [str(a) for a in argv]
    for i, tok in enumerate(items[:-1]):
        if tok == "-m" and items[i + 1] in (module, f"{module}.__main__"):
            return items[i + 2 :]
    return None
