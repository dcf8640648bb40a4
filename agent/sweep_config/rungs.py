"""W&B's hyperband bands (wandb/sweeps `hyperband_stopping.py`), as a pure function.

A band b is a 0-based index into the run's history of the sweep metric: a run is judged at band
b once it has logged the metric more than b times (W&B compares `history[b]`). The agent should
therefore report the k-th logged value (k from 0) to the pruner as step k.
"""

from __future__ import annotations

from collections.abc import Mapping

# W&B builds 100 bands from min_iter; past ~1e18 they are unreachable and float maths overflows.
MAX_BANDS = 100
_UNREACHABLE = 2**62


def hyperband_rungs(early_terminate: Mapping, *, up_to: int | None = None) -> list[int]:
    """The sorted, distinct bands of a hyperband `early_terminate` (eta defaults to 3).

    `max_iter` + `s`: max_iter/eta, max_iter/eta^2, ... (s of them, stopping below 1), truncated.
    `min_iter`: min_iter * eta^k for k = 0..99, truncated. `up_to` drops bands above it.
    Raises ValueError for a config with neither form or with no band at all.
    """
    eta = early_terminate.get("eta", 3)
    if not eta > 1:
        raise ValueError(f"early_terminate.eta must be > 1, got {eta}")
    bands: list[int] = []
    if "max_iter" in early_terminate:
        band = float(early_terminate["max_iter"])
        for _ in range(int(early_terminate["s"])):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
    elif "min_iter" in early_terminate:
        band = float(early_terminate["min_iter"])
        for _ in range(MAX_BANDS):
            if band > _UNREACHABLE or (up_to is not None and int(band) > up_to):
                break
            bands.append(int(band))
            band *= eta
    else:
        raise ValueError("early_terminate needs either min_iter, or max_iter and s")
    if up_to is not None:
        bands = [b for b in bands if b <= up_to]
    bands = sorted(set(bands))
    if not bands and up_to is None:
        raise ValueError("early_terminate gives no band (max_iter / eta < 1): raise max_iter or s, or lower eta")
    return bands
