"""The W&B backend: W&B's server and agent, and its public API (one query, one path parser).

backend.py   WandbBackend
api.py       sweep paths, the runs query, history, retries
publish.py   a W&B Report next to the sweep's own panels
"""

from agent.backends.wandb.backend import WandbBackend

__all__ = ["WandbBackend"]
