"""Shared helpers for the agent/CLI tests: run `sweepkit` as a real process in a tmp store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agent.runners.child import own_process_env

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# A plain wandb script, as users write them: wandb.init + wandb.config + wandb.log.
FOREIGN = textwrap.dedent("""
    import json, os, sys, time
    import wandb
    run = wandb.init()
    cfg = dict(run.config)
    steps = int(cfg.get("steps", 3))
    for i in range(steps):
        wandb.log({"loss": float(cfg["x"]) * (steps - i)})
        time.sleep(float(cfg.get("sleep", 0)))
    with open(os.path.join(os.environ["SWEEPKIT_RUN_DIR"], "seen.json"), "w") as fh:
        json.dump({"config": cfg, "argv": sys.argv[1:],
                   "env": {k: os.environ.get(k) for k in ("WANDB_SWEEP_ID", "WANDB_RUN_ID",
                          "WANDB_SWEEP_PARAM_PATH", "WANDB_MODE", "WANDB_DIR")}}, fh)
    run.finish()
""")

# No wandb at all: records its point and exits; fast for counting tests.
RECORDER = textwrap.dedent("""
    import json, os, sys, time
    args = json.loads(sys.argv[1])
    time.sleep(float(args.get("sleep", 0)))
    with open(os.environ["RECORD_FILE"], "a") as fh:
        fh.write(json.dumps({"args": args, "run": os.environ["WANDB_RUN_ID"]}) + "\\n")
    sys.exit(int(args.get("exit", 0)))
