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
import math
import re
from typing import Any

import numpy as np

from .distributions import (DISTRIBUTIONS, GRID_OK, LEGACY, PARAM_KEYS, SCHEMA, infer_distribution,
                            is_int, is_number)
from .macros import command_problems
from .problems import Problem, SweepConfigError, closest, did_you_mean, join
from .rungs import hyperband_rungs

TOP_LEVEL_KEYS = ("method", "metric", "parameters", "early_terminate", "command", "program", "run_cap", "name",
                  "description", "project", "entity", "controller", "apiVersion", "kind")
LAUNCH_KEYS = ("job", "image_uri", "scheduler", "metrics")
METHODS = ("grid", "random", "bayes")
METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
GOALS = ("minimize", "maximize")
IMPUTE = ("latest", "best", "worst")
HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# PyYAML (YAML 1.1) reads `1e-5` and `1.0e5` as strings: a float needs a dot and a signed exponent.
_LOOKS_NUMERIC = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?")
_STRING_KEYS = ("program", "name", "description", "project", "entity", "apiVersion")


def _json_int(v: Any) -> bool:
    """JSON-schema "integer": an int, or a float with no fraction (draft-07), never a bool."""
    return is_int(v) or (isinstance(v, float) and v.is_integer())


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _number_problem(path: str, v: Any, what: str = "a number") -> Problem:
    if isinstance(v, str) and _LOOKS_NUMERIC.fullmatch(v.strip()):
        return Problem(path, f"'{v}' is a string, not {what} (YAML 1.1 reads '1e-5' as text)",
                       "write it with a decimal point and a signed exponent, e.g. 1.0e-5 or 1.0e+3")
    return Problem(path, f"must be {what}, got {_type_name(v)} {v!r}", f"set it to {what}")


def _enum_problem(path: str, v: Any, allowed: tuple, what: str) -> Problem:
    return Problem(path, f"{v!r} is not a valid {what}{did_you_mean(v, allowed)}",
                   "use one of: " + ", ".join(map(str, allowed)))


def _unknown_key(path: str, key: Any, allowed: tuple, where: str) -> Problem:
    return Problem(join(path, key), f"unknown key `{key}` in {where}{did_you_mean(key, allowed)}",
                   f"rename it to `{closest(key, allowed)}`" if closest(key, allowed)
                   else "remove it; allowed keys: " + ", ".join(allowed))


def validate(config: Any) -> list[Problem]:
    """Every problem with a sweep config (an empty list: W&B and sweepkit both accept it)."""
    if not isinstance(config, dict):
        return [Problem("", f"a sweep config must be a mapping, got {_type_name(config)}",
                        "write top-level keys such as method:, metric:, parameters:")]
    problems: list[Problem] = []
    for key in config:
        if key in LAUNCH_KEYS:
            problems.append(Problem(str(key), f"`{key}` is a W&B Launch key, which sweepkit does not run",
                                    "remove it and give `program` (and optionally `command`) instead"))
        elif key not in TOP_LEVEL_KEYS:
            problems.append(_unknown_key("", key, TOP_LEVEL_KEYS, "the sweep config"))

    method = config.get("method")
    if "method" not in config:
        problems.append(Problem("method", "missing: every sweep needs a search method",
                                "add `method: random` (or grid, or bayes)"))
    elif method == "custom":
        problems.append(Problem("method", "`custom` needs a W&B Launch scheduler, which sweepkit does not run",
                                "use method: grid, random or bayes"))
    elif method not in METHODS:
        problems.append(_enum_problem("method", method, METHODS, "method"))

    for key in _STRING_KEYS:
        if key in config and not isinstance(config[key], str):
            problems.append(Problem(key, f"must be a string, got {_type_name(config[key])}", f"quote the {key}"))
    if "kind" in config and config["kind"] != "sweep":
        problems.append(_enum_problem("kind", config["kind"], ("sweep",), "kind"))
    if "controller" in config:
        problems += _controller(config["controller"])
    if "run_cap" in config:
        cap = config["run_cap"]
        if not _json_int(cap) or cap <= 0:
            problems.append(Problem("run_cap", f"must be an integer > 0, got {cap!r}",
                                    "set run_cap to the most runs the sweep may start, e.g. 20"))
    if "metric" in config:
        problems += _metric(config["metric"])
    if "early_terminate" in config:
        problems += _early_terminate(config["early_terminate"])

    leaves: list[tuple[str, str]] = []
    if "parameters" not in config:
        problems.append(Problem("parameters", "missing: W&B needs the parameters to sweep",
                                "add parameters:, e.g. `learning_rate: {min: 1.0e-5, max: 1.0e-3}`"))
    else:
        problems += _parameters(config["parameters"], "parameters", leaves)

    program = config.get("program") if isinstance(config.get("program"), str) else None
    problems += command_problems(config.get("command"), program)
    if "program" not in config and not config.get("command"):
        # W&B's docs mark program required; its schema doesn't, but the default command runs it.
        problems.append(Problem("program", "missing: the default command [${env}, ${interpreter}, ${program}, ${args}] "
                                           "runs it", "add `program: train.py` (your script), or give a `command`"))

    if method == "bayes" and "metric" not in config:
        problems.append(Problem("metric", "missing: method bayes needs a metric to optimize",
                                "add `metric: {name: eval/loss, goal: minimize}` naming a logged value"))
    if "early_terminate" in config and "metric" not in config:
        problems.append(Problem("metric", "missing: hyperband early_terminate needs a metric to compare runs on",
                                "add `metric: {name: eval/loss, goal: minimize}` naming a logged value"))
    if method == "grid":
        for path, dist in leaves:
            if dist == "categorical_w_probabilities":
                problems.append(Problem(join(path, "probabilities"), "grid search does not take probabilities",
                                        "drop probabilities (a grid runs every value once), or use method: random"))
            elif dist not in GRID_OK:
                problems.append(Problem(path, f"grid search cannot enumerate a {dist} distribution",
                                        "give it `values: [...]` (or int_uniform / q_uniform bounds), "
                                        "or use method: random or bayes"))
    return problems


