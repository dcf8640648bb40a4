"""Tokenizers and sequence-classification models: hub names, local dirs and the tiny offline ones.

`tiny-bert` / `tiny-distilbert` are small random-init architectures with a WordPiece vocab
trained on mrpc-mini. They are written once into the cache dir with `save_pretrained`, so
they load through exactly the same code path as a hub model, and every part of sweepkit runs
with no network. Only torch + transformers (+ tokenizers, filelock, both their deps) are needed.

Warm workers call `build_model` many times in one process: the pretrained weights stay in
memory as a CPU state dict per model name, and each trial re-instantiates the model from it.
The model is always built the same way (from the config under the trial's seed, then the
cached weights on top), so a trial gives the same model whether the cache was cold or warm.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from agent.errors import one_line
from agent.paths import cache_root

TINY_VERSION = "5"
# The tutorial's BERT (12 layers) against DistilBERT (6) at toy scale: tiny-distilbert has half of
# tiny-bert's layers at the same width, so tiny-bert has 1.74x its parameters (BERT-base/DistilBERT:
# 1.66x) and about half its throughput. No dropout: a model trained from scratch for a minute
# underfits, it does not overfit.
TINY_SPECS = {
    "tiny-bert": dict(
        model_type="bert",
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=512,
        max_position_embeddings=512,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    ),
    "tiny-distilbert": dict(
        model_type="distilbert",
        dim=128,
        n_layers=2,
        n_heads=4,
        hidden_dim=512,
        max_position_embeddings=512,
        dropout=0.0,
        attention_dropout=0.0,
        seq_classif_dropout=0.0,
    ),
}
# How the random body is drawn, beyond the config's normal(0, 0.02), the same for both models so that
# depth is what the demo compares. From a plain random init tiny-distilbert often sat on a 0.62
# plateau for a whole smoke trial, and the 4-layer tiny-bert ended at 0.74 after 3 epochs. Mimetic
# attention init (Trockman & Kolter, 2023: W_q W_k^T ~ a1 Z + b1 I, W_o W_v ~ a2 Z - b2 I) starts
# every head attending to tokens like itself, i.e. to the same word in the other sentence, and
# smaller position embeddings make those copies look alike; both learn from epoch 1.
TINY_INIT = {
    "tiny-bert": dict(mimetic=(0.7, 0.7, 0.4, 0.4), position_scale=0.25),
    "tiny-distilbert": dict(mimetic=(0.7, 0.7, 0.4, 0.4), position_scale=0.25),
}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

_STATE_CACHE: dict[str, tuple[object, dict]] = {}  # model name -> (config, CPU state dict)
_TOKENIZER_CACHE: dict[str, object] = {}
_VOCAB_HASH: dict[str, str] = {}


class ModelLoadError(RuntimeError):
    """One user-facing line: which model, what went wrong, how to fix it."""


def _tiny_dir(name: str) -> Path:
    from agent.trial import mrpc_mini

    return cache_root() / "models" / f"{name}-v{TINY_VERSION}-{mrpc_mini.fingerprint()[:8]}"


def _train_vocab() -> list[str]:
    """WordPiece vocab for mrpc-mini: every corpus word whole, plus single characters as
    `x` / `##x` pieces so any English text still splits into known pieces instead of [UNK].

    Words come from the tokenizers library's own BERT normalizer and pre-tokenizer, so the
    vocab matches how the tokenizer will split text. tokenizers' WordPiece *trainer* is not
    used: it breaks ties between equally frequent merges differently from run to run (seen
    here: `syst`/`##ems` one run, `system`/`##tem` the next), and the tiny models must be the
    same bytes on every machine.
    """
    import string

    from tokenizers import normalizers, pre_tokenizers

    from agent.trial import mrpc_mini

    norm = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = {w for text in mrpc_mini.all_text() for w, _ in pre.pre_tokenize_str(norm.normalize_str(text))}
    chars = sorted(set(string.ascii_lowercase + string.digits + string.punctuation) | {c for w in words for c in w})
    return SPECIAL_TOKENS + chars + [f"##{c}" for c in chars] + sorted(words - set(chars))


def _attention_weights(model):
    """Per layer: the (query, key, value, output) projections, for BERT and DistilBERT alike."""
    base = model.base_model
    if hasattr(base, "transformer"):  # DistilBERT's MultiHeadSelfAttention
        return [(a.q_lin, a.k_lin, a.v_lin, a.out_lin) for a in (layer.attention for layer in base.transformer.layer)]
    return [
        (att.self.query, att.self.key, att.self.value, att.output.dense)
        for att in (layer.attention for layer in base.encoder.layer)
    ]


def _shape_init(model, mimetic=None, position_scale=None) -> None:
    """Apply TINY_INIT to a freshly initialized model, deterministically (own generator, 1 thread)."""
    import torch

    if mimetic is None and position_scale is None:
        return
    gen = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the SVD gives the same bits however many threads the caller allows
    try:
        with torch.no_grad():
            for q, k, v, o in _attention_weights(model) if mimetic else ():
                qk = _mimetic_pair(q.weight.shape[0], mimetic[0], mimetic[1], gen)
                vo = _mimetic_pair(v.weight.shape[0], mimetic[2], -mimetic[3], gen)
                q.weight.copy_(qk[0].T)  # scores = x W_q^T W_k y
                k.weight.copy_(qk[1])
                o.weight.copy_(vo[0])  # output = W_o W_v x
                v.weight.copy_(vo[1])
            if position_scale is not None:
                model.base_model.embeddings.position_embeddings.weight.mul_(position_scale)
    finally:
        torch.set_num_threads(threads)


def _mimetic_pair(d: int, alpha: float, beta: float, gen):
    """(A, B) with A @ B = alpha * Z + beta * I, Z ~ N(0, 1/d), split evenly by SVD."""
    import torch

    u, s, vh = torch.linalg.svd(alpha * torch.randn(d, d, generator=gen) / d**0.5 + beta * torch.eye(d))
    root = s.sqrt()
    return u * root, root[:, None] * vh


def _build_tiny(name: str, target: Path) -> None:
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        BertConfig,
        BertTokenizer,  # the tokenizers-backed class (transformers 5 keeps BertTokenizerFast as its alias)
        DistilBertConfig,
        DistilBertTokenizer,
    )

    vocab = _train_vocab()
    spec: dict[str, Any] = dict(TINY_SPECS[name])  # the config's keyword arguments, and model_type
    model_type = spec.pop("model_type")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        vocab_file = tmp / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n")
        tok_cls = BertTokenizer if model_type == "bert" else DistilBertTokenizer
        tok = tok_cls(vocab={p: i for i, p in enumerate(vocab)}, do_lower_case=True, model_max_length=512)
        tok.save_pretrained(tmp)
        cfg_cls = BertConfig if model_type == "bert" else DistilBertConfig
        config = cfg_cls(vocab_size=len(vocab), pad_token_id=0, **spec)
        torch.manual_seed(0)  # the "pretrained" random body is the same on every machine
        model = AutoModelForSequenceClassification.from_config(config)
        _shape_init(model, **TINY_INIT.get(name, {}))
        model.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_tiny(name: str) -> Path:
    """The tiny model's directory, building it on first use (safe across concurrent processes)."""
    from filelock import FileLock

    target = _tiny_dir(name)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if not (target / "config.json").is_file():
            _build_tiny(name, target)
    return target


