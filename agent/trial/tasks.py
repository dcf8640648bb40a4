"""The tasks a trial can train on: one table for the config's choices, the data loader and the metric."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    text_keys: tuple[str, str | None]  # the sentence column(s) of the GLUE layout
    num_labels: int  # 1 = regression
    metric: str  # matthews | pearson_spearman | accuracy_f1 | accuracy
    validation_split: str = "validation"


GLUE = {
    "cola": Task(("sentence", None), 2, "matthews"),
    "sst2": Task(("sentence", None), 2, "accuracy"),
    "mrpc": Task(("sentence1", "sentence2"), 2, "accuracy_f1"),
    "qqp": Task(("question1", "question2"), 2, "accuracy_f1"),
    "stsb": Task(("sentence1", "sentence2"), 1, "pearson_spearman"),
    "mnli": Task(("premise", "hypothesis"), 3, "accuracy", validation_split="validation_matched"),
    "qnli": Task(("question", "sentence"), 2, "accuracy"),
    "rte": Task(("sentence1", "sentence2"), 2, "accuracy"),
    "wnli": Task(("sentence1", "sentence2"), 2, "accuracy"),
}
# mrpc-mini: sweepkit's own offline paraphrase set, in MRPC's columns and scored like MRPC.
BUNDLED = {"mrpc-mini": Task(("sentence1", "sentence2"), 2, "accuracy_f1")}
TASKS: dict[str, Task] = {**GLUE, **BUNDLED}
