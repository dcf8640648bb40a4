"""Trial config: every agent argument form, validation messages, and the --help table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.trial.argv import parse_argv
from agent.trial.config import FIELDS, ConfigError, TrialConfig, build_config
from agent.trial.reference import help_text
from agent.trial.result import TrialResult

ROOT = Path(__file__).resolve().parents[2]


def cfg(*argv):
    return build_config(parse_argv(list(argv)))


def test_defaults_fit_mrpc():
    c = TrialConfig()
    assert (c.task_name, c.max_seq_length, c.save_strategy, c.report_to) == ("mrpc", 128, "no", "wandb")
    assert c.pad_to_max_length is False and c.group_by_length is True and c.tf32 is True
    assert c.precision == "auto"


@pytest.mark.parametrize(
    "argv",
    [
        ["--learning_rate=1e-4", "--per_device_train_batch_size=16", "--seed=7"],  # ${args}
        ["learning_rate=1e-4", "per_device_train_batch_size=16", "seed=7"],  # ${args_no_hyphens}
        ["--learning_rate", "1e-4", "--per_device_train_batch_size", "16", "--seed", "7"],  # ${args_no_equals}
        ['{"learning_rate": 0.0001, "per_device_train_batch_size": 16, "seed": 7}'],  # ${args_json}
    ],
)
def test_all_macro_forms_parse_alike(argv):
    c = cfg(*argv)
    assert (c.learning_rate, c.per_device_train_batch_size, c.seed) == (1e-4, 16, 7)
    assert isinstance(c.per_device_train_batch_size, int) and isinstance(c.learning_rate, float)


def test_json_file_lone_and_flag(tmp_path):
    f = tmp_path / "args.json"
    f.write_text(json.dumps({"learning_rate": 3e-5, "pad_to_max_length": True, "num_train_epochs": 2}))
    for argv in ([str(f)], ["--args_json_file", str(f)], [f"--args_json_file={f}"]):
        c = cfg(*argv)
        assert (c.learning_rate, c.pad_to_max_length, c.num_train_epochs) == (3e-5, True, 2.0)


def test_booleans_bare_flags_and_words():
    c = cfg("--pad_to_max_length", "--group_by_length=false", "--tf32", "no")
    assert (c.pad_to_max_length, c.group_by_length, c.tf32) == (True, False, False)
    # A bare flag followed by a k=v token must not swallow it (${args_no_boolean_flags} + others).
    c = cfg("--pad_to_max_length", "seed=3")
    assert c.pad_to_max_length is True and c.seed == 3


def test_integral_floats_accepted_for_int_keys_and_none_for_optional():
    c = cfg("--per_device_train_batch_size=32.0", "--max_train_samples=none", "--eval_steps", "null")
    assert c.per_device_train_batch_size == 32 and c.max_train_samples is None and c.eval_steps is None


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--learning_rat=1e-4"], "unknown key 'learning_rat'; did you mean learning_rate"),
        (["--per_device_batch_size=8"], "did you mean per_device_eval_batch_size or per_device_train_batch_size"),
        (["--task_name=mrcp"], "choose one of: cola, sst2, mrpc"),
        (["--precision=fp8"], "choose one of: auto, fp32, bf16, fp16"),
        (["--learning_rate=0"], "learning_rate=0.0 is out of range; it must be > 0.0"),
        (["--learning_rate=abc"], "learning_rate='abc': expected a number"),
        (["--per_device_train_batch_size=0"], "must be >= 1"),
        (["--per_device_train_batch_size=2.5"], "expected an integer"),
        (["--warmup_ratio=1.5"], "warmup_ratio=1.5 is out of range"),
        (["--pad_to_max_length=maybe"], "expected a boolean"),
        (["--eval_strategy=steps"], "eval_strategy=steps needs eval_steps"),
        (["--seed"], "has no value"),
        (["stray"], "'stray' is not key=value"),
        (["--task_name=mrpc-mini", "--train_file=a.csv", "--validation_file=b.csv"], "bundled data"),
        (["--train_file=/nonexistent.csv", "--validation_file=/nonexistent.csv"], "does not exist"),
    ],
)
def test_bad_values_name_the_key(argv, needle):
    with pytest.raises(ConfigError) as e:
        cfg(*argv)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_nested_sweep_value_rejected_and_wandb_internal_keys_ignored():
    with pytest.raises(ConfigError, match="nested sweep parameters are not supported"):
        build_config({"learning_rate": {"value": 1e-4}})
    assert build_config({"_wandb": {"x": 1}, "seed": 5}).seed == 5


def test_bad_json_file_is_one_line(tmp_path):
    f = tmp_path / "a.json"
    f.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        cfg(str(f))
    with pytest.raises(ConfigError, match="cannot read args JSON file"):
        cfg(str(tmp_path / "missing.json"))


DEEP = '{"seed": ' + "[" * 60_000 + "]" * 60_000 + "}"


def test_params_nested_60000_deep_are_a_config_error_not_a_recursion_error(tmp_path):
    f = tmp_path / "params.json"
    f.write_text(DEEP)
    for argv in ([str(f)], [f"--args_json_file={f}"], [DEEP], ["--candidate=" + "[" * 60_000 + "]" * 60_000]):
        with pytest.raises(ConfigError, match="nested too deeply|not a mapping of trial keys"):
            cfg(*argv)


def test_a_params_file_past_1_mib_is_refused_unread(tmp_path):
    f = tmp_path / "params.json"
    f.write_text('{"seed": 1, "pad": "' + "x" * (1 << 20) + '"}')
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        cfg(str(f))


def test_help_lists_every_key_with_default():
    text = help_text()
    for name, f in FIELDS.items():
        assert f"--{name} (" in text and f"default: {f.default}" in text


def test_cli_help_and_bad_key_exit_2_before_any_model_load(tmp_path):
    out = subprocess.run([sys.executable, "-m", "agent", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--learning_rate (float) default: 2e-05" in out.stdout
    # A bad key must fail before torch is even imported (`-X importtime` lists every import).
    env = {"SWEEPKIT_RUN_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    bad = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agent", "--model_name_or_path=tiny-bert", "--learnig_rate=1e-4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2
    lines = [ln for ln in bad.stderr.splitlines() if not ln.startswith("import time:")]
    assert len(lines) == 1, lines
    last = lines[0]
    assert "unknown key 'learnig_rate'" in last and "learning_rate" in last
    assert " torch" not in bad.stderr and "transformers" not in bad.stderr
    result = TrialResult.read(tmp_path)
    assert result.status == "failed" and "learnig_rate" in (result.reason or "")


def test_check_draws_names_unknown_keys_bad_values_bounds_and_fractions():
    from agent.trial.draws import check_draws

    ((where, msg, fix),) = check_draws("learning_rat", (), None, None, True)
    assert where == "" and "learning_rate" in msg and fix == "rename it to learning_rate"
    assert check_draws("_wandb", (1,), None, None, True) == []
    assert [w for w, _, _ in check_draws("seed", (1, -2, "x"), None, None, True)] == ["value", "value"]
    assert check_draws("learning_rate", (), 0.0, 1e-3, False) == []  # an open bound is never drawn
    assert [w for w, _, _ in check_draws("learning_rate", (), 1e-5, 2.0, False)] == ["max"]
    ((w, msg, _),) = check_draws("learning_rate", (), float("-inf"), float("inf"), False)
    assert w == "" and "(0.0, 1.0]" in msg
    ((w, msg, _),) = check_draws("per_device_train_batch_size", (), 8.0, 64.0, False)
    assert "integers" in msg
    assert check_draws("per_device_train_batch_size", (), 8, 64, True) == []
    ((w, msg, _),) = check_draws("optim", (), None, None, True, nested=True)
    assert "nested" in msg
