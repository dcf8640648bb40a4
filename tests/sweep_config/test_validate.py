"""Table-driven checks of `validate`: configs W&B accepts pass clean; each broken one is caught at
the YAML path of the bad key, with a message and a fix."""

from __future__ import annotations

import copy
import pathlib

import pytest

from agent.sweep_config import (
    Problem,
    SweepConfigError,
    check_config,
    fill_defaults,
    load_sweep_file,
    parse_sweep_yaml,
    validate,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
LR = {"lr": {"min": 1e-5, "max": 1e-3}}


def cfg(method="random", **extra):
    base = {"method": method, "program": "train.py", "parameters": copy.deepcopy(LR)}
    base.update(extra)
    return base


def params(method="random", **ps):
    return {"method": method, "program": "train.py", "parameters": ps}


ALL_DISTRIBUTIONS = {
    "const": {"value": 3},
    "const_null": {"value": None, "distribution": "constant"},
    "cat": {"values": ["adam", "sgd", [1, 2], {"a": 1}, None]},
    "cat_explicit": {"distribution": "categorical", "values": [1]},
    "catp": {"values": [1, 2, 3], "probabilities": [0.2, 0.3, 0.5]},
    "catp_explicit": {"distribution": "categorical_w_probabilities", "values": ["a", "b"], "probabilities": [0.5, 0.5]},
    "iu": {"min": 1, "max": 8},
    "iu_explicit": {"distribution": "int_uniform", "min": -4, "max": 4},
    "u": {"min": 0.0, "max": 1.5},
    "u_int_bounds": {"distribution": "uniform", "min": 0, "max": 2},
    "u_mixed": {"min": 0, "max": 0.5},  # W&B's (number, float) uniform variant
    "u_mixed2": {"min": 0.5, "max": 2},
    "qu": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
    "qu_default_q": {"distribution": "q_uniform", "min": 0, "max": 10},
    "luv": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1e-2},
    "qluv": {"distribution": "q_log_uniform_values", "min": 1, "max": 1024, "q": 1},
    "iluv": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1},
    "normal": {"distribution": "normal"},
    "normal_full": {"distribution": "normal", "mu": -1, "sigma": 0.5},
    "qn": {"distribution": "q_normal", "mu": 10, "sigma": 3, "q": 2},
    "ln": {"distribution": "log_normal", "mu": 0.0, "sigma": 1.0},
    "qln": {"distribution": "q_log_normal", "q": 0.5},
    "beta": {"distribution": "beta", "a": 2, "b": 5},
    "qbeta": {"distribution": "q_beta", "q": 0.05},
    "dotted.name-1": {"value": 1},
    "_under": {"values": [True, False]},
}

