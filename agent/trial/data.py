"""Datasets for one trial: GLUE from the hub, local files, or the bundled mrpc-mini; tokenized once.

Tokenized splits are cached in memory (warm workers) and on disk, keyed by the tokenizer
(name + vocab hash), task, max_seq_length, padding and the raw data's fingerprint, so the next
trial with the same tokenizer skips tokenization. `max_*_samples` are applied after the cache,
so trials that subsample share it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import one_line
from agent.paths import cache_root
from agent.trial.tasks import TASKS

if TYPE_CHECKING:  # datasets is imported where it is used: `python -m agent --help` must stay fast
    from datasets import DatasetDict

CACHE_VERSION = "1"
MODEL_COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "labels", "length")
FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}

_MEMORY: dict[str, DatasetDict] = {}  # cache key -> tokenized splits
_RAW: dict[tuple, tuple] = {}  # (task, file stamps) -> the raw splits with their labels and text keys


def forget_raw() -> None:
    """Drop the raw splits kept in memory (the next trial loads them again)."""
    _RAW.clear()


def _file_stamp(path: str | None) -> tuple | None:
    """A data file as of now (path, size, mtime): an edited file is loaded afresh."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (path,)
    return (path, st.st_size, st.st_mtime_ns)


class DataError(RuntimeError):
    """One user-facing line naming the data source and the fix."""


@dataclass
class TaskData:
    task: str
    text_keys: tuple[str, str | None]
    num_labels: int
    label_names: list[str] | None
    train: object
    eval: object
    cache: str = "miss"  # miss | disk | memory: where the tokenized data came from
    fingerprint: str = ""

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1


def _file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _load_files(train_file: str, validation_file: str):
    import datasets

    exts = {Path(f).suffix.lower() for f in (train_file, validation_file)}
    if len(exts) != 1 or next(iter(exts)) not in FORMATS:
        raise DataError(
            f"train_file/validation_file must share one format out of "
            f"{', '.join(FORMATS)}; got {', '.join(sorted(exts))}"
        )
    ext = exts.pop()
    kwargs = {"delimiter": "\t"} if ext == ".tsv" else {}
    try:
        raw = datasets.load_dataset(
            FORMATS[ext], data_files={"train": train_file, "validation": validation_file}, **kwargs
        )
    except Exception as exc:  # the library's parse errors are many-typed and multi-line
        raise DataError(f"cannot read {train_file} / {validation_file} as {ext}: {one_line(exc)}") from exc
    return raw, f"files:{_file_hash(train_file)}:{_file_hash(validation_file)}"


def _load_glue(task: str):
    import datasets

    try:
        raw = datasets.load_dataset("nyu-mll/glue", task)
    except Exception as exc:
        raise DataError(
            f"GLUE task {task!r} could not be loaded from the hub or the local datasets cache "
            f"({type(exc).__name__}); fix: run once with network to cache it, pass "
            f"train_file=/validation_file= local files, or use task_name=mrpc-mini"
        ) from exc
    raw = datasets.DatasetDict({"train": raw["train"], "validation": raw[TASKS[task].validation_split]})
    return raw, f"glue:{task}:{raw['train']._fingerprint}:{raw['validation']._fingerprint}"


def _load_mini():
    import datasets

    from agent.trial import mrpc_mini

    features = datasets.Features(
        {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["not_equivalent", "equivalent"]),
            "idx": datasets.Value("int32"),
        }
    )
    raw = datasets.DatasetDict(
        {s: datasets.Dataset.from_list(rows, features=features) for s, rows in mrpc_mini.splits().items()}
    )
    return raw, f"mrpc-mini:{mrpc_mini.fingerprint()}"


def _labels(raw, task: str, num_labels: int):
    """Label column as ids (or floats for regression), and the label names when they were strings."""
    import datasets

    train = raw["train"]
    if "label" not in train.column_names:
        raise DataError(f"the training data has no 'label' column (columns: {', '.join(train.column_names)})")
    feat = train.features["label"]
    if isinstance(feat, datasets.ClassLabel):
        return raw, list(feat.names), num_labels if num_labels == 1 else feat.num_classes
    if num_labels == 1:
        return raw.cast_column("label", datasets.Value("float32")), None, 1
    if feat.dtype == "string":
        names = sorted({str(x) for s in raw.values() for x in s["label"]})
        ids = {n: i for i, n in enumerate(names)}
        raw = raw.map(lambda b: {"label": [ids[str(x)] for x in b["label"]]}, batched=True)
        return raw, names, len(names)
    seen = sorted({int(x) for x in train["label"] if x is not None and int(x) >= 0})
    if seen and seen[-1] >= num_labels:
        num_labels = seen[-1] + 1  # local files may carry more classes than the GLUE task they mimic
    return raw, None, num_labels


