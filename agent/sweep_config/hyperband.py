"""W&B's hyperband early termination (its engine's `hyperband_stop_runs`), as pure functions.

An iteration is one logged value of the sweep metric (non-finite values do not count), and a band
counts them from 1: a run has reached band b once it has logged the metric b times, and the value
it is judged on there is its b-th value, `history[b - 1]`. Values are sign-flipped for maximize, so
lower is better. At band b the cut is `sorted(h[b - 1] for every run, of any state, with at least b
values)[int(1/eta * n)]`. A running run is judged at the largest band it has reached: with
`strict: true` (the default) it is stopped when its b-th value is worse than the cut; with
`strict: false`, only when its best value so far is (which stops fewer runs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Verdict:
    """What the rule decided for one running run, in the metric's own sign."""

    band: int  # the largest band the run has reached
    value: float  # what it was judged on: its band-th value (strict) or its best so far
    cut: float  # the band's threshold
    stop: bool


def judge(
    history: Sequence[float],
    histories: Sequence[Sequence[float]],
    bands: Sequence[int],
    eta: float,
    *,
    maximize: bool = False,
    strict: bool = True,
) -> Verdict | None:
    """W&B's decision for a running run with this `history`, given every run's history (its own
    included); None while it has reached no band. Histories hold finite values in logged order."""
    sign = -1.0 if maximize else 1.0
    h = [sign * v for v in history]
    band = next((b for b in sorted(bands, reverse=True) if b <= len(h)), None)
    if band is None:
        return None
    at_band = sorted(sign * x[band - 1] for x in histories if len(x) >= band)
    cut = at_band[int((1.0 / eta) * len(at_band))] if at_band else float("inf")
    value = h[band - 1] if strict else min(h)
    return Verdict(band, sign * value, sign * cut, value > cut)
