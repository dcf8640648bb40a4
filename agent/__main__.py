"""`python -m agent [--key=value ...]`: run one trial (see `python -m agent --help`)."""

from __future__ import annotations

import os
import sys

from agent.states import RunState
from agent.trial.argv import parse_argv
from agent.trial.config import ConfigError, build_config
from agent.trial.reference import help_text


def main(argv: list[str] | None = None) -> int:
    """Exit code 0 finished, 1 failed trial, 2 bad config, 143 after SIGTERM."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(help_text())
        return 0
    try:
        cfg = build_config(parse_argv(argv))
        from agent.trial.train import run_trial  # after validation: a bad key costs no torch import

        result = run_trial(cfg)
    except ConfigError as exc:
        print(f"sweepkit: bad trial config: {exc}", file=sys.stderr)
        _record_bad_config(str(exc))
        return 2
    if result.status != RunState.FINISHED:
        print(f"sweepkit: trial {result.status}: {result.reason}", file=sys.stderr)
    return result.exit_code


def _record_bad_config(reason: str) -> None:
    """Under our local agent the run dir is known even when the config is not: leave the reason there."""
    run_dir = os.environ.get("SWEEPKIT_RUN_DIR")
    if run_dir:
        from agent.trial.result import TrialResult

        TrialResult(status=RunState.FAILED, reason=f"bad config: {reason}").write(run_dir)


if __name__ == "__main__":
    sys.exit(main())