def _controller(c: Any) -> list[Problem]:
    if not isinstance(c, dict):
        return [Problem("controller", f"must be a mapping, got {_type_name(c)}", "write `controller: {type: cloud}`")]
    if "type" not in c:
        return [Problem("controller.type", "missing", "add `type: cloud` (or local)")]
    if c["type"] not in ("local", "cloud"):
        return [_enum_problem("controller.type", c["type"], ("local", "cloud"), "controller type")]
    return []


def _metric(m: Any) -> list[Problem]:
    if not isinstance(m, dict):
        return [Problem("metric", f"must be a mapping, got {_type_name(m)}",
                        "write `metric: {name: eval/loss, goal: minimize}`")]
    out = [_unknown_key("metric", k, METRIC_KEYS, "metric") for k in m if k not in METRIC_KEYS]
    if "name" not in m:
        out.append(Problem("metric.name", "missing: the metric needs the name of a logged value",
                           "add `name: eval/loss` (a key your script logs)"))
    elif not isinstance(m["name"], str):
        out.append(Problem("metric.name", f"must be a string, got {_type_name(m['name'])}", "quote the metric name"))
    if "goal" in m and m["goal"] not in GOALS:
        out.append(_enum_problem("metric.goal", m["goal"], GOALS, "goal"))
    if "target" in m and not is_number(m["target"]):
        out.append(_number_problem("metric.target", m["target"]))
    if "impute" in m and m["impute"] not in IMPUTE:
        out.append(_enum_problem("metric.impute", m["impute"], IMPUTE, "impute"))
    if "impute_while_running" in m and m["impute_while_running"] not in IMPUTE + ("false",):
        v = m["impute_while_running"]
        out.append(Problem("metric.impute_while_running", f"{v!r} is not one of latest, best, worst, \"false\"",
                           "write the string \"false\" in quotes (YAML reads bare false as a boolean)"
                           if v is False else "use one of: latest, best, worst, \"false\""))
    return out


