"""mrpc-mini, the tiny offline models, the tokenized-data cache, the GLUE metric and the collator."""

from pathlib import Path

import pytest

from agent.trial import data, models, mrpc_mini
from agent.trial.config import build_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPKIT_CACHE", str(tmp_path / "cache"))
    models.clear_caches()
    data._MEMORY.clear()
    yield tmp_path / "cache"
    models.clear_caches()
    data._MEMORY.clear()


def test_mrpc_mini_is_deterministic_mrpc_shaped_and_not_trivial():
    rows = mrpc_mini.generate_split("train")
    assert rows == mrpc_mini.generate_split("train")  # same bytes every time, every machine
    assert set(rows[0]) == {"sentence1", "sentence2", "label", "idx"}
    assert len(rows) >= 3000 and len(mrpc_mini.generate_split("validation")) >= 500
    assert sum(r["label"] for r in rows) * 2 == len(rows)  # labels exactly balanced
    # Not copy-paste: positives are rewritten, not the same string twice.
    pos = [r for r in rows if r["label"] == 1]
    assert sum(r["sentence1"] == r["sentence2"] for r in pos) / len(pos) < 0.05
    train = {(r["sentence1"], r["sentence2"]) for r in rows}
    val = {(r["sentence1"], r["sentence2"]) for r in mrpc_mini.generate_split("validation")}
    assert len(train & val) == 0


@pytest.mark.slow
def test_mrpc_mini_lengths_are_balanced_across_labels(cache):
    """Length-grouped batches must stay label-balanced: every pair length holds as many
    positives as negatives, in both splits, measured in tiny-bert tokens."""
    from collections import Counter

    tok = models.load_tokenizer("tiny-bert")
    for split in ("train", "validation"):
        rows = mrpc_mini.generate_split(split)
        by_words = Counter((r["label"], mrpc_mini.pair_length(r["sentence1"], r["sentence2"])) for r in rows)
        assert all(by_words[(0, n)] == by_words[(1, n)] for _, n in by_words), split
        enc = tok([r["sentence1"] for r in rows], [r["sentence2"] for r in rows])
        by_tokens = Counter((r["label"], len(ids)) for r, ids in zip(rows, enc["input_ids"], strict=False))
        assert all(by_tokens[(0, n)] == by_tokens[(1, n)] for _, n in by_tokens), split
        assert len({n for _, n in by_tokens}) >= 8  # lengths vary, so grouping by length means something


def test_mrpc_mini_generation_is_fast():
    import time

    start = time.perf_counter()
    mrpc_mini.generate_split("train"), mrpc_mini.generate_split("validation")
    assert time.perf_counter() - start < 2.0  # built on every fresh process; measured ~0.3 s


def test_mrpc_mini_positives_keep_the_actor_and_negatives_sometimes_change_it():
    rows = mrpc_mini.generate_split("validation")
    actors = mrpc_mini.PEOPLE + mrpc_mini.COMPANIES

    def actor(s):
        return {a for a in actors if a in s}

    pos = [actor(r["sentence1"]) == actor(r["sentence2"]) for r in rows if r["label"] == 1]
    neg = [actor(r["sentence1"]) == actor(r["sentence2"]) for r in rows if r["label"] == 0]
    assert all(pos)
    assert 0.05 < 1 - sum(neg) / len(neg) < 0.5  # many negatives keep the actor: overlap is no giveaway


def test_tiny_vocab_is_canonical_and_covers_any_text():
    vocab = models._train_vocab()
    assert vocab == models._train_vocab()
    assert vocab[:5] == models.SPECIAL_TOKENS and len(set(vocab)) == len(vocab)
    assert {"a", "##a", "z", "##z", "7", "##7"} <= set(vocab)


