"""run_glue's and TrainingArguments' own flags that are not keys of the trial's table, and what each becomes.

The HF tutorial's command line (`run_glue.py --do_train --do_eval --overwrite_output_dir ...`) is pasted
into `python -m agent` as it is: each flag here is taken with its meaning, or refused in one line that
names the real fix. Declared beside the table (`config.py` turns them into its keys before anything is
checked), so parsing, `--help`, `sweepkit validate` and the README's flag table all read this one dict.
Imports nothing: the table is data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

_NO_PREDICT = (
    "sweepkit's trial writes no test-set predictions (GLUE's test labels are hidden); drop it, and predict "
    "with the chosen run's model afterwards"
)


@dataclass(frozen=True)
class Flag:
    """A flag of run_glue / TrainingArguments: the same meaning under a key of the table (`rename`), or
    per value (True/False for a boolean flag, lower-case words else) the keys it sets or, as a string,
    why that value is refused and the fix; `refused`: every value is."""

    what: str  # what sweepkit's trial does with it (--help, the README)
    rename: Optional[str] = None
    to: Mapping[Any, Mapping[str, Any] | str] = field(default_factory=dict)
    refused: Optional[str] = None

    @property
    def boolean(self) -> bool:
        """A bare `--flag` means true, as in HfArgumentParser."""
        return set(self.to) == {True, False}


FLAGS: dict[str, Flag] = {
    "do_train": Flag(
        "run_glue's switch to train; sweepkit's trial always trains, so true is accepted and changes nothing",
        to={True: {}, False: "do_train=false: sweepkit's trial always trains; drop the flag"},
    ),
    "do_eval": Flag(
        "run_glue's switch to evaluate; sweepkit's trial always evaluates (every eval_strategy interval, and "
        "at the end), so true is accepted and changes nothing",
        to={
            True: {},
            False: "do_eval=false: a sweep's trial must evaluate to report its metric; drop the flag "
            "(eval_strategy=no still evaluates once, at the end)",
        },
    ),
    "do_predict": Flag(
        "run_glue's test-set predictions; sweepkit's trial writes none (GLUE's test labels are hidden), so "
        "true is refused and false changes nothing",
        to={False: {}, True: f"do_predict: {_NO_PREDICT}"},
    ),
    "test_file": Flag("run_glue's file to predict on: refused, as do_predict", refused=f"test_file: {_NO_PREDICT}"),
    "max_predict_samples": Flag(
        "run_glue's cap on predictions: refused, as do_predict", refused=f"max_predict_samples: {_NO_PREDICT}"
    ),
    "overwrite_output_dir": Flag(
        "run_glue's leave to reuse a non-empty output_dir rather than resume from its checkpoint (gone "
        "from TrainingArguments in transformers 5); sweepkit's trial never resumes and always overwrites "
        "its own files there, so true is accepted and changes nothing",
        to={
            True: {},
            False: "overwrite_output_dir=false: sweepkit's trial never resumes from a checkpoint in "
            "output_dir; drop the flag, or give a fresh output_dir",
        },
    ),
    "overwrite_cache": Flag(
        "run_glue's re-tokenize switch; sweepkit's tokenized-data cache is keyed by tokenizer, task, "
        "max_seq_length and the data's fingerprint, so it is never stale: accepted, changes nothing",
        to={True: {}, False: {}},
    ),
    "fp16": Flag(
        "true sets precision=fp16 (a CUDA GPU needed); false changes nothing (precision stays as given, "
        "auto by default: bf16 where the GPU has it, else fp32)",
        to={True: {"precision": "fp16"}, False: {}},
    ),
    "bf16": Flag("true sets precision=bf16; false changes nothing", to={True: {"precision": "bf16"}, False: {}}),
    "no_cuda": Flag("use_cpu's old name (transformers 5 dropped it)", rename="use_cpu"),
    "evaluation_strategy": Flag("eval_strategy's old name (transformers 5 dropped it)", rename="eval_strategy"),
    "per_gpu_train_batch_size": Flag(
        "per_device_train_batch_size's old name (transformers 5 dropped it)", rename="per_device_train_batch_size"
    ),
    "per_gpu_eval_batch_size": Flag(
        "per_device_eval_batch_size's old name (transformers 5 dropped it)", rename="per_device_eval_batch_size"
    ),
    "train_sampling_strategy": Flag(
        "transformers 5's spelling of group_by_length: group_by_length or random",
        to={
            "group_by_length": {"group_by_length": True},
            "random": {"group_by_length": False},
            "sequential": "train_sampling_strategy=sequential: sweepkit's trial always shuffles; use "
            "group_by_length or random",
        },
    ),
    "cache_dir": Flag(
        "run_glue's download folder: refused; set HF_HOME or SWEEPKIT_CACHE in the environment instead",
        refused="cache_dir: set HF_HOME (hub models and datasets) or SWEEPKIT_CACHE (tiny models, tokenized "
        "data) in the environment instead",
    ),
    "push_to_hub": Flag(
        "uploads the model; a sweep's trials upload nothing, so true is refused and false changes nothing",
        to={False: {}, True: "push_to_hub: a sweep's trials upload nothing; push the chosen run's model afterwards"},
    ),
}