def _early_terminate(et: Any) -> list[Problem]:
    p = "early_terminate"
    if not isinstance(et, dict):
        return [Problem(p, f"must be a mapping, got {_type_name(et)}", "write `early_terminate: {type: hyperband, min_iter: 3}`")]
    out = [_unknown_key(p, k, HYPERBAND_KEYS, "early_terminate") for k in et if k not in HYPERBAND_KEYS]
    if "type" not in et:
        out.append(Problem(join(p, "type"), "missing", "add `type: hyperband`"))
    elif et["type"] != "hyperband":
        out.append(_enum_problem(join(p, "type"), et["type"], ("hyperband",), "early_terminate type"))
    if "min_iter" not in et and not ("max_iter" in et and "s" in et):
        missing = "s" if "max_iter" in et else "min_iter"
        out.append(Problem(join(p, missing), "missing: hyperband needs min_iter, or max_iter together with s",
                           "add `min_iter: 3` (first band), or `max_iter: 27` with `s: 2`"))
    for key in ("min_iter", "max_iter", "s"):
        v = et.get(key)
        # schema: max_iter and min_iter are integers; s is any number, but W&B loops range(s),
        # which fails on a float (even 2.0).
        if key in et and not ((is_int(v) if key == "s" else _json_int(v)) and v >= 1):
            out.append(Problem(join(p, key), f"must be an integer >= 1, got {v!r}", f"set {key} to a whole number of iterations"))
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


def _suggested_name(name: str) -> str:
    fixed = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return fixed if re.match(r"[A-Za-z_]", fixed) else "_" + fixed


def _parameters(params: Any, path: str, leaves: list) -> list[Problem]:
    if not isinstance(params, dict):
        return [Problem(path, f"must be a mapping of parameter names, got {_type_name(params)}",
                        "write `parameters: {learning_rate: {min: 1.0e-5, max: 1.0e-3}}`")]
    if not params:
        return [Problem(path, "is empty: there is nothing to sweep", "add at least one parameter")]
    out = []
    for name, param in params.items():
        where = join(path, name)
        if not isinstance(name, str) or not NAME_RE.match(name):
            out.append(Problem(where, f"parameter name {name!r} must match {NAME_RE.pattern}",
                               f"rename it to {_suggested_name(str(name))}"))
        out += _parameter(param, where, leaves)
    return out


def _parameter(p: Any, path: str, leaves: list) -> list[Problem]:
    if not isinstance(p, dict):
        return [Problem(path, f"must be a mapping, got {_type_name(p)} {p!r}",
                        f"write `{{value: {p!r}}}` for a constant, or `{{values: [...]}}` for choices")]
    unknown = [k for k in p if k not in PARAM_KEYS]
    if unknown:
        return [_unknown_key(path, k, PARAM_KEYS, "a parameter") for k in unknown]
    if "parameters" in p:
        others = sorted(str(k) for k in p if k != "parameters")
        out = [Problem(path, f"a nested parameter holds only `parameters`, but also has {', '.join(others)}",
                       "move those keys into a parameter inside `parameters`")] if others else []
        return out + _parameters(p["parameters"], join(path, "parameters"), leaves)
    if "distribution" in p and p["distribution"] not in DISTRIBUTIONS:
        return [_enum_problem(join(path, "distribution"), p["distribution"], DISTRIBUTIONS, "distribution")]
    dist = infer_distribution(p)
    if dist is None:
        return _uninferable(p, path)
    required, optional = SCHEMA[dist]
    how = f"distribution {dist}" + ("" if "distribution" in p else " (inferred from its keys)")
    out = [Problem(join(path, k), f"`{k}` does not belong to {how}", _extra_fix(k, dist))
           for k in p if k not in required and k not in optional and k != "distribution"]
    out += [Problem(join(path, k), f"missing: {how} needs `{k}`", f"add `{k}:`") for k in required if k not in p]
    out += _values(p, path, dist)
    if not out:
        leaves.append((path, dist))
    return out


def _uninferable(p: dict, path: str) -> list[Problem]:
    if ("min" in p) != ("max" in p):
        gone = "max" if "min" in p else "min"
        return [Problem(join(path, gone), f"missing: `{'min' if gone == 'max' else 'max'}` needs a `{gone}`",
                        f"add `{gone}:`, or use `value:` for a constant")]
    if "min" in p:
        return [_number_problem(join(path, k), p[k]) for k in ("min", "max") if not is_number(p[k])]
    return [Problem(path, "cannot tell its distribution: it has no values, value, min/max or distribution",
                    "add `values: [...]`, `value: x`, `min:`/`max:`, or `distribution:`")]