def _offline_hint(name: str) -> str:
    return (
        f"model {name!r} is not a local directory or in the local Hugging Face cache, and the hub is "
        f"unreachable (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', 'unset')} or no network); "
        f"fix: pass a local model directory, use tiny-bert / tiny-distilbert, or pre-download it "
        f"with `hf download {name}` on a connected machine"
    )


def _is_connectivity_error(exc: BaseException) -> bool:
    from huggingface_hub import errors as hub_errors

    chain: Optional[BaseException] = exc
    seen: set[int] = set()
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        if isinstance(
            chain, (hub_errors.OfflineModeIsEnabled, hub_errors.LocalEntryNotFoundError, ConnectionError, TimeoutError)
        ):
            return True
        text = str(chain).lower()
        if any(s in text for s in ("offline", "couldn't connect", "connection", "resolve", "network")):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def resolve_source(name: str) -> str:
    """What from_pretrained should load: the tiny model's dir, a local dir, or the hub id."""
    if name in TINY_SPECS:
        return str(ensure_tiny(name))
    return name


def _hub_call(name: str, fn):
    try:
        return fn()
    except (OSError, ValueError) as exc:
        if os.path.isdir(name):
            raise ModelLoadError(f"local model directory {name!r} cannot be loaded: {one_line(exc)}") from exc
        if _is_connectivity_error(exc):
            raise ModelLoadError(_offline_hint(name)) from exc
        raise ModelLoadError(
            f"model {name!r} was not found on the hub or as a local directory; "
            f"check the name (e.g. bert-base-uncased) or the path"
        ) from exc


def load_tokenizer(name: str):
    if name not in _TOKENIZER_CACHE:
        from transformers import AutoTokenizer

        src = resolve_source(name)
        _TOKENIZER_CACHE[name] = _hub_call(name, lambda: AutoTokenizer.from_pretrained(src))
    return _TOKENIZER_CACHE[name]


def tokenizer_fingerprint(name: str, tokenizer) -> str:
    """Name + class + vocab hash: keys the tokenized-data cache (a retrained vocab misses it)."""
    key = name
    if key not in _VOCAB_HASH:
        vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
        h = hashlib.sha256(f"{name}|{type(tokenizer).__name__}|{tokenizer.model_max_length}|".encode())
        h.update(vocab.encode())
        _VOCAB_HASH[key] = h.hexdigest()[:16]
    return _VOCAB_HASH[key]


def _pretrained_state(name: str, num_labels: int):
    """(config, CPU state dict of the weights that came from the checkpoint), loaded once per process."""
    if name not in _STATE_CACHE:
        from transformers import AutoModelForSequenceClassification

        src = resolve_source(name)
        model, info = _hub_call(
            name,
            lambda: AutoModelForSequenceClassification.from_pretrained(
                src, num_labels=num_labels, ignore_mismatched_sizes=True, output_loading_info=True
            ),
        )
        fresh = set(info.get("missing_keys", ())) | {
            k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", ())
        }
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items() if k not in fresh}
        _STATE_CACHE[name] = (model.config, state)
        del model
    return _STATE_CACHE[name]


def build_model(
    name: str, num_labels: int, seed: int, problem_type: str | None = None, id2label: dict[int, str] | None = None
):
    """A fresh classification model: checkpoint weights + a head initialized from `seed`."""
    import copy

    import torch
    from transformers import AutoModelForSequenceClassification, set_seed

    base_config, state = _pretrained_state(name, num_labels)
    config = copy.deepcopy(base_config)
    config.num_labels = num_labels
    if id2label:
        config.id2label = dict(id2label)
        config.label2id = {v: k for k, v in id2label.items()}
    if problem_type:
        config.problem_type = problem_type
    set_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    with torch.no_grad():
        model.load_state_dict(usable, strict=False)
    return model


def clear_caches() -> None:
    """Drop the in-memory weights/tokenizers (a warm worker switching to very different models)."""
    _STATE_CACHE.clear()
    _TOKENIZER_CACHE.clear()
    _VOCAB_HASH.clear()
