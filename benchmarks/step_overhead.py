"""Per-step overhead of a GLUE-sized Trainer fine-tune: one knob at a time, side by side.

A BERT step on MRPC-shaped batches costs about 70 ms on an H200 whatever the padding: the
loop is bound by per-step host work and kernel launches, not FLOPs (measured on an H200).
This measures what each knob does to the steady-state step time, in one process, with the
same model, data and sampler, so the ratios are comparable:

* collation: `DataCollatorWithPadding` (tokenizer.pad over Python lists, run_glue's way) vs a
  tensor collator (examples stored as tensors, one `torch.full` + row copies per batch);
* pad_to_multiple_of 8 / 16 (fewer distinct shapes: matters for torch.compile and cuDNN/cuBLAS
  heuristics), and pad to max_length 256 (the tutorial's way);
* logging_steps 1 / 10 / 100 (each log is a host sync: `loss.item()`);
* dataloader workers and pin_memory;
* CUDA only: fused AdamW vs the for-each one, bf16 vs fp32, torch.compile over bucketed shapes.

Only torch + transformers are needed (the GPU box has no datasets/wandb requirement here).

    python -m benchmarks.step_overhead [--device cpu|cuda] [--steps N] [--model-dir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time

import torch

WARMUP_STEPS = 5


class PairDataset(torch.utils.data.Dataset):
    """Pre-tokenized pairs held as tensors, so collation never walks Python lists."""

    def __init__(self, encodings: list[dict], labels: list[int]):
        self.rows = [
            {k: torch.tensor(v) for k, v in enc.items()} | {"labels": torch.tensor(y)}
            for enc, y in zip(encodings, labels, strict=False)
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


class TensorCollator:
    """Pads a batch with one allocation per key; optional multiple-of padding buckets shapes."""

    def __init__(self, pad_id: int, multiple: int | None = None, max_length: int | None = None):
        self.pad_id, self.multiple, self.max_length = pad_id, multiple, max_length

    def __call__(self, batch: list[dict]) -> dict:
        n = self.max_length or max(len(b["input_ids"]) for b in batch)
        if self.multiple:
            n = -(-n // self.multiple) * self.multiple
        out = {}
        for key in batch[0]:
            if key == "labels":
                out[key] = torch.stack([b[key] for b in batch])
                continue
            fill = self.pad_id if key == "input_ids" else 0
            t = torch.full((len(batch), n), fill, dtype=batch[0][key].dtype)
            for i, b in enumerate(batch):
                v = b[key]
                t[i, : len(v)] = v
            out[key] = t
        return out


def load_pairs(train_file: str, tokenizer, limit: int | None = None, max_length: int = 128):
    with open(train_file) as fh:
        rows = list(csv.DictReader(fh))[:limit]
    enc = tokenizer(
        [r["sentence1"] for r in rows], [r["sentence2"] for r in rows], truncation=True, max_length=max_length
    )
    keys = [k for k in enc if k in tokenizer.model_input_names]
    encodings = [{k: enc[k][i] for k in keys} for i in range(len(rows))]
    return encodings, [int(r["label"]) for r in rows]


def collate_micro(encodings, labels, tokenizer, batch: int = 32, rounds: int = 200) -> dict:
    """Host time to build one batch, each collator, no model: the pure cost being cut."""
    from transformers import DataCollatorWithPadding

    hf = DataCollatorWithPadding(tokenizer)
    ds = PairDataset(encodings, labels)
    plain = [dict(e, labels=y) for e, y in zip(encodings, labels, strict=False)]
    tc = TensorCollator(tokenizer.pad_token_id, multiple=8)
    out = {}
    for name, fn, src in (("hf_pad_lists", hf, plain), ("tensor_collator", tc, ds)):
        t0 = time.perf_counter()
        for r in range(rounds):
            i = (r * batch) % (len(src) - batch)
            fn([src[j] for j in range(i, i + batch)])
        out[name + "_ms"] = (time.perf_counter() - t0) / rounds * 1e3
    return out


class _StepClock:
    def __init__(self):
        self.times: list[float] = []

    def callback(self):
        from transformers import TrainerCallback

        clock = self

        class Cb(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()  # one sync per step, equal for every variant
                clock.times.append(time.perf_counter())

        return Cb()


VARIANTS_CPU = [
    ("baseline: hf collator, no multiple, log 10", {}),
    ("tensor collator", {"collator": "tensor"}),
    ("tensor collator, pad multiple 8", {"collator": "tensor", "multiple": 8}),
    ("tensor collator, pad multiple 16", {"collator": "tensor", "multiple": 16}),
    ("pad to max_length 256 (tutorial)", {"collator": "tensor", "max_length": 256}),
    ("logging_steps 1", {"logging_steps": 1}),
    ("logging_steps 100", {"logging_steps": 100}),
    ("dataloader workers 2", {"workers": 2}),
]
VARIANTS_CUDA = [
    ("fp32, no tf32", {"precision": "fp32", "tf32": False}),
    ("bf16 + tf32", {}),
    ("adamw_torch (for-each, not fused)", {"optim": "adamw_torch"}),
    ("pin_memory off", {"pin_memory": False}),
    ("tensor collator, multiple 16, torch.compile", {"collator": "tensor", "multiple": 16, "compile": True}),
]


def run_variant(
    model_dir: str,
    encodings,
    labels,
    tokenizer,
    *,
    steps: int,
    device: str,
    batch: int = 32,
    collator: str = "hf",
    multiple: int | None = None,
    max_length: int | None = None,
    logging_steps: int = 10,
    workers: int = 0,
    pin_memory: bool = True,
    optim: str | None = None,
    precision: str = "bf16",
    tf32: bool = True,
    compile: bool = False,
    seed: int = 0,
) -> dict:
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    cuda = device == "cuda"
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    if collator == "hf":
        ds = [dict(e, labels=y) for e, y in zip(encodings, labels, strict=False)]
        coll = DataCollatorWithPadding(
            tokenizer, pad_to_multiple_of=multiple, padding="max_length" if max_length else True, max_length=max_length
        )
    else:
        ds = PairDataset(encodings, labels)
        coll = TensorCollator(tokenizer.pad_token_id, multiple, max_length)
    kw = dict(
        output_dir=os.path.join("/tmp", "sweepkit-step-overhead"),
        report_to="none",
        save_strategy="no",
        max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=2e-5,
        logging_steps=logging_steps,
        dataloader_num_workers=workers,
        dataloader_pin_memory=pin_memory and cuda,
        optim=optim or ("adamw_torch_fused" if cuda else "adamw_torch"),
        bf16=cuda and precision == "bf16",
        tf32=(tf32 if cuda else None),
        torch_compile=compile,
        use_cpu=not cuda,
        disable_tqdm=True,
        seed=seed,
    )
    try:
        args = TrainingArguments(train_sampling_strategy="group_by_length", **kw)
    except TypeError:  # transformers minors before the sampler rename
        args = TrainingArguments(group_by_length=True, **kw)
    clock = _StepClock()
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=coll, callbacks=[clock.callback()])
    trainer.remove_callback(PrinterCallback)  # its per-log prints would be part of what we time
    t0 = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - t0
    gaps = [b - a for a, b in zip(clock.times[WARMUP_STEPS:], clock.times[WARMUP_STEPS + 1 :], strict=False)]
    del trainer, model
    if cuda:
        torch.cuda.empty_cache()
    return {
        "steps": steps,
        "train_s": total,
        "step_ms_median": statistics.median(gaps) * 1e3,
        "step_ms_mean": statistics.mean(gaps) * 1e3,
        "samples_per_s": batch / statistics.mean(gaps),
        "first_steps_s": clock.times[WARMUP_STEPS] - t0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Per-step overhead of each knob, side by side")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=("cpu", "cuda"))
    ap.add_argument("--model-dir", help="a model dir from benchmarks.synthetic (default: build a small one)")
    ap.add_argument("--train-file", help="train.csv from benchmarks.synthetic")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--only", help="comma-separated variant numbers to run (0-based), default all")
    ap.add_argument(
        "--variants",
        choices=("auto", "cpu", "cuda", "all"),
        default="auto",
        help="cpu: host-side knobs; cuda: GPU-only knobs; auto: cpu, plus cuda on a GPU",
    )
    ap.add_argument("--out", help="append one JSON line per variant here, as each finishes")
    args = ap.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if not args.model_dir:
        from benchmarks import synthetic

        m = synthetic.build("/tmp/sweepkit-synthetic-small", small=True, archs=("bert-base",))
        args.model_dir, args.train_file = m["models"]["bert-base"], m["train_file"]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model_dir)
    enc, labels = load_pairs(args.train_file, tok)

    def emit(row: dict) -> None:
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")

    emit({"what": "collate_micro", "batch": args.batch, **collate_micro(enc, labels, tok, args.batch)})
    pick_set = args.variants if args.variants != "auto" else ("all" if args.device == "cuda" else "cpu")
    variants = {"cpu": VARIANTS_CPU, "cuda": VARIANTS_CUDA, "all": VARIANTS_CPU + VARIANTS_CUDA}[pick_set]
    pick = {int(i) for i in args.only.split(",")} if args.only else set(range(len(variants)))
    results = []
    for i, (name, knobs) in enumerate(variants):
        if i not in pick:
            continue
        try:
            r = run_variant(
                args.model_dir, enc, labels, tok, steps=args.steps, device=args.device, batch=args.batch, **knobs
            )
        except Exception as exc:  # one broken knob (e.g. compile on an old driver) must not hide the rest
            r = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
        r = {"what": "variant", "name": name, **knobs, **r}
        results.append(r)
        emit(r)
    base = next((r for r in results if "error" not in r), None)  # the first variant run is the reference
    print(f"\n{'variant':50s} {'step ms (median)':>17s} {'vs first':>12s}")
    for r in results:
        if "error" in r:
            print(f"{r['name']:50s} {'error: ' + r['error'][:60]}")
            continue
        ratio = f"{base['step_ms_median'] / r['step_ms_median']:.2f}x" if base else "-"
        print(f"{r['name']:50s} {r['step_ms_median']:17.1f} {ratio:>12s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
