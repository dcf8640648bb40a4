"""sweepkit's agent package: the flow from a sweep YAML to finished runs.

sweep_config/   pure functions on W&B sweep configs (validate, search space, macros)
backends/       the one seam: W&B's server or the offline Optuna engine
runners/        how trials run: a child process (wandb agent's protocol), warm workers, the launcher
trial/          one trial = one Trainer fine-tune (`python -m agent ${args}`)
cli/            `sweepkit` commands
"""

__version__ = "0.1.0"
