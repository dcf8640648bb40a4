"""False-positive rates and power of the report's paired comparison, against the BCa bootstrap it replaced;
and the coverage of its intervals of a mean over seeds for a bounded metric, against the plain t-interval.

A/A comparisons: paired differences drawn from one distribution with mean 0 (normal, and t with 3
df for heavy tails); a method's false-positive rate is how often it calls them significant at 95%.
Power: differences of the size the report calls "detectable at 80% power" at that n.
Seed intervals: accuracies over n seeds drawn from a Beta with the given mean and sd; coverage of the
true mean, and how often the interval leaves [0, 1].
Asserts nothing; the tests (tests/analysis/test_calibration.py) hold the limits.

    python -m benchmarks.calibration [--draws 2000] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from scipy import stats as sps

from analysis.stats import compare, intervals

NS = (2, 3, 4, 6, 10, 30, 100)


def bca_significant(d: np.ndarray) -> bool:
    res = sps.bootstrap((d,), np.mean, n_resamples=1999, method="BCa", rng=np.random.default_rng(0))
    lo, hi = res.confidence_interval
    return bool(lo > 0 or hi < 0)


def rate(fn, draw, n: int, draws: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        return float(np.mean([fn(draw(rng, n)) for _ in range(draws)]))


def seed_coverage(mu: float, sd: float, n: int, draws: int, seed: int) -> dict:
    """Coverage of the true mean by the plain and the bounded (logit) t-interval, and the plain one's escapes."""
    k = mu * (1 - mu) / sd**2 - 1
    rng = np.random.default_rng(seed)
    plain = bounded = outside = 0
    for _ in range(draws):
        v = rng.beta(mu * k, (1 - mu) * k, n)
        _, lo, hi = compare.t_interval(v)
        plain += lo <= mu <= hi
        outside += lo < 0 or hi > 1
        _, lo, hi = intervals.mean_interval(v, (0.0, 1.0))
        bounded += lo <= mu <= hi
    return {"mu": mu, "sd": sd, "n": n, "plain": plain / draws, "bounded": bounded / draws, "outside": outside / draws}


def seed_intervals(draws: int) -> list[dict]:
    rows = []
    print(f"\n{'mean':>5} {'sd':>5} {'n':>3} {'plain t cover':>14} {'logit t cover':>14} {'plain t outside [0,1]':>22}")
    for mu, sd in ((0.80, 0.03), (0.95, 0.03), (0.99, 0.01)):
        for n in NS:
            r = seed_coverage(mu, sd, n, draws, 50 + n)
            rows.append(r)
            print(f"{mu:5.2f} {sd:5.2f} {n:3d} {r['plain']:14.1%} {r['bounded']:14.1%} {r['outside']:22.1%}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--bca-draws", type=int, default=400, help="the bootstrap is slow: fewer draws")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    shapes = {"normal": lambda r, n: r.normal(0, 1, n), "t3": lambda r, n: r.standard_t(3, n)}
    rows = []
    print(f"{'n':>4} {'shape':>7} {'BCa FP':>8} {'t FP':>7} {'sign-flip FP':>13} {'power@detectable':>17}")
    for n in NS:
        for shape, draw in shapes.items():
            row = {
                "n": n,
                "shape": shape,
                "bca_fp": rate(bca_significant, draw, n, args.bca_draws, n) if n >= 3 else None,
                "t_fp": rate(lambda d: compare.paired_t(d)[4], draw, n, args.draws, 10 + n),
                "sign_flip_fp": rate(lambda d: compare.sign_flip_p(d) < 0.05, draw, n, args.draws, 20 + n),
            }
            if shape == "normal":
                eff = compare.detectable_difference(1.0, n)
                row["power"] = rate(lambda d, eff=eff: compare.paired_t(d + eff)[4], draw, n, args.draws, 30 + n)
            rows.append(row)

            def pct(v):
                return "   n/a" if v is None else f"{v:6.1%}"

            print(
                f"{n:>4} {shape:>7} {pct(row['bca_fp']):>8} {pct(row['t_fp']):>7} {pct(row['sign_flip_fp']):>13} "
                f"{pct(row.get('power')):>17}"
            )
    se = math.sqrt(0.05 * 0.95 / args.draws)
    print(f"Monte-Carlo standard error of a 5% rate at {args.draws} draws: {se:.1%}")
    seeds = seed_intervals(args.draws)
    if args.out:
        with open(args.out, "w") as fh:
            out = {"draws": args.draws, "bca_draws": args.bca_draws, "rows": rows, "seed_intervals": seeds}
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
