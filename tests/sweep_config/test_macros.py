"""wandb agent's command macros (pure): each macro, nesting, booleans, envvar, whole-element rule."""

from __future__ import annotations

import json
import platform

import pytest

from agent.sweep_config import DEFAULT_COMMAND, SweepConfigError, args_json, expand_command, format_param_file

ENV = ["/usr/bin/env"] if platform.system() != "Windows" else []
PARAMS = {
    "lr": 0.001,
    "epochs": 3,
    "name": "bert base",
    "fp16": True,
    "cpu": False,
    "opt": {"beta": 0.9, "eps": 1e-08},
    "layers": [1, 2],
    "none": None,
}


def expand(command, params=PARAMS, **kw):
    kw.setdefault("program", "train.py")
    kw.setdefault("environ", {})
    return expand_command(command, params=params, **kw)


def test_default_command_is_env_interpreter_program_args():
    assert DEFAULT_COMMAND == ["${env}", "${interpreter}", "${program}", "${args}"]
    argv = expand(None, params={"lr": 0.1, "bs": 8})
    assert argv == ENV + ["python", "train.py", "--lr=0.1", "--bs=8"]
    assert expand([], params={"lr": 0.1}) == argv[:-1]  # an empty command means the default too


def test_interpreter_is_a_parameter():
    assert expand(["${interpreter}"], params={}, interpreter="/venv/bin/python") == ["/venv/bin/python"]


def test_args_formats_values_with_python_str_as_wandb_does():
    argv = expand(["${args}"])
    assert argv == [
        "--lr=0.001",
        "--epochs=3",
        "--name=bert base",
        "--fp16=True",
        "--cpu=False",
        "--opt={'beta': 0.9, 'eps': 1e-08}",
        "--layers=[1, 2]",
        "--none=None",
    ]


def test_args_no_equals_splits_flag_and_value():
    assert expand(["${args_no_equals}"], params={"lr": 0.1, "opt": {"m": 1}, "fp16": False}) == [
        "--lr",
        "0.1",
        "--opt",
        "{'m': 1}",
        "--fp16",
        "False",
    ]


def test_args_no_hyphens_and_hydra_forms():
    p = {"lr": 0.1, "model": {"depth": 2}}
    assert expand(["${args_no_hyphens}"], params=p) == ["lr=0.1", "model={'depth': 2}"]
    assert expand(["${args_append_hydra}"], params=p) == ["+lr=0.1", "+model={'depth': 2}"]
    assert expand(["${args_override_hydra}"], params=p) == ["++lr=0.1", "++model={'depth': 2}"]


def test_args_no_boolean_flags_keeps_true_as_bare_flag_and_drops_false():
    argv = expand(["${args_no_boolean_flags}"], params={"fp16": True, "cpu": False, "lr": 0.1, "n": 0})
    assert argv == ["--fp16", "--lr=0.1", "--n=0"]  # 0 is not a boolean: kept


def test_args_json_is_one_element_holding_nested_params():
    argv = expand(["${args_json}"])
    assert len(argv) == 1 and json.loads(argv[0]) == PARAMS
    assert argv[0] == args_json(PARAMS) == json.dumps(PARAMS)


def test_args_json_converts_numpy_scalars():
    np = pytest.importorskip("numpy")
    assert json.loads(args_json({"a": np.float64(0.5), "b": np.int64(3)})) == {"a": 0.5, "b": 3}


def test_args_json_file_is_the_given_path_and_required_when_used():
    assert expand(["${args_json_file}"], args_json_file="/tmp/run/args.json") == ["/tmp/run/args.json"]
    with pytest.raises(SweepConfigError, match="args JSON file"):
        expand(["${args_json_file}"])


def test_program_is_required_only_when_used():
    with pytest.raises(SweepConfigError, match=r"\$\{program\} needs a `program`"):
        expand(None, program=None)
    assert expand(["python", "-m", "agent", "${args}"], params={"a": 1}, program=None) == [
        "python",
        "-m",
        "agent",
        "--a=1",
    ]


def test_env_macro():
    assert expand(["${env}", "x"], params={}) == ENV + ["x"]


def test_envvar_expands_inside_an_element_and_unset_gives_its_name():
    environ = {"DATA_DIR": "/data", "N": "4"}
    argv = expand(
        ["--data=${envvar:DATA_DIR}/glue", "${envvar:N}", "${envvar:MISSING}", "${envvar:N}${envvar:N}"],
        params={},
        environ=environ,
    )
    assert argv == ["--data=/data/glue", "4", "MISSING", "44"]


def test_envvar_defaults_to_process_environment(monkeypatch):
    monkeypatch.setenv("SWEEPKIT_TEST_VAR", "hello")
    assert expand_command(["${envvar:SWEEPKIT_TEST_VAR}"], program=None, params={}) == ["hello"]


def test_macro_expands_only_as_whole_element():
    argv = expand(["--x=${args}", "${program}.bak", "${args}"], params={"a": 1})
    assert argv == ["--x=${args}", "${program}.bak", "--a=1"]


def test_literal_elements_pass_through_stringified():
    assert expand(["python", "t.py", "--epochs", 3, 0.5], params={}) == ["python", "t.py", "--epochs", "3", "0.5"]


def test_unknown_macro_raises_with_suggestion():
    with pytest.raises(SweepConfigError, match=r"unknown macro \$\{argz\} \(did you mean \$\{args\}\?\)"):
        expand(["${argz}"])


def test_param_order_is_kept():
    assert expand(["${args}"], params={"z": 1, "a": 2}) == ["--z=1", "--a=2"]


def test_format_param_file_wraps_only_the_top_level():
    assert format_param_file({"lr": 0.1, "opt": {"m": 0.9, "inner": {"x": 1}}}) == {
        "lr": {"value": 0.1},
        "opt": {"value": {"m": 0.9, "inner": {"x": 1}}},
    }


def test_param_file_round_trips_through_wandb_config_loader(tmp_path):
    """The file we write is what `wandb.init` reads from WANDB_SWEEP_PARAM_PATH."""
    yaml = pytest.importorskip("yaml")
    config_util = pytest.importorskip("wandb.sdk.lib.config_util")
    params = {"lr": 0.1, "opt": {"m": 0.9}, "flag": True}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(format_param_file(params), sort_keys=False))
    loaded = config_util.dict_from_config_file(str(path), must_exist=True)
    assert loaded == params
