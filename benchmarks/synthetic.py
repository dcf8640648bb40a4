"""MRPC-shaped synthetic data and random-init models, for boxes with no hub and no network.

The GPU benchmark needs bert-base / distilbert-base *architectures* and data whose token lengths
match MRPC (about 27 wordpieces per sentence, 3,668 training pairs, 408 dev pairs), because the
per-step cost of a GLUE fine-tune depends on those shapes, not on the weights or the words.

Every word is one wordpiece of a made-up vocabulary, so sentence length in words is the length in
wordpieces. Labels are learnable from overlap (a paraphrase keeps most words of its source, a
non-paraphrase mixes in another sentence), so the "same accuracy as cold" check compares numbers
that move with training rather than a constant.

    python -m benchmarks.synthetic OUT_DIR [--small]     # writes OUT_DIR/{data,bert-base,distilbert-base}
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics

MRPC_TRAIN, MRPC_DEV = 3668, 408
MEAN_WORDS, SD_WORDS, MIN_WORDS, MAX_WORDS = 27, 7, 8, 60
POSITIVE_SHARE = 0.68  # MRPC's dev set is 68% paraphrases
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ARCHS = ("bert-base", "distilbert-base")


def make_vocab(n_words: int = 8000, seed: int = 0) -> list[str]:
    """Unique lowercase pseudo-words; each is a single wordpiece of the tokenizer built from them."""
    rng = random.Random(seed)
    onsets = "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr pl pr sh st th tr".split()
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
    words: set[str] = set()
    while len(words) < n_words:
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(1, 3))))
    return sorted(words)


def _sentence(rng: random.Random, vocab: list[str]) -> list[str]:
    n = int(round(min(MAX_WORDS, max(MIN_WORDS, rng.gauss(MEAN_WORDS, SD_WORDS)))))
    return [rng.choice(vocab) for _ in range(n)]


def _paraphrase(rng: random.Random, words: list[str], vocab: list[str]) -> list[str]:
    out = [w if rng.random() > 0.15 else rng.choice(vocab) for w in words]
    i = rng.randrange(len(out))  # move one clause-sized span, as paraphrases reorder clauses
    span = out[i : i + rng.randint(2, 6)]
    del out[i : i + len(span)]
    j = rng.randrange(len(out) + 1)
    return out[:j] + span + out[j:]


def _non_paraphrase(rng: random.Random, words: list[str], vocab: list[str]) -> list[str]:
    other = _sentence(rng, vocab)
    keep = rng.sample(words, k=max(1, int(len(words) * 0.4)))
    mixed = other[: max(1, len(other) - len(keep))] + keep
    rng.shuffle(mixed)
    return mixed


def make_pairs(n: int, seed: int, vocab: list[str]) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for idx in range(n):
        s1 = _sentence(rng, vocab)
        label = int(rng.random() < POSITIVE_SHARE)
        s2 = _paraphrase(rng, s1, vocab) if label else _non_paraphrase(rng, s1, vocab)
        rows.append({"sentence1": " ".join(s1), "sentence2": " ".join(s2), "label": label, "idx": idx})
    return rows


def write_data(
    out_dir: str, vocab: list[str], n_train: int = MRPC_TRAIN, n_dev: int = MRPC_DEV, seed: int = 0
) -> dict[str, str]:
    """train.csv / validation.csv with GLUE MRPC column names; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for split, n, s in (("train", n_train, seed), ("validation", n_dev, seed + 1)):
        path = os.path.join(out_dir, f"{split}.csv")
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["sentence1", "sentence2", "label", "idx"])
            w.writeheader()
            w.writerows(make_pairs(n, s, vocab))
        paths[split] = path
    return paths


def _tokenizer(arch: str, vocab: list[str]):
    from transformers import BertTokenizer, DistilBertTokenizer

    cls = DistilBertTokenizer if arch.startswith("distilbert") else BertTokenizer
    table = {w: i for i, w in enumerate(SPECIALS + vocab)}
    try:
        tok = cls(vocab=table)  # transformers 5.x (tokenizers-backed)
        if tok.convert_tokens_to_ids(vocab[0]) == table[vocab[0]]:
            return tok
    except Exception:  # other 5.x minors take a file: fall through
        pass
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    with open(path, "w") as fh:
        fh.write("\n".join(SPECIALS + vocab) + "\n")
    tok = cls(vocab_file=path)
    if tok.convert_tokens_to_ids(vocab[0]) != table[vocab[0]]:
        raise RuntimeError(f"cannot build a {cls.__name__} from a word list with this transformers version")
    return tok


def _model_config(arch: str, vocab_size: int, small: bool):
    from transformers import BertConfig, DistilBertConfig

    if arch == "bert-base":
        extra = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128) if small else {}
        return BertConfig(vocab_size=vocab_size, num_labels=2, **extra)  # defaults = bert-base-uncased shape
    if arch == "distilbert-base":
        extra = dict(n_layers=2, dim=64, n_heads=2, hidden_dim=128) if small else {}
        return DistilBertConfig(vocab_size=vocab_size, num_labels=2, **extra)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")


def write_model(arch: str, out_dir: str, vocab: list[str], *, small: bool = False, seed: int = 0) -> str:
    """A random-init `arch` with its tokenizer, loadable by from_pretrained(out_dir) offline."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    tok = _tokenizer(arch, vocab)
    model = AutoModelForSequenceClassification.from_config(_model_config(arch, len(tok), small))
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def token_stats(data_path: str, model_dir: str, limit: int = 500) -> dict:
    """Mean wordpieces per sentence and per pair, measured with the saved tokenizer."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    with open(data_path) as fh:
        rows = list(csv.DictReader(fh))[:limit]
    per_sent = [len(tok.tokenize(r[k])) for r in rows for k in ("sentence1", "sentence2")]
    per_pair = [len(tok(r["sentence1"], r["sentence2"])["input_ids"]) for r in rows]
    return {
        "wordpieces_per_sentence": statistics.mean(per_sent),
        "tokens_per_pair": statistics.mean(per_pair),
        "max_tokens_per_pair": max(per_pair),
    }


def build(
    out_dir: str,
    *,
    small: bool = False,
    n_train: int = MRPC_TRAIN,
    n_dev: int = MRPC_DEV,
    archs: tuple[str, ...] = ARCHS,
) -> dict:
    """Data plus one model dir per architecture; idempotent (reuses what a previous call wrote)."""
    vocab = make_vocab()
    manifest_path = os.path.join(out_dir, "manifest.json")
    want = {"small": small, "n_train": n_train, "n_dev": n_dev, "archs": list(archs)}
    if os.path.exists(manifest_path):
        with open(manifest_path) as fh:
            manifest = json.load(fh)
        if manifest.get("request") == want:
            return manifest
    paths = write_data(os.path.join(out_dir, "data"), vocab, n_train, n_dev)
    models = {a: write_model(a, os.path.join(out_dir, a), vocab, small=small) for a in archs}
    manifest = {
        "request": want,
        "train_file": paths["train"],
        "validation_file": paths["validation"],
        "models": models,
        "stats": token_stats(paths["train"], models[archs[0]]),
    }
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, indent=1)
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--small", action="store_true", help="2-layer, 64-wide models (CPU smoke runs)")
    ap.add_argument("--n-train", type=int, default=MRPC_TRAIN)
    ap.add_argument("--n-dev", type=int, default=MRPC_DEV)
    args = ap.parse_args(argv)
    print(json.dumps(build(args.out_dir, small=args.small, n_train=args.n_train, n_dev=args.n_dev), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
