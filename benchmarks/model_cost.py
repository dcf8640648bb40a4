"""What tiny-bert costs against tiny-distilbert, timed one-off and side by side: parameters, and training
throughput (forward + backward + AdamW step) on the same mrpc-mini batches, in one process.

The demo's report states the same ratios from its runs (the Trainer's own samples/s); this checks
them outside the sweep. The two models alternate in short rounds (A, B, A, B, ...), so load from
other processes on the machine falls on both alike; the ratio of their medians is what is printed.

    python -m benchmarks.model_cost [--rounds 8] [--steps 20] [--batch 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from agent.trial import models
from agent.trial.mrpc_mini import generate_split

MODELS = ("tiny-bert", "tiny-distilbert")


def batches(name: str, batch: int, n: int, seed: int = 0) -> list[dict]:
    """n training batches of mrpc-mini as the trial feeds them: dynamic padding, its own tokenizer."""
    from transformers import DataCollatorWithPadding

    tok = models.load_tokenizer(name)
    rows = generate_split("train")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(rows), generator=g)[: n * batch].tolist()
    collate = DataCollatorWithPadding(tok)
    out = []
    for i in range(n):
        chunk = [rows[j] for j in order[i * batch : (i + 1) * batch]]
        enc = [
            dict(tok(r["sentence1"], r["sentence2"], truncation=True, max_length=128), labels=r["label"]) for r in chunk
        ]
        out.append(collate(enc))
    return out


def timed_steps(model: torch.nn.Module, opt: torch.optim.Optimizer, data: list[dict]) -> float:
    """Seconds for one optimizer step per batch in `data`."""
    t0 = time.perf_counter()
    for b in data:
        loss = model(**b).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per model per round")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a demo worker uses 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    setup = {}
    for name in MODELS:
        model = models.build_model(name, num_labels=2, seed=0).train()
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
        data = batches(name, args.batch, args.steps)
        timed_steps(model, opt, data[:3])  # warm-up: allocator, kernels
        setup[name] = (model, opt, data)
    times: dict[str, list[float]] = {n: [] for n in MODELS}
    for _ in range(args.rounds):
        for name in MODELS:
            model, opt, data = setup[name]
            times[name].append(timed_steps(model, opt, data))
    samples = args.steps * args.batch
    rate = {n: samples / statistics.median(t) for n, t in times.items()}
    params = {n: sum(p.numel() for p in setup[n][0].parameters()) for n in MODELS}
    layers = {n: getattr(setup[n][0].config, "num_hidden_layers", None) or setup[n][0].config.n_layers for n in MODELS}
    for n in MODELS:
        spread = min(samples / t for t in times[n]), max(samples / t for t in times[n])
        print(
            f"{n:16s} {layers[n]} layers  {params[n]:>9,} parameters  {rate[n]:7.1f} train samples/s "
            f"(rounds: {spread[0]:.1f}-{spread[1]:.1f}; batch {args.batch}, {args.threads} thread(s))"
        )
    a, b = MODELS
    print(f"ratio {a}/{b}: parameters {params[a] / params[b]:.2f}x, throughput {rate[a] / rate[b]:.2f}x")


if __name__ == "__main__":
    main()