GOOD = {
    "minimal": params(lr={"values": [0.1]}),
    "docs_bayes": {
        "program": "train.py",
        "name": "sweepdemo",
        "method": "bayes",
        "metric": {"goal": "minimize", "name": "validation_loss"},
        "parameters": {
            "learning_rate": {"min": 0.0001, "max": 0.1},
            "batch_size": {"values": [16, 32, 64]},
            "optimizer": {"values": ["adam", "sgd"]},
        },
    },
    "every_distribution_random": params(**ALL_DISTRIBUTIONS),
    "every_distribution_bayes": dict(params("bayes", **ALL_DISTRIBUTIONS), metric={"name": "loss"}),
    "grid_kinds": params(
        "grid",
        a={"values": [1, 2]},
        b={"value": "x"},
        c={"min": 1, "max": 3},
        d={"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
    ),
    "nested": params(
        "grid", opt={"parameters": {"lr": {"values": [0.1, 0.01]}, "inner": {"parameters": {"m": {"value": 0.9}}}}}
    ),
    "hyperband_min_iter": cfg(metric={"name": "loss"}, early_terminate={"type": "hyperband", "min_iter": 3}),
    "hyperband_max_iter": cfg(
        metric={"name": "acc", "goal": "maximize"},
        early_terminate={"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3, "strict": False},
    ),
    "hyperband_float_eta": cfg(
        metric={"name": "loss"}, early_terminate={"type": "hyperband", "min_iter": 1, "eta": 1.5}
    ),
    "metric_full": cfg(
        "bayes",
        metric={
            "name": "eval/accuracy",
            "goal": "maximize",
            "target": 0.9,
            "impute": "best",
            "impute_while_running": "false",
        },
    ),
    "every_top_level_key": cfg(
        metric={"name": "loss"},
        early_terminate={"type": "hyperband", "min_iter": 1},
        program="train.py",
        run_cap=10,
        name="n",
        description="d",
        project="p",
        entity="e",
        controller={"type": "local"},
        apiVersion="v1",
        kind="sweep",
        command=[
            "${env}",
            "${interpreter}",
            "${program}",
            "--fixed",
            "3",
            "${args}",
            "${args_no_equals}",
            "${args_no_hyphens}",
            "${args_no_boolean_flags}",
            "${args_json}",
            "${args_json_file}",
            "${args_append_hydra}",
            "${args_override_hydra}",
            "${envvar:DATA_DIR}",
            "--out=${envvar:HOME}/x",
        ],
    ),
    "run_cap_integral_float": cfg(run_cap=5.0),
    "command_number_element": cfg(program="t.py", command=["${interpreter}", "${program}", "--epochs", 3]),
    "command_without_program_macro": {
        "method": "grid",
        "parameters": {"a": {"values": [1]}},
        "command": ["python", "-m", "agent", "${args}"],
    },
    "controller_cloud": cfg(controller={"type": "cloud", "extra": 1}),
}

BAD = [
    # (id, config, expected path, expected words in the message)
    ("not_mapping", ["method"], "", "mapping"),
    ("missing_method", {"parameters": LR, "program": "t.py"}, "method", "missing"),
    ("missing_program", {"method": "random", "parameters": LR}, "program", "default command"),
    ("bad_method", cfg("grdi"), "method", "did you mean `grid`"),
    ("custom_method", cfg("custom"), "method", "Launch"),
    ("unknown_top_key", dict(cfg(), paramters={}), "paramters", "did you mean `parameters`"),
    ("launch_key", cfg(job="entity/project/job:v0"), "job", "Launch"),
    ("missing_parameters", {"method": "random", "program": "t.py"}, "parameters", "missing"),
    ("empty_parameters", params(), "parameters", "empty"),
    ("parameters_list", {"method": "random", "program": "t.py", "parameters": ["lr"]}, "parameters", "mapping"),
    ("grid_empty_parameters", params("grid"), "parameters", "empty"),
    ("name_starts_digit", params(**{"1lr": {"value": 1}}), "parameters.1lr", "must match"),
    ("name_with_space", params(**{"learning rate": {"value": 1}}), "parameters.learning rate", "must match"),
    ("param_not_mapping", params(lr=0.01), "parameters.lr", "mapping"),
    ("param_unknown_key", params(lr={"vales": [1]}), "parameters.lr.vales", "did you mean `values`"),
    ("values_empty", params(lr={"values": []}), "parameters.lr.values", "empty"),
    ("values_not_list", params(lr={"values": 3}), "parameters.lr.values", "list"),
    ("value_and_values", params(lr={"values": [1], "value": 1}), "parameters.lr.value", "does not belong"),
    ("min_without_max", params(lr={"min": 0.1}), "parameters.lr.max", "missing"),
    ("max_without_min", params(lr={"max": 0.1}), "parameters.lr.min", "missing"),
    ("min_gt_max", params(lr={"min": 0.1, "max": 0.01}), "parameters.lr.max", "not greater than min"),
    ("min_eq_max", params(n={"min": 3, "max": 3}), "parameters.n.max", "not greater than min"),
    ("min_string_exponent", params(lr={"min": "1e-5", "max": 0.1}), "parameters.lr.min", "YAML"),
    ("max_string", params(lr={"min": 0.1, "max": "big"}), "parameters.lr.max", "number"),
    ("nan_bound", params(lr={"min": float("nan"), "max": 1.0}), "parameters.lr.min", "finite"),
    ("inf_sigma", params(x={"distribution": "normal", "sigma": float("inf")}), "parameters.x.sigma", "finite"),
    ("bool_bound", params(lr={"min": False, "max": True}), "parameters.lr.min", "number"),
    ("int_uniform_float", params(n={"distribution": "int_uniform", "min": 1.0, "max": 4}), "parameters.n.min", "whole"),
    (
        "unknown_distribution",
        params(lr={"distribution": "log_uniform_value", "min": 1, "max": 2}),
        "parameters.lr.distribution",
        "did you mean `log_uniform_values`",
    ),
    (
        "log_values_min_zero",
        params(lr={"distribution": "log_uniform_values", "min": 0, "max": 1}),
        "parameters.lr.min",
        "min > 0",
    ),
    (
        "q_log_values_min_neg",
        params(lr={"distribution": "q_log_uniform_values", "min": -1, "max": 1}),
        "parameters.lr.min",
        "min > 0",
    ),
    (
        "inv_log_values_min_zero",
        params(lr={"distribution": "inv_log_uniform_values", "min": 0.0, "max": 1}),
        "parameters.lr.min",
        "min > 0",
    ),
    (
        "legacy_log_uniform",
        params(lr={"distribution": "log_uniform", "min": -9, "max": -2}),
        "parameters.lr.distribution",
        "exponents",
    ),
    (
        "legacy_inv_log_uniform",
        params(lr={"distribution": "inv_log_uniform", "min": 0, "max": 3}),
        "parameters.lr.distribution",
        "exponents",
    ),
    (
        "legacy_q_log_uniform",
        params(lr={"distribution": "q_log_uniform", "min": 0, "max": 3}),
        "parameters.lr.distribution",
        "exponents",
    ),
    ("q_on_uniform", params(lr={"min": 0.0, "max": 1.0, "q": 0.1}), "parameters.lr.q", "does not belong"),
    ("q_zero", params(lr={"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}), "parameters.lr.q", "> 0"),
    (
        "probabilities_on_categorical",
        params(o={"distribution": "categorical", "values": [1, 2], "probabilities": [0.5, 0.5]}),
        "parameters.o.probabilities",
        "does not belong",
    ),
    (
        "probabilities_sum",
        params(o={"values": [1, 2], "probabilities": [0.5, 0.6]}),
        "parameters.o.probabilities",
        "not 1",
    ),
    (
        "probabilities_length",
        params(o={"values": [1, 2, 3], "probabilities": [0.5, 0.5]}),
        "parameters.o.probabilities",
        "2 entries for 3",
    ),
    (
        "probabilities_negative",
        params(o={"values": [1, 2], "probabilities": [1.5, -0.5]}),
        "parameters.o.probabilities",
        ">= 0",
    ),
    (
        "probabilities_missing",
        params(o={"distribution": "categorical_w_probabilities", "values": [1]}),
        "parameters.o.probabilities",
        "missing",
    ),
    ("normal_with_min", params(x={"distribution": "normal", "min": 0}), "parameters.x.min", "does not belong"),
    ("sigma_zero", params(x={"distribution": "normal", "sigma": 0}), "parameters.x.sigma", "> 0"),
    ("sigma_negative", params(x={"distribution": "log_normal", "sigma": -1}), "parameters.x.sigma", "> 0"),
    ("mu_string", params(x={"distribution": "normal", "mu": "zero"}), "parameters.x.mu", "number"),
    ("beta_a_zero", params(x={"distribution": "beta", "a": 0}), "parameters.x.a", "> 0"),
    ("q_beta_b_string", params(x={"distribution": "q_beta", "b": "1"}), "parameters.x.b", "> 0"),
    ("q_uniform_missing_max", params(x={"distribution": "q_uniform", "min": 0}), "parameters.x.max", "missing"),
    ("constant_missing_value", params(x={"distribution": "constant"}), "parameters.x.value", "missing"),
    ("uninferable", params(x={"q": 1}), "parameters.x", "cannot tell"),
    (
        "nested_extra_keys",
        params(opt={"parameters": {"lr": {"value": 1}}, "values": [1]}),
        "parameters.opt",
        "only `parameters`",
    ),
    ("nested_empty", params(opt={"parameters": {}}), "parameters.opt.parameters", "empty"),
    (
        "nested_bad_leaf",
        params(opt={"parameters": {"lr": {"min": 0.5, "max": 0.1}}}),
        "parameters.opt.parameters.lr.max",
        "greater",
    ),
    (
        "nested_deep_unknown",
        params(a={"parameters": {"b": {"parameters": {"c": {"valu": 1}}}}}),
        "parameters.a.parameters.b.parameters.c.valu",
        "did you mean `value`",
    ),
    ("grid_uniform", params("grid", lr={"min": 0.0, "max": 1.0}), "parameters.lr", "grid search cannot enumerate"),
    (
        "grid_log_uniform",
        params("grid", lr={"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1}),
        "parameters.lr",
        "grid search cannot enumerate",
    ),
    (
        "grid_nested_normal",
        params("grid", o={"parameters": {"x": {"distribution": "normal"}}}),
        "parameters.o.parameters.x",
        "grid search cannot enumerate",
    ),
    (
        "grid_probabilities",
        params("grid", o={"values": [1, 2], "probabilities": [0.5, 0.5]}),
        "parameters.o.probabilities",
        "grid",
    ),
    ("bayes_without_metric", cfg("bayes"), "metric", "bayes"),
    ("hyperband_without_metric", cfg(early_terminate={"type": "hyperband", "min_iter": 1}), "metric", "hyperband"),
    ("metric_string", cfg(metric="loss"), "metric", "mapping"),
    ("metric_missing_name", cfg(metric={"goal": "minimize"}), "metric.name", "missing"),
    ("metric_name_number", cfg(metric={"name": 3}), "metric.name", "string"),
    ("metric_bad_goal", cfg(metric={"name": "l", "goal": "maximise"}), "metric.goal", "did you mean `maximize`"),
    ("metric_target_string", cfg(metric={"name": "l", "target": "0.9x"}), "metric.target", "number"),
    ("metric_unknown_key", cfg(metric={"name": "l", "goa": "minimize"}), "metric.goa", "did you mean `goal`"),
    ("metric_bad_impute", cfg(metric={"name": "l", "impute": "mean"}), "metric.impute", "impute"),
    (
        "impute_while_running_bool",
        cfg(metric={"name": "l", "impute_while_running": False}),
        "metric.impute_while_running",
        "false",
    ),
    ("et_missing_type", cfg(metric={"name": "l"}, early_terminate={"min_iter": 3}), "early_terminate.type", "missing"),
    (
        "et_bad_type",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperbnd", "min_iter": 3}),
        "early_terminate.type",
        "did you mean `hyperband`",
    ),
    (
        "et_no_iters",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband"}),
        "early_terminate.min_iter",
        "min_iter",
    ),
    (
        "et_max_iter_without_s",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "max_iter": 9}),
        "early_terminate.s",
        "max_iter together with s",
    ),
    (
        "et_eta_one",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "min_iter": 3, "eta": 1}),
        "early_terminate.eta",
        "> 1",
    ),
    (
        "et_min_iter_zero",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "min_iter": 0}),
        "early_terminate.min_iter",
        "integer >= 1",
    ),
    (
        "et_s_fraction",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "max_iter": 9, "s": 1.5}),
        "early_terminate.s",
        "integer",
    ),
    (
        "et_s_float",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "max_iter": 9, "s": 2.0}),
        "early_terminate.s",
        "integer",
    ),
    (
        "et_no_band",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "max_iter": 2, "s": 1}),
        "early_terminate",
        "no band",
    ),
    (
        "et_strict_string",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "min_iter": 1, "strict": "yes"}),
        "early_terminate.strict",
        "true or false",
    ),
    (
        "et_unknown_key",
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "min_iter": 1, "max_iters": 9}),
        "early_terminate.max_iters",
        "did you mean `max_iter`",
    ),
    ("et_not_mapping", cfg(metric={"name": "l"}, early_terminate="hyperband"), "early_terminate", "mapping"),
    ("run_cap_zero", cfg(run_cap=0), "run_cap", "> 0"),
    ("run_cap_fraction", cfg(run_cap=2.5), "run_cap", "integer"),
    ("run_cap_string", cfg(run_cap="5"), "run_cap", "integer"),
    ("run_cap_bool", cfg(run_cap=True), "run_cap", "integer"),
    ("command_string", cfg(program="t.py", command="python t.py"), "command", "list"),
    (
        "command_unknown_macro",
        cfg(program="t.py", command=["${env}", "${interpreter}", "${program}", "${argz}"]),
        "command.3",
        "did you mean ${args}?",
    ),
    (
        "command_macro_inside",
        cfg(program="t.py", command=["python", "t.py", "--x=${args}"]),
        "command.2",
        "whole list element",
    ),
    (
        "command_program_missing",
        {"method": "random", "parameters": LR, "command": ["${env}", "${interpreter}", "${program}", "${args}"]},
        "command.2",
        "no `program`",
    ),
    ("command_dict_element", cfg(command=["python", {"a": 1}]), "command.1", "string"),
    ("command_lower_envvar", cfg(command=["${envvar:home}", "${args}"]), "command.0", "[A-Z0-9_]"),
    ("bad_kind", cfg(kind="Sweep"), "kind", "kind"),
    ("bad_controller_type", cfg(controller={"type": "remote"}), "controller.type", "controller type"),
    ("controller_missing_type", cfg(controller={}), "controller.type", "missing"),
    ("name_not_string", cfg(name=123), "name", "string"),
    ("program_not_string", cfg(program=["train.py"]), "program", "string"),
]


