"""The offline backend: an Optuna engine, an embedded journal (or PostgreSQL) store, leases.

backend.py    LocalBackend: the `Backend` interface over the pieces below
engine.py     one sweep in Optuna: claim a trial, record how it ended
loop.py       the agent loop: claim -> runner -> record, with progress and the failure guard
store.py      where a sweep lives; storage and the claim lock
leases.py     heartbeats, and reaping the trials of dead agents
hyperband.py  W&B's hyperband rule as an Optuna pruner, and the metric feed it reads
space.py      W&B distributions in Optuna's terms (bayes)
results.py    impute and the stored summary
sync.py       `wandb sync` commands for the offline runs
"""

from agent.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
