"""Calibration data of the bulk test and the outlier margin for pooled spectra (a script, not a test).

    python benchmarks/pooled_null.py [--seed 0] [--reps 24]

Gaussian ``N x M`` matrices (``N = Q M``), ``k`` of them pooled into one ESD as a conv kernel's ``kh * kw``
slices are (k = 1, 9, 25), for M = 16 ... 512 and Q = 1, 2, 4. For each cell it prints, over ``--reps``
pooled spectra fitted by :func:`rmtkit.fit_marchenko_pastur`:

- ``top``: ``(lambda_max - l+) / Delta_TW(q, M)``, the top eigenvalue's distance from the fitted edge in
  Tracy-Widom widths of one matrix (median and largest), against the margin ``pooled_tw_factor(3, k)``;
- ``D n``: the bulk statistic ``D * n_bulk`` before the pooling correction (median, 95% quantile), and
  ``D n / sqrt(k)`` (95% quantile, largest), the statistic the phases compare with ``bulk_ks_max = 6``;
- the share of spectra with a false outlier (the fit with ``pooled=k``) and with a failed bulk test.

This is the data docs/phases.md quotes for the pooled calibration; the null-model check of whole layers
is ``benchmarks/null_models.py`` (other generators and seeds).
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import rmtkit  # noqa: E402
from rmtkit.marchenko_pastur import pooled_tw_factor, tracy_widom_scale  # noqa: E402
from rmtkit.phases import PhaseCriteria  # noqa: E402


def cell(rng: np.random.Generator, m: int, q: int, k: int, reps: int) -> dict:
    n = m * q
    ev = []
    for _ in range(reps):
        w = rng.standard_normal((k, n, m))
        ev.append(np.sort(np.linalg.eigvalsh(np.einsum("kni,knj->kij", w, w)).reshape(-1)))
    ev = np.array(ev)
    raw = rmtkit.fit_marchenko_pastur(ev, float(q))  # the fit without the pooling correction
    fit = rmtkit.fit_marchenko_pastur(ev, float(q), pooled=k)
    top = (ev[:, -1] - np.asarray(fit.lambda_plus)) / np.asarray(tracy_widom_scale(float(q), m, fit.sigma))
    dn_raw = np.asarray(raw.D) * np.asarray(raw.num_bulk)
    dn = np.asarray(fit.D) * np.asarray(fit.num_bulk) / np.sqrt(k)
    return {"M": m, "Q": q, "k": k, "reps": reps, "margin": float(pooled_tw_factor(3.0, k)),
            "top_median": np.median(top), "top_max": top.max(),
            "Dn_raw_median": np.median(dn_raw), "Dn_raw_q95": np.quantile(dn_raw, 0.95),
            "Dn_q95": np.quantile(dn, 0.95), "Dn_max": dn.max(),
            "raw_false_outlier": np.mean(np.asarray(raw.num_spikes) > 0),
            "false_outlier": np.mean(np.asarray(fit.num_spikes) > 0),
            "bulk_rejected": np.mean(dn > PhaseCriteria().bulk_ks_max)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reps", type=int, default=24)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("   M  Q   k | margin  top med   max | D n med  q95 (raw) | D n/sqrt(k) q95   max | false outlier raw "
          "-> pooled | bulk rejected")
    totals = {}
    for m in (16, 32, 64, 128, 256, 512):
        for q in (1, 2, 4):
            for k in (1, 9, 25):
                if m * k * q > 20_000:  # the largest cells cost minutes each on 2 cores
                    continue
                r = cell(rng, m, q, k, args.reps)
                t = totals.setdefault(k, [0, 0, 0, 0])
                t[0] += r["reps"]
                t[1] += round(r["raw_false_outlier"] * r["reps"])
                t[2] += round(r["false_outlier"] * r["reps"])
                t[3] += round(r["bulk_rejected"] * r["reps"])
                print(f"{m:4d} {q:2d} {k:3d} | {r['margin']:6.2f} {r['top_median']:7.2f} {r['top_max']:5.2f} | "
                      f"{r['Dn_raw_median']:7.2f} {r['Dn_raw_q95']:5.2f}       | {r['Dn_q95']:15.2f} {r['Dn_max']:5.2f} | "
                      f"{r['raw_false_outlier']:17.2f} -> {r['false_outlier']:.2f} | {r['bulk_rejected']:.2f}", flush=True)
    print("\nper pooling count: spectra, with a false outlier (unpooled fit -> pooled fit), bulk test failed")
    for k, (n, raw, pooled, rejected) in totals.items():
        print(f"k = {k:2d}: {n} spectra, false outlier {raw / n:.1%} -> {pooled / n:.1%}, bulk rejected {rejected / n:.1%}")


if __name__ == "__main__":
    main()
