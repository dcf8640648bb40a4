"""`validate(config)`: every way a sweep config breaks W&B's schema, or would only fail later.

Rules come from wandb/sweeps `src/sweeps/config/schema.json` (draft-07) and `cfg.py`/`schema.py`
(min < max, probabilities, the deprecated exponent forms), checked by hand so that each finding
names its YAML path, what is wrong, and the fix. Beyond the schema it rejects what W&B accepts
but cannot run: grid over a continuous distribution, bayes or hyperband without a metric,
unknown or misplaced command macros, hyperband settings that give no band, sigma/a/b of 0.

Deliberate differences, each a config W&B's server takes but sweepkit cannot run: W&B Launch
keys (`job`, `image_uri`, `scheduler`, `metrics`, `method: custom`) are reported as unsupported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Optional

from .distributions import (
    GRID_OK,
    SCHEMA,
    Draws,
    ParamSpec,
    infer_distribution,
    is_int,
    is_number,
)
from .hyperband import hyperband_rungs
from .limits import GRID_ENV, GRID_OPTION, MAX_GRID
from .macros import command_problems
from .parameters import check_parameters
from .problems import Problem, SweepConfigError, enum_problem, join, json_int, number_problem, type_name, unknown_key
from .space import grid_size

TOP_LEVEL_KEYS = (
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "command",
    "program",
    "run_cap",
    "name",
    "description",
    "project",
    "entity",
    "controller",
    "apiVersion",
    "kind",
)
LAUNCH_KEYS = ("job", "image_uri", "scheduler", "metrics")
METHODS = ("grid", "random", "bayes")
METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
GOALS = ("minimize", "maximize")
IMPUTE = ("latest", "best", "worst")
HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")
_STRING_KEYS = ("program", "name", "description", "project", "entity", "apiVersion")


# Checks what a parameter can hand the program: (name, draws) -> [(where, problem, fix)], `where` one of
# "" (the parameter), "value" (one of its listed values), "min" or "max".
ParamCheck = Callable[[str, Draws], list[tuple[str, str, str]]]


def validate(config: Any, check_param: Optional[ParamCheck] = None, max_grid: int = MAX_GRID) -> list[Problem]:
    """Every problem with a sweep config (an empty list: W&B and sweepkit both accept it).

    `check_param`, when given, also checks each top-level parameter against what the program takes
    (for sweepkit's own trial: its config table), once the config passes W&B's schema. A grid of
    more than `max_grid` points is a problem too, found by counting, never by building the grid.
    """
    if not isinstance(config, dict):
        return [
            Problem(
                "",
                f"a sweep config must be a mapping, got {type_name(config)}",
                "write top-level keys such as method:, metric:, parameters:",
            )
        ]
    problems: list[Problem] = []
    for key in config:
        if key in LAUNCH_KEYS:
            problems.append(
                Problem(
                    str(key),
                    f"`{key}` is a W&B Launch key, which sweepkit does not run",
                    "remove it and give `program` (and optionally `command`) instead",
                )
            )
        elif key not in TOP_LEVEL_KEYS:
            problems.append(unknown_key("", key, TOP_LEVEL_KEYS, "the sweep config"))

    method = config.get("method")
    if "method" not in config:
        problems.append(
            Problem("method", "missing: every sweep needs a search method", "add `method: random` (or grid, or bayes)")
        )
    elif method == "custom":
        problems.append(
            Problem(
                "method",
                "`custom` needs a W&B Launch scheduler, which sweepkit does not run",
                "use method: grid, random or bayes",
            )
        )
    elif method not in METHODS:
        problems.append(enum_problem("method", method, METHODS, "method"))

    for key in _STRING_KEYS:
        if key in config and not isinstance(config[key], str):
            problems.append(Problem(key, f"must be a string, got {type_name(config[key])}", f"quote the {key}"))
    if "kind" in config and config["kind"] != "sweep":
        problems.append(enum_problem("kind", config["kind"], ("sweep",), "kind"))
    if "controller" in config:
        problems += _controller(config["controller"])
    if "run_cap" in config:
        cap = config["run_cap"]
        if not json_int(cap) or cap <= 0:
            problems.append(
                Problem(
                    "run_cap",
                    f"must be an integer > 0, got {cap!r}",
                    "set run_cap to the most runs the sweep may start, e.g. 20",
                )
            )
    if "metric" in config:
        problems += _metric(config["metric"])
    if "early_terminate" in config:
        problems += _early_terminate(config["early_terminate"])

    leaves: list[tuple[str, str]] = []
    param_problems: list[Problem] = []
    if "parameters" not in config:
        problems.append(
            Problem(
                "parameters",
                "missing: W&B needs the parameters to sweep",
                "add parameters:, e.g. `learning_rate: {min: 1.0e-5, max: 1.0e-3}`",
            )
        )
    else:
        param_problems = check_parameters(config["parameters"], "parameters", leaves)
        problems += param_problems
        if check_param is not None and not param_problems:
            problems += _program_problems(config["parameters"], check_param)

    program = config.get("program") if isinstance(config.get("program"), str) else None
    problems += command_problems(config.get("command"), program)
    if "program" not in config and not config.get("command"):
        # W&B's docs mark program required; its schema doesn't, but the default command runs it.
        problems.append(
            Problem(
                "program",
                "missing: the default command [${env}, ${interpreter}, ${program}, ${args}] runs it",
                "add `program: train.py` (your script), or give a `command`",
            )
        )

    if method == "bayes" and "metric" not in config:
        problems.append(
            Problem(
                "metric",
                "missing: method bayes needs a metric to optimize",
                "add `metric: {name: eval/loss, goal: minimize}` naming a logged value",
            )
        )
    if "early_terminate" in config and "metric" not in config:
        problems.append(
            Problem(
                "metric",
                "missing: hyperband early_terminate needs a metric to compare runs on",
                "add `metric: {name: eval/loss, goal: minimize}` naming a logged value",
            )
        )
    if method == "grid":
        grid_problems = len(problems)
        for path, dist in leaves:
            if dist == "categorical_w_probabilities":
                problems.append(
                    Problem(
                        join(path, "probabilities"),
                        "grid search does not take probabilities",
                        "drop probabilities (a grid runs every value once), or use method: random",
                    )
                )
            elif dist not in GRID_OK:
                problems.append(
                    Problem(
                        path,
                        f"grid search cannot enumerate a {dist} distribution",
                        "give it `values: [...]` (or int_uniform / q_uniform bounds), or use method: random or bayes",
                    )
                )
        if "parameters" in config and len(problems) == grid_problems and not param_problems:
            problems += _grid_bound(config["parameters"], max_grid)
    return problems


def _grid_bound(params: dict, max_grid: int) -> list[Problem]:
    try:
        size: int | None = grid_size(params)
    except (ValueError, OverflowError):  # a q_uniform range with no finite length
        size = None
    if size is not None and size <= max_grid:
        return []
    count = "more points than can be counted" if size is None else f"{size:,} points"
    return [
        Problem(
            "parameters",
            f"the grid has {count}, more than the {max_grid:,} allowed (each point is one run)",
            f"shorten the value lists, use method: random with run_cap, or raise the bound with {GRID_OPTION} N "
            f"(or {GRID_ENV}=N)",
        )
    ]


def _program_problems(params: dict, check: ParamCheck) -> list[Problem]:
    out = []
    for name, p in params.items():
        path = join("parameters", name)
        nested = "parameters" in p
        draws = Draws(nested=True) if nested else ParamSpec(name, (name,), str(infer_distribution(p)), p).draws()
        for where, message, fix in check(name, draws):
            key = {"value": "values" if "values" in p else "value"}.get(where, where)
            out.append(Problem(join(path, key) if key else path, message, fix))
    return out


def _controller(c: Any) -> list[Problem]:
    if not isinstance(c, dict):
        return [Problem("controller", f"must be a mapping, got {type_name(c)}", "write `controller: {type: cloud}`")]
    if "type" not in c:
        return [Problem("controller.type", "missing", "add `type: cloud` (or local)")]
    if c["type"] not in ("local", "cloud"):
        return [enum_problem("controller.type", c["type"], ("local", "cloud"), "controller type")]
    return []


def _metric(m: Any) -> list[Problem]:
    if not isinstance(m, dict):
        return [
            Problem(
                "metric", f"must be a mapping, got {type_name(m)}", "write `metric: {name: eval/loss, goal: minimize}`"
            )
        ]
    out = [unknown_key("metric", k, METRIC_KEYS, "metric") for k in m if k not in METRIC_KEYS]
    if "name" not in m:
        out.append(
            Problem(
                "metric.name",
                "missing: the metric needs the name of a logged value",
                "add `name: eval/loss` (a key your script logs)",
            )
        )
    elif not isinstance(m["name"], str):
        out.append(Problem("metric.name", f"must be a string, got {type_name(m['name'])}", "quote the metric name"))
    if "goal" in m and m["goal"] not in GOALS:
        out.append(enum_problem("metric.goal", m["goal"], GOALS, "goal"))
    if "target" in m and not is_number(m["target"]):
        out.append(number_problem("metric.target", m["target"]))
    if "impute" in m and m["impute"] not in IMPUTE:
        out.append(enum_problem("metric.impute", m["impute"], IMPUTE, "impute"))
    if "impute_while_running" in m and m["impute_while_running"] not in IMPUTE + ("false",):
        v = m["impute_while_running"]
        out.append(
            Problem(
                "metric.impute_while_running",
                f'{v!r} is not one of latest, best, worst, "false"',
                'write the string "false" in quotes (YAML reads bare false as a boolean)'
                if v is False
                else 'use one of: latest, best, worst, "false"',
            )
        )
    return out


def _early_terminate(et: Any) -> list[Problem]:
    p = "early_terminate"
    if not isinstance(et, dict):
        return [
            Problem(
                p, f"must be a mapping, got {type_name(et)}", "write `early_terminate: {type: hyperband, min_iter: 3}`"
            )
        ]
    out = [unknown_key(p, k, HYPERBAND_KEYS, "early_terminate") for k in et if k not in HYPERBAND_KEYS]
    if "type" not in et:
        out.append(Problem(join(p, "type"), "missing", "add `type: hyperband`"))
    elif et["type"] != "hyperband":
        out.append(enum_problem(join(p, "type"), et["type"], ("hyperband",), "early_terminate type"))
    if "min_iter" not in et and not ("max_iter" in et and "s" in et):
        missing = "s" if "max_iter" in et else "min_iter"
        out.append(
            Problem(
                join(p, missing),
                "missing: hyperband needs min_iter, or max_iter together with s",
                "add `min_iter: 3` (first band), or `max_iter: 27` with `s: 2`",
            )
        )
    for key in ("min_iter", "max_iter", "s"):
        v = et.get(key)
        # schema: max_iter and min_iter are integers; s is any number, but W&B loops range(s),
        # which fails on a float (even 2.0).
        whole = is_int(v) if key == "s" else json_int(v)
        if key in et and not (whole and v is not None and v >= 1):
            out.append(
                Problem(
                    join(p, key), f"must be an integer >= 1, got {v!r}", f"set {key} to a whole number of iterations"
                )
            )
    if "eta" in et and not (is_number(et["eta"]) and et["eta"] > 1):
        out.append(Problem(join(p, "eta"), f"must be a number > 1, got {et['eta']!r}", "use eta: 3 (the default) or 2"))
    if "strict" in et and not isinstance(et["strict"], bool):
        out.append(Problem(join(p, "strict"), f"must be true or false, got {et['strict']!r}", "write strict: true"))
    if not out:
        try:
            hyperband_rungs(et)
        except ValueError as exc:
            out.append(Problem(p, str(exc), "raise max_iter or s, or lower eta, so that max_iter / eta >= 1"))
    return out


def fill_defaults(config: dict) -> dict:
    """A copy of a valid config with W&B's defaults written in (metric goal, eta, q, mu, sigma...)
    and every leaf's `distribution` made explicit."""
    cfg = copy.deepcopy(config)
    if isinstance(cfg.get("metric"), dict):
        cfg["metric"].setdefault("goal", "minimize")
        cfg["metric"].setdefault("impute", "worst")
        cfg["metric"].setdefault("impute_while_running", "false")
    if isinstance(cfg.get("early_terminate"), dict):
        cfg["early_terminate"].setdefault("eta", 3)
        cfg["early_terminate"].setdefault("strict", True)

    def fill(params: dict) -> None:
        for param in params.values():
            if "parameters" in param:
                fill(param["parameters"])
                continue
            dist = infer_distribution(param)
            assert dist is not None, "fill_defaults takes a validated config"
            param["distribution"] = dist
            for key, default in SCHEMA[dist][1].items():
                param.setdefault(key, default)

    if isinstance(cfg.get("parameters"), dict):
        fill(cfg["parameters"])
    return cfg


def check_config(config: Any, source: str = "sweep config") -> dict:
    """`config` itself when valid; else SweepConfigError (one line; `.problems` lists them all)."""
    problems = validate(config)
    if problems:
        raise SweepConfigError.from_problems(problems, source)
    return config