@pytest.mark.parametrize("name", list(GOOD))
def test_w_and_b_accepted_configs_validate_clean(name):
    assert validate(GOOD[name]) == []


@pytest.mark.parametrize("name,config,path,words", BAD, ids=[b[0] for b in BAD])
def test_each_broken_config_is_caught_at_its_path(name, config, path, words):
    problems = validate(config)
    at_path = [p for p in problems if p.path == path]
    assert at_path, f"no problem at {path!r}; got {[str(p) for p in problems]}"
    assert any(words.lower() in p.message.lower() for p in at_path), [str(p) for p in at_path]
    for p in problems:
        assert isinstance(p, Problem) and p.message and p.fix
        line = str(p)
        assert "\n" not in line and line.startswith(f"{p.path or '<top level>'}: ") and f"(fix: {p.fix})" in line


def test_every_distribution_and_top_level_key_is_in_the_tables():
    from agent.sweep_config.distributions import DISTRIBUTIONS, LEGACY
    from agent.sweep_config.validate import TOP_LEVEL_KEYS

    used = {p.get("distribution") for p in ALL_DISTRIBUTIONS.values()} | set(LEGACY)
    assert set(DISTRIBUTIONS) <= used | {
        "constant",
        "categorical",
        "categorical_w_probabilities",
        "int_uniform",
        "uniform",
    }
    assert set(TOP_LEVEL_KEYS) <= set(GOOD["every_top_level_key"])


