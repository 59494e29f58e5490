"""How far the phase classifier's top-5 Hill exponent can tell heavy-tailed from bulk-decay: its sampling spread.

    python benchmarks/hill_top_spread.py [--seed 2000] [--draws 4000] [--sizes 384 4096] [--markdown]

Between heavy-tailed and bulk-decay, a layer with no MP bulk is called heavy-tailed when the Hill exponent of
its ``top_k = 5`` largest eigenvalues is at most 4 (with a good CSN tail fit), bulk-decay above
(:class:`rmtkit.phases.PhaseCriteria`). Five order statistics carry little information, so even when the top
follows an exact power law the estimate scatters widely around the true exponent. This script draws
``--draws`` samples of ``n`` i.i.d. Pareto values of density exponent ``a`` (``p(x) ~ x^-a``, ``x >= 1``), the
best case for the estimator, computes :func:`rmtkit.powerlaw.hill_top_alpha` on the top 5 of each, and prints
the 16th, 50th and 84th percentiles and the share at most 4 (the share a layer with that exponent would be
called heavy-tailed, if the rest of the rule held). Beside them: the asymptotic standard error ``(a - 1) / sqrt(k)``
(Hill 1975, by the delta method on ``1 / (a - 1)``), and the exact share, since on Pareto values ``k`` times the
mean log-ratio of the top ``k`` over the ``(k+1)``-th largest is ``Gamma(k)`` of rate ``a - 1`` (Renyi's
representation), so ``P(Hill <= 4) = P(Gamma(k, 1) >= (a - 1) k / 3)``.

Nothing was tuned on these draws; the seed (2000 on) is not that of any calibration.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy.stats import gamma

from rmtkit.phases import PhaseCriteria
from rmtkit.powerlaw import hill_top_alpha


def spread(a: float, n: int, draws: int, rng: np.random.Generator, k: int) -> np.ndarray:
    """``draws`` top-``k`` Hill exponents of ``n`` Pareto values of density exponent ``a``."""
    x = np.sort(rng.pareto(a - 1, size=(draws, n)) + 1, axis=1)
    return np.array([hill_top_alpha(row, n, k) for row in x])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=2000)
    p.add_argument("--draws", type=int, default=4000)
    p.add_argument("--sizes", type=int, nargs="+", default=[384, 4096])
    p.add_argument("--exponents", type=float, nargs="+", default=[3.0, 3.5, 4.0, 4.5, 5.0, 6.0])
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = p.parse_args(argv)
    c = PhaseCriteria()
    rng = np.random.default_rng(args.seed)
    head = ["n", "density exponent a", f"Hill top-{c.top_k}: 16%", "50%", "84%", f"(a-1)/sqrt({c.top_k})",
            f"share <= {c.ht_hill_alpha_soft:g}", "exact share"]
    rows = []
    for n in args.sizes:
        for a in args.exponents:
            h = spread(a, n, args.draws, rng, c.top_k)
            q = np.percentile(h, [16, 50, 84])
            rows.append([n, a, *q, (a - 1) / math.sqrt(c.top_k), float(np.mean(h <= c.ht_hill_alpha_soft)),
                         float(gamma.sf((a - 1) * c.top_k / (c.ht_hill_alpha_soft - 1), c.top_k))])
    if args.markdown:
        print("| " + " | ".join(head) + " |\n| " + " | ".join("---" for _ in head) + " |")
        for r in rows:
            print(f"| {r[0]} | {r[1]:g} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.0%} | {r[7]:.0%} |")
    else:
        print("  ".join(f"{h:>14}" for h in head))
        for r in rows:
            print("  ".join(f"{v:>14.3g}" for v in r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
