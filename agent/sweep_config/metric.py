"""The sweep metric's rules: which value is better, the best run, when `target` is reached, the range
a metric can take by its nature, and what to say of a run that logged no value of it (the keys it did
log that come closest).

One declaration of "best" for every caller (status, the agents' views, the report): W&B's goal
defaults to minimize, and only finished runs with a finite value compete.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional, TypeVar

T = TypeVar("T")


def maximize(metric: Optional[Mapping]) -> bool:
    return str((metric or {}).get("goal", "minimize")).lower() == "maximize"


def finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def is_better(value: float, than: Optional[float], metric: Optional[Mapping]) -> bool:
    """Whether `value` beats `than` (None: nothing to beat) under the metric's goal."""
    if than is None:
        return True
    return value > than if maximize(metric) else value < than


def best(items: Iterable[T], value: Callable[[T], Any], metric: Optional[Mapping]) -> Optional[T]:
    """The item with the best finite value (the first one on ties), or None."""
    top, top_value = None, None
    for item in items:
        v = value(item)
        if finite(v) and (top is None or is_better(float(v), top_value, metric)):
            top, top_value = item, float(v)
    return top


def reached(metric: Optional[Mapping], value: Optional[float]) -> bool:
    """`metric.target`: once a run reaches it, the sweep hands out no new runs."""
    target = (metric or {}).get("target")
    if target is None or value is None:
        return False
    return value >= target if maximize(metric) else value <= target


Bounds = tuple[Optional[float], Optional[float]]
UNBOUNDED: Bounds = (None, None)
# What a metric can be, by the words of its name (split on "/", ".", "_", "-"; a name is read from
# its last part, so eval/accuracy, eval_accuracy and test.macro_f1 all read as theirs). A rate is a
# share of cases (error_rate, success_rate); a learning rate or a word error rate (which passes 1
# when the output has more words than the reference) is not.
BOUNDS_BY_WORD: dict[str, Bounds] = {
    **dict.fromkeys(("accuracy", "acc", "f1", "precision", "recall", "auc", "auroc", "iou", "jaccard"), (0.0, 1.0)),
    **dict.fromkeys(("exact_match", "error_rate", "success_rate", "hit_rate", "pass_rate", "win_rate"), (0.0, 1.0)),
    **dict.fromkeys(("matthews_correlation", "mcc", "pearson", "pearsonr", "spearman", "spearmanr"), (-1.0, 1.0)),
    **dict.fromkeys(("correlation", "kendall", "kendalltau"), (-1.0, 1.0)),
    **dict.fromkeys(("loss", "mse", "mae", "rmse", "perplexity"), (0.0, None)),
}
NOT_BOUNDED = ("learning_rate", "wer", "cer", "word_error_rate", "char_error_rate")


def metric_bounds(name: Optional[str]) -> Bounds:
    """(low, high) a metric named `name` can take by its nature; None where it has no bound.

    Accuracy, F1, precision, recall, AUC and rates lie in [0, 1]; Matthews' and other correlations
    in [-1, 1]; losses are >= 0. An unknown name is unbounded: no interval is bent by a guess.
    """
    last = re.split(r"[/.]", (name or "").lower())[-1]
    last = re.sub(r"^(eval|test|val|valid|validation|train)_", "", last)
    if last in NOT_BOUNDED:
        return UNBOUNDED
    if last in BOUNDS_BY_WORD:
        return BOUNDS_BY_WORD[last]
    words = re.split(r"[_\-]", last)
    found = {BOUNDS_BY_WORD[w] for w in words if w in BOUNDS_BY_WORD}
    return found.pop() if len(found) == 1 else UNBOUNDED


# A run whose folder holds no W&B run logged nothing anyone can read: since transformers 5, Trainer's
# `report_to` defaults to "none", so a stock Trainer script under an agent starts no W&B run at all.
NO_WANDB_RUN = (
    "the program started no W&B run (no wandb folder in its run dir): an HF Trainer script needs "
    "--report_to wandb (add `report_to: {value: wandb}` to the sweep's parameters)"
)


def _squash(key: str) -> str:
    return re.sub(r"[^0-9a-z]", "", key.lower())


def closest_logged(name: str, logged: Iterable[str], n: int = 3) -> list[str]:
    """The logged keys nearest `name`, nearest first: those of the same words if any (HF's eval_accuracy
    is W&B's eval/accuracy), else near spellings. W&B's own `_` keys never count."""
    keys = sorted({k for k in logged if isinstance(k, str) and k != name and not k.startswith("_")})
    same = [k for k in keys if _squash(k) == _squash(name)]
    return same[:n] if same else difflib.get_close_matches(name, keys, n=n, cutoff=0.6)


def missing_reason(name: str, logged: Mapping[str, Any], run_log: Optional[bool] = None, sweep_id: str = "ID") -> str:
    """Why a finished run has no finite value of the metric `name`, and the fix, in one line.

    `logged`: the run's summary; `run_log`: whether its folder holds a W&B run (None: not known)."""
    seen = sorted(k for k, v in logged.items() if not str(k).startswith("_") and v is not None)
    if run_log is False and not seen:
        return NO_WANDB_RUN
    if logged.get(name) is not None:
        return f"finished with {name}={logged[name]!r}, not a finite number"
    near = closest_logged(name, seen)
    if near:
        return (
            f"finished without logging {name!r}; did you mean {' or '.join(near)}? (fix metric.name; "
            f"`sweepkit report {sweep_id} --metric {near[0]}` reports these runs as they are)"
        )
    if seen:
        more = f" and {len(seen) - 6} more" if len(seen) > 6 else ""
        return f"finished without logging {name!r}; it logged {', '.join(seen[:6])}{more} (fix metric.name)"
    return f"finished without logging {name!r} or anything else (check that the program logs it to W&B)"