def _text_keys(raw, task: str) -> tuple[str, str | None]:
    keys = TASKS[task].text_keys
    cols = raw["train"].column_names
    if all(k is None or k in cols for k in keys):
        return keys
    for cand in (t.text_keys for t in TASKS.values()):  # local files with another task's GLUE column names
        if all(k is None or k in cols for k in cand):
            return cand
    raise DataError(
        f"columns {', '.join(cols)} match no GLUE layout; task {task!r} expects {' + '.join(k for k in keys if k)}"
    )


def cache_key(tok_fp: str, task: str, text_keys, max_seq_length: int, pad: bool, data_fp: str) -> str:
    blob = json.dumps([CACHE_VERSION, tok_fp, task, list(text_keys), max_seq_length, pad, data_fp])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _tokenize(raw, tokenizer, text_keys, max_seq_length: int, pad: bool):
    k1, k2 = text_keys

    def encode(batch):
        args = (batch[k1],) if k2 is None else (batch[k1], batch[k2])
        enc = tokenizer(*args, truncation=True, max_length=max_seq_length, padding="max_length" if pad else False)
        enc["labels"] = batch["label"]
        # Lengths precomputed once here spare the length-grouped sampler a pass per trial.
        enc["length"] = [len(x) for x in enc["input_ids"]]
        return enc

    out = {}
    for split, ds in raw.items():
        ds = ds.filter(lambda b: [x is not None and x != -1 for x in b["label"]], batched=True)
        out[split] = ds.map(encode, batched=True, remove_columns=ds.column_names, desc=f"tokenize {split}")
    import datasets

    return datasets.DatasetDict(out)


def _disk_dir() -> Path:
    return cache_root() / "tokenized"


def _load_splits(path: Path) -> DatasetDict:
    """A tokenized cache entry: always a DatasetDict, since we saved one (anything else is not ours)."""
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if not isinstance(loaded, datasets.DatasetDict):
        raise DataError(f"{path} holds one dataset, not train/validation splits; delete it to rebuild the cache")
    return loaded


def load_task_data(cfg, tokenizer, tok_fp: str) -> TaskData:
    """Raw data -> tokenized train/eval splits, through the memory and disk caches."""

    task = cfg.task_name
    raw_key = (task, *(_file_stamp(f) for f in (cfg.train_file, cfg.validation_file)))
    if raw_key not in _RAW:  # a warm worker's later trials skip the raw load (~0.1 s) too
        if task == "mrpc-mini":
            raw, data_fp = _load_mini()
        elif cfg.train_file:
            raw, data_fp = _load_files(cfg.train_file, cfg.validation_file)
        else:
            raw, data_fp = _load_glue(task)
        raw, label_names, num_labels = _labels(raw, task, TASKS[task].num_labels)
        _RAW[raw_key] = (raw, data_fp, label_names, num_labels, _text_keys(raw, task))
    raw, data_fp, label_names, num_labels, text_keys = _RAW[raw_key]
    key = cache_key(tok_fp, task, text_keys, cfg.max_seq_length, cfg.pad_to_max_length, data_fp)
    where = "memory"
    if key not in _MEMORY:
        path = _disk_dir() / key
        if (path / "dataset_dict.json").is_file():
            _MEMORY[key], where = _load_splits(path), "disk"
        else:
            tokenized = _tokenize(raw, tokenizer, text_keys, cfg.max_seq_length, cfg.pad_to_max_length)
            tmp = path.with_name(f".{key}.{os.getpid()}")
            tokenized.save_to_disk(str(tmp))
            try:
                os.replace(tmp, path)  # atomic: a concurrent trial may have written it first
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
            _MEMORY[key], where = _load_splits(path), "miss"
    tok = _MEMORY[key]
    train, ev = tok["train"], tok["validation"]
    if cfg.max_train_samples:
        train = train.select(range(min(cfg.max_train_samples, len(train))))
    if cfg.max_eval_samples:
        ev = ev.select(range(min(cfg.max_eval_samples, len(ev))))
    cols = [c for c in train.column_names if c in MODEL_COLUMNS]
    return TaskData(
        task=task,
        text_keys=text_keys,
        num_labels=num_labels,
        label_names=label_names,
        train=train.select_columns(cols),
        eval=ev.select_columns(cols),
        cache=where,
        fingerprint=data_fp,
    )
