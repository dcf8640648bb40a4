"""End to end: trials that print their own config (an api_key among it) and their environment's
WANDB_API_KEY, run as real offline W&B runs by `sweepkit agent`; the report is then written from a
shell without WANDB_API_KEY. No page, console.txt, live.js or report shows either secret."""

from __future__ import annotations

import textwrap

import pytest

from agent.redact import REDACTED
from tests.helpers import env_for, make_sweep, sk

pytestmark = pytest.mark.slow

IN_CONFIG = "cfg-api-key-7c1e9b2a4d"
IN_AGENT_ENV = "f" * 8 + "0123456789abcdef" * 2  # a W&B key's shape, in the agent's shell only

LEAKY = textwrap.dedent("""
    import os
    import wandb
    run = wandb.init()
    cfg = dict(run.config)
    print("config:", cfg)
    print("logged in as", cfg["api_key"])
    print(f"WANDB_API_KEY={os.environ['WANDB_API_KEY']}")
    wandb.log({"loss": float(cfg["x"])})
    run.finish()
""")


def test_a_report_from_a_shell_without_the_key_shows_no_secret_a_trial_printed(tmp_path):
    (tmp_path / "leaky.py").write_text(LEAKY)
    sid = make_sweep(
        tmp_path,
        f"""
        program: leaky.py
        method: grid
        metric: {{name: loss}}
        parameters:
          x: {{values: [1, 2]}}
          api_key: {{value: {IN_CONFIG}}}
        """,
    )
    agent = sk(tmp_path, "agent", sid, timeout=300, env=env_for(tmp_path, WANDB_API_KEY=IN_AGENT_ENV))
    assert agent.returncode == 0, agent.stdout + agent.stderr
    bare = env_for(tmp_path)
    bare.pop("WANDB_API_KEY", None)
    res = sk(tmp_path, "report", sid, "--out", "out", timeout=300, env=bare)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    consoles = sorted(out.glob("runs/*.console.txt"))
    assert len(consoles) == 2 and len(list(out.glob("runs/*.html"))) == 2
    assert "logged in as " + REDACTED in consoles[0].read_text()
    assert f"WANDB_API_KEY={REDACTED}" in consoles[0].read_text()
    for p in out.rglob("*"):
        if p.is_file() and p.suffix != ".png":
            text = p.read_text(errors="replace")
            assert IN_CONFIG not in text and IN_AGENT_ENV not in text, p.name
    status = sk(tmp_path, "status", sid, "--json", env=bare)
    assert status.returncode == 0 and IN_CONFIG not in status.stdout
