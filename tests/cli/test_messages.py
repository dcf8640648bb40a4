"""A one-line error says its hint once, however many layers it passed through."""

from __future__ import annotations

from agent.backends.wandb.api import HINT
from tests.helpers import env_for, sk


def test_a_wandb_error_says_its_hint_once(tmp_path):
    env = env_for(tmp_path, HOME=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"))
    for var in ("WANDB_API_KEY", "WANDB_BASE_URL", "NETRC"):
        env.pop(var, None)
    res = sk(tmp_path, "status", "ent/proj/abc123", env=env)  # no key: connecting fails inside reading the sweep
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.count(HINT) == 1 and line.count("W&B request failed") == 1, line
