"""The child-process protocol (agent/runners/child.py): env, files, argv, process group, stop signals."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import yaml

from agent.backends.base import TrialControl, TrialSpec
from agent.runners.child import LOG_FILE, PARAM_FILE, ChildRunner, child_env, prepare

BACKEND_ENV = {"WANDB_MODE": "offline", "WANDB_RUN_GROUP": "sweep-swp12345", "WANDB_PROJECT": "proj"}


def spec(tmp: Path, params=None, **kw) -> TrialSpec:
    return TrialSpec(
        "swp12345", "run12345", params or {"x": 2, "opt": {"lr": 0.1}}, str(tmp / "run"), 0, env=dict(BACKEND_ENV), **kw
    )


def run_child(s: TrialSpec, config: dict, *, kill_delay=None, should_stop=lambda: None):
    return ChildRunner(kill_delay=kill_delay)(s, config, TrialControl(stop_reason=should_stop))


def test_child_env_sets_wandb_agent_vars_over_the_backend_defaults_and_keeps_the_users(tmp_path):
    s = spec(tmp_path)
    env = child_env(s, {"PATH": "/bin"})
    run_dir = str((tmp_path / "run").resolve())
    assert env["WANDB_SWEEP_ID"] == "swp12345" and env["WANDB_RUN_ID"] == "run12345"
    assert env["WANDB_SWEEP_PARAM_PATH"] == os.path.join(run_dir, PARAM_FILE)
    assert env["WANDB_DIR"] == env["SWEEPKIT_RUN_DIR"] == run_dir
    assert env["WANDB_MODE"] == "offline" and env["WANDB_RUN_GROUP"] == "sweep-swp12345"
    assert child_env(s, {"WANDB_MODE": "online"})["WANDB_MODE"] == "online"
    assert "WANDB_SWEEP_ID" not in child_env(spec(tmp_path, link_sweep=False), {"WANDB_SWEEP_ID": "old"})


def test_prepare_writes_param_file_and_args_json_file(tmp_path):
    s = spec(tmp_path)
    config = {
        "program": "train.py",
        "project": "proj",
        "command": ["${interpreter}", "${program}", "${args_json_file}", "${args}"],
    }
    argv, env = prepare(s, config, {"PATH": "/bin"})
    params = yaml.safe_load((tmp_path / "run" / PARAM_FILE).read_text())
    assert params == {"x": {"value": 2}, "opt": {"value": {"lr": 0.1}}}
    assert argv[0] == sys.executable and argv[1] == "train.py"
    assert json.loads(Path(argv[2]).read_text()) == {"x": 2, "opt": {"lr": 0.1}}
    assert "--x=2" in argv
    assert env["WANDB_PROJECT"] == "proj"


PROBE = textwrap.dedent("""
    import json, os, sys
    out = {"stdin": sys.stdin.read(), "pgid_is_pid": os.getpgid(0) == os.getpid(), "argv": sys.argv[1:]}
    print("hello from the child")
    print("the last words", file=sys.stderr)
    json.dump(out, open(os.path.join(os.environ["SWEEPKIT_RUN_DIR"], "probe.json"), "w"))
    sys.exit(3)
""")


def test_run_child_closed_stdin_new_group_log_and_exit_code(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    s = spec(tmp_path, {"x": 1})
    res = run_child(s, {"program": str(tmp_path / "probe.py")}, kill_delay=1)
    probe = json.loads((tmp_path / "run" / "probe.json").read_text())
    assert probe == {"stdin": "", "pgid_is_pid": True, "argv": ["--x=1"]}
    assert res.exit_code == 3 and res.stopped is None
    assert res.reason == "the last words"
    log = (tmp_path / "run" / LOG_FILE).read_text()
    assert "hello from the child" in log and "the last words" in log


def test_should_stop_sends_sigterm_then_sigkill_after_kill_delay(tmp_path):
    (tmp_path / "stubborn.py").write_text(
        textwrap.dedent("""
        import signal, time, os
        signal.signal(signal.SIGTERM, lambda *a: open(os.environ["SWEEPKIT_RUN_DIR"] + "/term", "w").close())
        print("ready", flush=True)
        time.sleep(60)
    """)
    )
    s = spec(tmp_path, {})
    t0 = time.monotonic()
    res = run_child(
        s,
        {"program": str(tmp_path / "stubborn.py")},
        kill_delay=1.0,
        should_stop=lambda: "pruned" if time.monotonic() - t0 > 1.0 else None,
    )
    assert res.stopped == "pruned"
    assert res.exit_code == -9  # ignored SIGTERM, so SIGKILL
    assert (tmp_path / "run" / "term").exists()  # but it did get the SIGTERM first
    assert time.monotonic() - t0 < 20


def test_unstartable_command_is_a_result_not_an_exception(tmp_path):
    res = run_child(spec(tmp_path, {}), {"command": ["/nonexistent/binary", "${args}"]})
    assert res.exit_code is None and "cannot start" in res.reason


def test_a_child_starts_its_own_wandb_service_not_the_parents(tmp_path, monkeypatch):
    # wandb sets WANDB_SERVICE in any process that used it (a warm worker, a notebook, pytest); a
    # child that inherits it joins that service and fails once it is gone. Here it is already gone.
    from agent.runlog import find_run_file
    from tests.helpers import FOREIGN

    monkeypatch.setenv("WANDB_SERVICE", f"3-{os.getpid()}-unix-{tmp_path / 'gone.sock'}")
    assert "WANDB_SERVICE" not in child_env(spec(tmp_path), None)
    (tmp_path / "train.py").write_text(FOREIGN)
    s = spec(tmp_path, {"x": 1})
    res = run_child(s, {"program": str(tmp_path / "train.py")}, kill_delay=1)
    assert res.exit_code == 0, res.reason
    assert find_run_file(tmp_path / "run") is not None  # the run logged to its own .wandb file
