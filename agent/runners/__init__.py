"""How trials run, whatever the backend: each is a `TrialRunner` or drives some.

child.py        a trial in a child process, wandb agent's protocol (macros, env, signals)
warm.py         trials in this process, one after another, imports and caches kept
pool_worker.py  one worker process of a pool: an agent that reports to the launcher
launcher.py     --workers N / --gpus ... --per-gpu N|auto: the pool, one view, one Ctrl-C
progress.py     an agent's live view on the terminal
options.py      the agent options, declared once for click, the pool worker and its argv
"""