def test_problem_string_is_one_line_with_path_message_and_fix():
    p = Problem("parameters.learning_rate.max", "max 0.01 is not greater than min 0.1", "swap min and max")
    assert str(p) == "parameters.learning_rate.max: max 0.01 is not greater than min 0.1 (fix: swap min and max)"


def test_several_problems_are_all_reported():
    problems = validate({"method": "bayes", "parameters": {"a": {"min": 2, "max": 1}, "b": {"vales": [1]}}, "foo": 1})
    paths = {p.path for p in problems}
    assert {"foo", "parameters.a.max", "parameters.b.vales", "metric"} <= paths


def test_check_config_raises_one_line_error_holding_every_problem():
    bad = params(a={"min": 2, "max": 1}, b={"values": []})
    with pytest.raises(SweepConfigError) as err:
        check_config(bad, "sweep.yaml")
    assert "\n" not in str(err.value) and str(err.value).startswith("sweep.yaml: parameters.a.max")
    assert len(err.value.problems) == 2
    assert check_config(GOOD["minimal"]) is GOOD["minimal"]


def test_fill_defaults_writes_w_and_b_defaults_without_touching_the_input():
    config = dict(
        params(
            n={"distribution": "q_normal"}, o={"parameters": {"lr": {"min": 0.1, "max": 1.0}}}, k={"min": 1, "max": 3}
        ),
        metric={"name": "loss"},
        early_terminate={"type": "hyperband", "min_iter": 1},
    )
    before = copy.deepcopy(config)
    filled = fill_defaults(config)
    assert config == before
    assert filled["metric"]["goal"] == "minimize" and filled["metric"]["impute"] == "worst"
    assert filled["early_terminate"]["eta"] == 3 and filled["early_terminate"]["strict"] is True
    assert filled["parameters"]["n"] == {"distribution": "q_normal", "mu": 0.0, "sigma": 1.0, "q": 1.0}
    assert filled["parameters"]["o"]["parameters"]["lr"]["distribution"] == "uniform"
    assert filled["parameters"]["k"]["distribution"] == "int_uniform"
    assert validate(filled) == []


