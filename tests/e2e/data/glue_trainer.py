"""A user's own fine-tuning script, written the way HF's run_glue.py is: HfArgumentParser over its own
ModelArguments and DataTrainingArguments and TrainingArguments, AutoModelForSequenceClassification, csv
files. It holds no W&B code at all: what reaches W&B is Trainer's own doing (`--report_to wandb`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from datasets import load_dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    set_seed,
)


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={"help": "A model id or a local folder"})


@dataclass
class DataTrainingArguments:
    train_file: str = field(metadata={"help": "A csv with sentence1, sentence2, label"})
    validation_file: str = field(metadata={"help": "A csv of the same columns"})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per pair after truncation"})


def main() -> None:
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses()
    set_seed(training_args.seed)
    raw = load_dataset("csv", data_files={"train": data_args.train_file, "validation": data_args.validation_file})
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_args.model_name_or_path, num_labels=2)

    def preprocess(batch):
        return tokenizer(batch["sentence1"], batch["sentence2"], truncation=True, max_length=data_args.max_seq_length)

    data = raw.map(preprocess, batched=True, remove_columns=["sentence1", "sentence2"])

    def compute_metrics(p):
        return {"accuracy": float((np.argmax(p.predictions, axis=1) == p.label_ids).mean())}

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=data["train"] if training_args.do_train else None,
        eval_dataset=data["validation"] if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )
    if training_args.do_train:
        result = trainer.train()
        trainer.log_metrics("train", result.metrics)
    if training_args.do_eval:
        trainer.log_metrics("eval", trainer.evaluate())


if __name__ == "__main__":
    main()