""")

# RECORDER that fails once: the first run to match FAIL_ON ("first": any run; "a=2": a run whose a is 2)
# exits 1, leaving a marker in MARK_DIR (made with O_EXCL, so one run fails however many agents run).
FLAKY = textwrap.dedent("""
    import json, os, sys
    args = json.loads(sys.argv[1])
    with open(os.environ["RECORD_FILE"], "a") as fh:
        fh.write(json.dumps({"args": args, "run": os.environ["WANDB_RUN_ID"]}) + "\\n")
    key, _, value = os.environ["FAIL_ON"].partition("=")
    if key == "first" or str(args.get(key)) == value:
        try:
            os.close(os.open(os.path.join(os.environ["MARK_DIR"], "failed-once"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            sys.exit(0)
        print("CUDA out of memory (injected)", file=sys.stderr)
        sys.exit(1)
""")


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, every: float = 0.1) -> T:
    """Poll `condition` until it returns something true, and return that; after `timeout` seconds an
    AssertionError naming `what`. Tests wait on the state they need this way, never on a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def copy_checkout(dest: Path) -> Path:
    """The checkout's files as git sees them (tracked, or new and not ignored), copied into `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def env_for(tmp: Path, **extra: str) -> dict:
    # A user's shell has no wandb service; pytest's worker does once a test used wandb in-process.
    env = own_process_env()
    # The checkout first, then what the tests run under already has (`make test-optuna-range` puts
    # one Optuna release there): the child processes import the same packages as the test.
    path = os.pathsep.join(p for p in [str(REPO), *env.get("PYTHONPATH", "").split(os.pathsep)] if p)
    env.update(
        {
            "SWEEPKIT_HOME": str(tmp / ".sweepkit"),
            "PYTHONPATH": path,
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
        }
    )
    env.pop("SWEEPKIT_STORAGE", None)
    env.update(extra)
    return env


def sk(tmp: Path, *args: str, timeout: float = 120, env: dict | None = None, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        cwd=tmp,
        env=env or env_for(tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def sk_popen(tmp: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agent.cli", *args],
        cwd=tmp,
        env=env or env_for(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def make_sweep(tmp: Path, yaml_text: str, *extra: str, env: dict | None = None) -> str:
    (tmp / "sweep.yaml").write_text(textwrap.dedent(yaml_text))
    res = sk(tmp, "sweep", "sweep.yaml", *extra, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


def status(tmp: Path, sweep_id: str, *extra: str, env: dict | None = None) -> dict:
    res = sk(tmp, "status", sweep_id, "--json", *extra, env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


TINY = [
    "--model_name_or_path=tiny-bert",
    "--task_name=mrpc-mini",
    "--max_train_samples=96",
    "--max_eval_samples=64",
    "--per_device_train_batch_size=16",
    "--learning_rate=0.001",
]


def sweep_yaml(params: str, extra: list[str] = (), metric: str = "eval/loss") -> str:
    """A grid sweep of sweepkit's own trial on tiny-bert, with `params` (YAML lines) swept."""
    cmd = ", ".join(f'"{a}"' for a in ["${env}", "${interpreter}", "-m", "agent", *TINY, *extra, "${args}"])
    return f"method: grid\nmetric: {{name: {metric}, goal: minimize}}\ncommand: [{cmd}]\nparameters:\n{params}"


class QuietProgress:
    """An agent progress view that shows nothing (in-process run_agent calls in tests)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def started(self, spec):
        pass

    def finished(self, *args):
        pass

    def note(self, text):
        pass


class FunctionRunner:
    """An in-process `TrialRunner` over a plain function `fn(spec) -> metrics`, as wandb.agent(function=)
    takes one: an exception fails that trial, KeyboardInterrupt stops the agent."""

    in_process = True

    def __init__(self, fn, report_rows=False):
        self.fn, self.report_rows = fn, report_rows
        self.calls = 0

    def __call__(self, spec, config, control):
        from agent.backends.base import TrialOutcome

        self.calls += 1
        t0 = time.monotonic()
        if not spec.wandb_ready:
            # As the warm runner does: wandb's process-wide setup keeps the settings (the sweep's
            # param file among them) of whatever trial ran in this process before.
            import wandb

            if wandb.run is None:
                wandb.teardown()
        try:
            metrics = self.fn(spec, control) if self.report_rows else self.fn(spec)
        except KeyboardInterrupt:
            return TrialOutcome(None, time.monotonic() - t0, stopped="interrupted")
        except Exception as exc:
            return TrialOutcome(1, time.monotonic() - t0, reason=f"{type(exc).__name__}: {exc}")
        return TrialOutcome(0, time.monotonic() - t0, summary=dict(metrics or {}))


def run_in_process(backend, sweep_id, fn, **settings):
    """`backend.run_agent` with `fn` as the trial, no view; returns the exit code."""
    from agent.backends.base import AgentSettings

    runner = fn if hasattr(fn, "in_process") else FunctionRunner(fn)
    return backend.run_agent(sweep_id, runner=runner, progress=QuietProgress(), settings=AgentSettings(**settings))


# One parameter per W&B distribution (legacy exponent forms included: the sampler supports them
# even though validate() asks users to move to the *_values forms).
EVERY = {
    "const": {"value": {"k": [1, 2]}},
    "cat": {"values": ["a", "b", {"x": 1}, [3]]},
    "catp": {"values": [1, True, "z"], "probabilities": [0.2, 0.3, 0.5]},
    "iu": {"min": -3, "max": 4},
    "u": {"min": 0.5, "max": 2.0},
    "qu": {"distribution": "q_uniform", "min": 0.05, "max": 1.0, "q": 0.1},
    "qu_int": {"distribution": "q_uniform", "min": 0, "max": 100, "q": 5},
    "luv": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "qluv": {"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 10},
    "iluv": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 10.0},
    "lu": {"distribution": "log_uniform", "min": -5, "max": 0},
    "qlu": {"distribution": "q_log_uniform", "min": 0, "max": 5, "q": 2},
    "ilu": {"distribution": "inv_log_uniform", "min": 0, "max": 5},
    "n": {"distribution": "normal", "mu": 3, "sigma": 2},
    "qn": {"distribution": "q_normal", "q": 0.5},
    "ln": {"distribution": "log_normal", "mu": -1, "sigma": 0.5},
    "qln": {"distribution": "q_log_normal", "q": 1},
    "b": {"distribution": "beta", "a": 0.5, "b": 2},
    "qb": {"distribution": "q_beta", "q": 0.1},
    "nest": {"parameters": {"x": {"values": [1, 2]}, "deep": {"parameters": {"z": {"min": 0.0, "max": 1.0}}}}},
}
LEAVES = {
    "const",
    "cat",
    "catp",
    "iu",
    "u",
    "qu",
    "qu_int",
    "luv",
    "qluv",
    "iluv",
    "lu",
    "qlu",
    "ilu",
    "n",
    "qn",
    "ln",
    "qln",
    "b",
    "qb",
    "nest/x",
    "nest/deep/z",
}


def find_chromium() -> str | None:
    """The system Chromium's path, or None."""
    import shutil

    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def chromium_path() -> str:
    """The system Chromium; the browser tests skip (or fail under CI) without it."""

    import pytest

    path = find_chromium()
    if path:
        return path
    msg = "chromium not found: run `make system-deps` (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
    "--hide-scrollbars",
]


class Browser:
    """One headless Chromium page, driven over the DevTools protocol (the page stays open: a test can
    watch it change, as a user would)."""

    def __init__(self, url: str, profile: Path, size: str = "1280,900"):
        import time
        import urllib.request

        import websocket

        self.proc = subprocess.Popen(
            [
                chromium_path(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                "--remote-debugging-port=0",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        while True:
            pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
            pages = [p for p in pages if p.get("type") == "page"]
            if pages:
                break
            time.sleep(0.1)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self._id = 0

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str):
        got = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return got.get("result", {}).get("value")

    def screenshot(self, path: Path) -> Path:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.kill()
            self.proc.wait(timeout=10)