# --- reading YAML -----------------------------------------------------------------------------
def test_yaml_exponent_without_dot_is_caught_with_a_yaml_hint():
    config = parse_sweep_yaml("method: random\nprogram: t.py\nparameters:\n  lr:\n    min: 1e-5\n    max: 1.0e-3\n")
    [problem] = validate(config)
    assert problem.path == "parameters.lr.min" and "1.0e-5" in problem.fix


def test_load_sweep_file_reads_yaml(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("method: grid\nparameters:\n  lr: {values: [0.1, 0.01]}\n")
    assert load_sweep_file(f) == {"method": "grid", "parameters": {"lr": {"values": [0.1, 0.01]}}}


@pytest.mark.parametrize(
    "text,where,words",
    [
        ("method: grid\nparameters:\n  lr: {values: [0.1, 0.01}\n", ":3:", "invalid YAML"),
        ("method: grid\n  bad: indent\n", ":2:", "invalid YAML"),
        ("method: grid\nmethod: random\n", ":2:1", "duplicate key 'method' (first given on line 1)"),
        ("- method\n- grid\n", "", "top level must be a mapping"),
        ("", "", "empty"),
    ],
)
def test_bad_yaml_files_give_one_line_errors(tmp_path, text, where, words):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SweepConfigError) as err:
        load_sweep_file(f)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(f)) and where in msg and words in msg


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(SweepConfigError, match=r"nope\.yaml: cannot read the sweep file"):
        load_sweep_file(tmp_path / "nope.yaml")