def test_tiny_models_build_once_load_like_hub_models_and_are_reproducible(cache):
    import torch

    path = models.ensure_tiny("tiny-distilbert")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    tok = models.load_tokenizer("tiny-distilbert")
    ids = tok("Harbor Foods bought a zebra", "x")["input_ids"]
    assert tok.unk_token_id not in ids  # unseen words split into characters
    a = models.build_model("tiny-distilbert", 3, seed=5)
    models.clear_caches()  # cold again: weights come from disk
    b = models.build_model("tiny-distilbert", 3, seed=5)
    c = models.build_model("tiny-distilbert", 3, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    head = [k for k in sa if "classifier" in k]
    assert head and not all(torch.equal(sa[k], sc[k]) for k in head)  # the head follows the seed
    body = [k for k in sa if "embeddings" in k]
    assert all(torch.equal(sa[k], sc[k]) for k in body)  # the body is the checkpoint


def test_tiny_models_mirror_bert_against_distilbert(cache):
    """tiny-distilbert has half of tiny-bert's layers at the same width, as DistilBERT has half of BERT's,
    and both start from the same mimetic attention, so depth is what the demo compares."""
    import torch

    bert, distil = (models.build_model(n, 2, seed=0) for n in ("tiny-bert", "tiny-distilbert"))
    assert bert.config.num_hidden_layers == 2 * distil.config.n_layers
    assert bert.config.hidden_size == distil.config.dim and bert.config.vocab_size == distil.config.vocab_size
    assert 1.5 < bert.num_parameters() / distil.num_parameters() < 2.0  # BERT-base / DistilBERT: 1.66
    pairs = [(a.self.query, a.self.key) for a in (layer.attention for layer in bert.bert.encoder.layer)]
    pairs += [(a.q_lin, a.k_lin) for a in (layer.attention for layer in distil.distilbert.transformer.layer)]
    for q, k in pairs:  # W_q^T W_k = 0.7 Z + 0.7 I: scores start high for a token and its like
        assert float(torch.trace(q.weight.detach().T @ k.weight.detach())) / q.weight.shape[0] > 0.5


def test_hub_model_offline_error_is_one_line(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(models.ModelLoadError) as e:
        models.load_tokenizer("distilbert-base-uncased")
    msg = str(e.value)
    assert "\n" not in msg and "'distilbert-base-uncased'" in msg and "unreachable" in msg and "tiny-bert" in msg


@pytest.mark.slow
def test_tokenized_cache_memory_then_disk_keyed_by_tokenizer(cache):
    cfg = build_config({"model_name_or_path": "tiny-bert", "task_name": "mrpc-mini", "max_train_samples": 100})
    tok = models.load_tokenizer("tiny-bert")
    fp = models.tokenizer_fingerprint("tiny-bert", tok)
    first = data.load_task_data(cfg, tok, fp)
    assert first.cache == "miss" and len(first.train) == 100 and first.num_labels == 2
    assert set(first.train.column_names) == {"input_ids", "attention_mask", "token_type_ids", "labels", "length"}
    assert data.load_task_data(cfg, tok, fp).cache == "memory"
    data._MEMORY.clear()
    assert data.load_task_data(cfg, tok, fp).cache == "disk"
    longer = build_config({"model_name_or_path": "tiny-bert", "task_name": "mrpc-mini", "max_seq_length": 32})
    assert data.load_task_data(longer, tok, fp).cache == "miss"  # another max_seq_length, another key
    other = models.load_tokenizer("tiny-distilbert")
    assert models.tokenizer_fingerprint("tiny-distilbert", other) != fp
    assert data.load_task_data(cfg, other, models.tokenizer_fingerprint("tiny-distilbert", other)).cache == "miss"


def test_local_files_bad_columns_and_formats_are_one_line(cache, tmp_path):
    (tmp_path / "t.csv").write_text("foo,bar,label\na,b,1\n")
    cfg = build_config(
        {
            "task_name": "mrpc",
            "train_file": str(tmp_path / "t.csv"),
            "validation_file": str(tmp_path / "t.csv"),
            "model_name_or_path": "tiny-bert",
        }
    )
    tok = models.load_tokenizer("tiny-bert")
    with pytest.raises(data.DataError, match="match no GLUE layout; task 'mrpc' expects sentence1 \\+ sentence2"):
        data.load_task_data(cfg, tok, "fp")
    (tmp_path / "t.txt").write_text("x")
    cfg2 = build_config(
        {
            "task_name": "mrpc",
            "train_file": str(tmp_path / "t.txt"),
            "validation_file": str(tmp_path / "t.txt"),
            "model_name_or_path": "tiny-bert",
        }
    )
    with pytest.raises(data.DataError, match="must share one format"):
        data.load_task_data(cfg2, tok, "fp")


@pytest.mark.parametrize(
    "task, preds, refs, expected",
    [
        ("mrpc", [1, 1, 0, 0], [1, 0, 0, 0], {"accuracy": 0.75, "f1": 2 / 3}),
        ("mrpc-mini", [1, 1, 0, 0], [1, 0, 0, 0], {"accuracy": 0.75, "f1": 2 / 3}),
        ("cola", [1, 0, 1, 0], [1, 0, 1, 0], {"matthews_correlation": 1.0}),
        ("mnli", [0, 1, 2, 2], [0, 1, 2, 1], {"accuracy": 0.75}),
        ("stsb", [0.0, 1.0, 2.0, 4.0], [0.0, 1.0, 2.0, 3.0], {"spearmanr": 1.0}),
    ],
)
def test_glue_metric_module_loads_by_path(task, preds, refs, expected):
    import evaluate

    from agent.trial.train import METRIC_PATH

    out = evaluate.load(METRIC_PATH, task).compute(predictions=preds, references=refs)
    for k, v in expected.items():
        assert out[k] == pytest.approx(v)
    if task == "stsb":
        assert 0.9 < out["pearson"] < 1.0


def test_collator_pads_dynamically_and_works_on_a_plain_torch_dataset(cache):
    import torch

    from agent.trial.arguments import make_collator

    tok = models.load_tokenizer("tiny-bert")

    class Plain(torch.utils.data.Dataset):
        def __init__(self):
            self.items = [
                dict(tok("short one"), labels=0, length=4),
                dict(tok("a much longer sentence here"), labels=1, length=7),
            ]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    batch = make_collator(tok)([Plain()[0], Plain()[1]])
    assert batch["input_ids"].shape[1] == max(len(x["input_ids"]) for x in Plain().items)
    assert "length" not in batch and batch["labels"].tolist() == [0, 1]
    assert make_collator(tok, 8)([Plain()[0]])["input_ids"].shape[1] % 8 == 0


def test_training_arguments_apply_every_knob_on_cpu():
    from agent.trial.arguments import check_applied, resolve_hardware, training_arguments

    cfg = build_config(
        {
            "learning_rate": 3e-4,
            "per_device_train_batch_size": 8,
            "num_train_epochs": 2,
            "warmup_ratio": 0.2,
            "weight_decay": 0.01,
            "seed": 4,
            "group_by_length": False,
        }
    )
    hw = resolve_hardware(cfg)
    assert (hw["precision"], hw["tf32"], hw["optim"]) == ("fp32", False, "adamw_torch")  # this CPU box
    args = training_arguments(cfg, "/tmp/unused", hw)
    check_applied(args, cfg, hw)
    assert args.warmup_steps == 0.2 and args.train_sampling_strategy == "random" and args.save_strategy == "no"
    assert args.report_to == ["wandb"] and args.logging_nan_inf_filter is False
    args.learning_rate = 1.0  # the check really compares
    with pytest.raises(AssertionError, match="learning_rate"):
        check_applied(args, cfg, hw)


def test_training_core_imports_without_wandb_datasets_evaluate():
    import subprocess
    import sys

    code = (
        "import sys; [sys.modules.__setitem__(m, None) for m in ('wandb', 'datasets', 'evaluate')];"
        "import agent.trial.models; from agent.trial.arguments import make_collator, training_arguments;"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr[-500:]
