"""One trial = one Hugging Face Trainer fine-tune, logged to W&B. Knows nothing of sweeps.

    config.py     the table of trial keys (parsing, checks, --help, TrainingArguments)
    flags.py      run_glue's and TrainingArguments' own flags, and the keys each becomes
    draws.py      what a sweep parameter can hand a key (sweepkit validate)
    tasks.py      GLUE tasks and mrpc-mini: columns, labels, metric
    data.py       GLUE, local files, mrpc-mini; the tokenization cache
    models.py     hub, local and tiny models; the in-memory weight cache of warm workers
    arguments.py  hardware resolution, TrainingArguments, check_applied, the collator
    train.py      `run_trial`: the fine-tune, its W&B run, failures and SIGTERM
    result.py     trial_result.json

Importing this package imports no torch: `python -m agent --help` and a bad key must be instant.
"""

# The module a sweep's command runs to reach this trial (`python -m agent ${args}`).
TRIAL_MODULE = "agent"