def test_every_shipped_sweep_yaml_validates_clean():
    files = sorted((REPO / "sweeps").glob("*.y*ml"))
    failures = {}
    for f in files:
        problems = validate(load_sweep_file(f))
        if problems:
            failures[f.name] = [str(p) for p in problems]
    assert failures == {}


def test_validate_never_raises_on_garbage():
    """Any YAML-shaped value gets Problems, never an exception (fixed seed: reproducible)."""
    import random

    rnd = random.Random(0)
    keys = [
        "method",
        "metric",
        "parameters",
        "early_terminate",
        "command",
        "program",
        "run_cap",
        "name",
        "goal",
        "values",
        "value",
        "min",
        "max",
        "q",
        "mu",
        "sigma",
        "a",
        "b",
        "probabilities",
        "distribution",
        "type",
        "min_iter",
        "max_iter",
        "s",
        "eta",
        "strict",
        "target",
        "impute",
        "controller",
        "kind",
        1,
        "x y",
    ]
    atoms = [
        None,
        True,
        False,
        0,
        -1,
        3,
        2.5,
        float("nan"),
        "",
        "grid",
        "uniform",
        "hyperband",
        "${args}",
        "${x",
        "1e-5",
        "log_uniform",
        "minimize",
        "categorical_w_probabilities",
    ]

    def gen(depth):
        r = rnd.random()
        if depth > 3 or r < 0.4:
            return rnd.choice(atoms)
        if r < 0.6:
            return [gen(depth + 1) for _ in range(rnd.randint(0, 3))]
        return {rnd.choice(keys): gen(depth + 1) for _ in range(rnd.randint(0, 4))}

    for _ in range(3000):
        config = gen(0)
        if isinstance(config, dict) and rnd.random() < 0.7:
            config["method"] = rnd.choice(["grid", "random", "bayes"])
            config["parameters"] = {"p": gen(1), "q": {"parameters": {"r": gen(2)}}}
        problems = validate(config)
        assert all(isinstance(p, Problem) and "\n" not in str(p) for p in problems)
