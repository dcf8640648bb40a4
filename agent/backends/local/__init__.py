"""The offline backend: an Optuna engine, an embedded journal (or PostgreSQL) store, leases.

backend.py           LocalBackend: the `Backend` interface over the pieces below
engine.py            one sweep in Optuna: claim a trial, record how it ended; never asks which method
methods/             one search method per module (grid, random, bayes) behind `SearchMethod`
hyperband.py         W&B's hyperband rule as an Optuna pruner (the stopper), and the metric feed it reads
schema/              what the store holds beside Optuna's fields (`sk_*` attrs), and its format
optuna_internals.py  every use of a private Optuna name, each a typed function
loop.py              the agent loop: claim -> runner -> record, with progress and the failure guard
store.py             where a sweep lives; storage and the claim lock
journal.py           the torn-write-safe journal file
queue.py             handing out waiting trials (grid points, requeued runs) without reading them all
leases.py            heartbeats (with the live values `status` shows), and reaping dead agents' trials
doctor.py            `sweepkit doctor`: find and repair what can go wrong in a store
space.py             W&B distributions in Optuna's terms (bayes)
results.py           impute and the stored summary
sync.py              `wandb sync` commands for the offline runs
"""

from agent.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
