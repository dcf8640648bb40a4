"""Shared helpers for the agent/CLI tests: run `sweepkit` as a real process in a tmp store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

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


def env_for(tmp: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.update({"SWEEPKIT_HOME": str(tmp / ".sweepkit"), "PYTHONPATH": str(REPO),
                "WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    env.pop("SWEEPKIT_STORAGE", None)
    env.update(extra)
    return env


def sk(tmp: Path, *args: str, timeout: float = 120, env: dict | None = None, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=tmp, env=env or env_for(tmp),
                          capture_output=True, text=True, timeout=timeout, **popen)


def sk_popen(tmp: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agent.cli", *args], cwd=tmp, env=env or env_for(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