def _extra_fix(key: str, dist: str) -> str:
    if key == "q" and f"q_{dist}" in DISTRIBUTIONS:
        return f"use distribution: q_{dist}, or remove q"
    if key == "probabilities" and dist == "categorical":
        return "use distribution: categorical_w_probabilities (or leave distribution out)"
    if key in ("value", "values") and dist in ("constant", "categorical", "categorical_w_probabilities"):
        return "give either `value` (a constant) or `values` (choices), not both"
    if key in ("min", "max", "value", "values"):
        return f"remove `{key}`: {dist} does not use it"
    return f"remove `{key}`, or pick a distribution that takes it"


def _values(p: dict, path: str, dist: str) -> list[Problem]:
    out: list[Problem] = []
    if "values" in p:
        v = p["values"]
        if not isinstance(v, list):
            out.append(Problem(join(path, "values"), f"must be a list, got {_type_name(v)}", "write `values: [a, b, c]`"))
        elif not v:
            out.append(Problem(join(path, "values"), "is empty", "list at least one value"))
    if "probabilities" in p:
        out += _probabilities(p, path)
    lo, hi = p.get("min"), p.get("max")
    for key in ("min", "max"):
        if key not in p:
            continue
        if not is_number(p[key]):
            out.append(_number_problem(join(path, key), p[key]))
        elif dist == "int_uniform" and not is_int(p[key]):
            out.append(Problem(join(path, key), f"int_uniform needs whole numbers, got {p[key]!r}",
                               "write an integer, or use distribution: uniform"))
    for key, low, strict in (("q", 0, True), ("sigma", 0, True), ("a", 0, True), ("b", 0, True)):
        if key in p and not (is_number(p[key]) and (p[key] > low if strict else p[key] >= low)):
            reason = "" if key == "q" else " (0 is degenerate: sampling it gives NaN)"
            out.append(Problem(join(path, key), f"must be a number > 0, got {p[key]!r}{reason}",
                               f"set {key} > 0" + ("; use `value:` for a fixed number" if key == "sigma" else "")))
    if "mu" in p and not is_number(p["mu"]):
        out.append(_number_problem(join(path, "mu"), p["mu"]))
    for key in ("min", "max", "q", "mu", "sigma", "a", "b"):
        if is_number(p.get(key)) and not math.isfinite(p[key]):
            # The schema takes .nan/.inf as numbers, but every draw would then be nan.
            out.append(Problem(join(path, key), f"must be a finite number, got {p[key]!r}", f"set {key} to a real value"))
    if is_number(lo) and is_number(hi) and not out:
        if lo >= hi:
            out.append(Problem(join(path, "max"), f"max {hi!r} is not greater than min {lo!r}",
                               "swap min and max" if lo > hi else "use `value:` for a single value"))
        elif dist.endswith("_values") and lo <= 0:
            out.append(Problem(join(path, "min"), f"{dist} needs min > 0, got {lo!r}",
                               "set min to a small positive value, e.g. 1.0e-6"))
        elif dist in LEGACY:
            out.append(_legacy(path, dist, lo, hi))
    return out


def _probabilities(p: dict, path: str) -> list[Problem]:
    where, probs = join(path, "probabilities"), p["probabilities"]
    if not isinstance(probs, list) or not probs:
        return [Problem(where, "must be a non-empty list of numbers", "write one probability per value")]
    bad = [x for x in probs if not (is_number(x) and x >= 0)]
    if bad:
        return [Problem(where, f"must all be numbers >= 0, got {bad[0]!r}", "write each probability as a number in [0, 1]")]
    if isinstance(p.get("values"), list) and len(p["values"]) != len(probs):
        return [Problem(where, f"has {len(probs)} entries for {len(p['values'])} values", "give exactly one probability per value")]
    if not np.isclose(sum(probs), 1.0):
        return [Problem(where, f"sum to {sum(probs):g}, not 1", "scale them so they add up to 1")]
    return []


def _legacy(path: str, dist: str, lo: float, hi: float) -> Problem:
    new = LEGACY[dist]
    a, b = (math.exp(lo), math.exp(hi)) if dist != "inv_log_uniform" else (math.exp(-hi), math.exp(-lo))
    return Problem(join(path, "distribution"), f"{dist} takes base-e exponents as min/max, which W&B no longer accepts",
                   f"use distribution: {new} with min: {a:.6g}, max: {b:.6g} (the same range as values)")


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
