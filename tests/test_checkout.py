"""A trial started by hand in the checkout leaves the checkout clean: its output and its W&B run go
under the ignored state folder, and the lint stays green even where a `wandb/` run folder or an
`outputs/` folder sits at the root (left by an older version, or by wandb's own defaults)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.trial.result import RESULT_FILE, TrialResult
from tests.helpers import REPO, TINY, copy_checkout, env_for

RUFF = Path(sys.executable).with_name("ruff")


def _ruff(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RUFF), "check", "--no-cache", "--output-format", "concise", "."],
        cwd=root,
        capture_output=True,
        text=True,
    )


def test_lint_stays_green_beside_a_wandb_run_folder_and_outputs(tmp_path):
    root = copy_checkout(tmp_path / "checkout")
    (root / "wandb" / "offline-run-20260101_000000-abc" / "files").mkdir(parents=True)
    (root / "wandb" / "debug.log").write_text("")
    (root / "outputs" / "abc").mkdir(parents=True)
    res = _ruff(root)
    assert res.returncode == 0, res.stdout[-2000:]
    for left in ("wandb/debug.log", "outputs/abc/trial_result.json", ".sweepkit/trials/x/trial_result.json"):
        assert subprocess.run(["git", "check-ignore", "-q", left], cwd=REPO).returncode == 0, f"{left} is not ignored"


@pytest.mark.slow
def test_a_trial_run_in_the_checkout_writes_under_the_ignored_state_folder(tmp_path):
    root = copy_checkout(tmp_path / "checkout")
    before = {p.name for p in root.iterdir()}
    env = env_for(tmp_path, SWEEPKIT_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    env.pop("SWEEPKIT_HOME")  # the default: ./.sweepkit
    res = subprocess.run(
        [sys.executable, "-m", "agent", *TINY, "--max_steps=2"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert {p.name for p in root.iterdir()} - before == {".sweepkit"}
    (result,) = (root / ".sweepkit" / "trials").glob(f"*/{RESULT_FILE}")
    assert TrialResult.read(result).status == "finished"
    assert list((root / ".sweepkit" / "trials").glob("wandb/offline-run-*/run-*.wandb"))
    assert _ruff(root).returncode == 0
