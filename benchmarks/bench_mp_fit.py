"""Benchmark: batched MP fits vs a loop of single fits, and eigenvalue extraction vs the NumPy LAPACK floor.

Prints figures and ratios measured in one run (not a timed test: machines are shared and noisy).
    python benchmarks/bench_mp_fit.py [--batch 100] [--m 1000] [--q 2]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--m", type=int, default=1000)
    parser.add_argument("--q", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    import rmtkit
    from rmtkit import ensembles

    b, m, n = args.batch, args.m, int(args.m * args.q)
    print(f"rmtkit {rmtkit.__version__}, JAX {jax.__version__} ({jax.default_backend()}), float64, "
          f"{b} matrices {n} x {m}")
    w = ensembles.gaussian(jax.random.key(0), n, m, shape=(b,))
    w_np = np.asarray(w)

    # Eigenvalues: rmtkit (one jitted batched call) vs NumPy LAPACK floor (Gram + eigvalsh per matrix).
    def numpy_floor():
        return np.stack([np.linalg.eigvalsh(x.T @ x) / n for x in w_np])

    rmtkit.eigenvalues(w).block_until_ready()  # compile
    t_np = best_of(numpy_floor, args.repeat)
    t_gram = best_of(lambda: rmtkit.eigenvalues(w), args.repeat)
    rmtkit.eigenvalues(w, backend="jax").block_until_ready()  # compile the XLA path
    t_xla = best_of(lambda: rmtkit.eigenvalues(w, backend="jax"), args.repeat)
    t_svd = best_of(lambda: rmtkit.eigenvalues(w, method="svd"), 1)
    ev = rmtkit.eigenvalues(w)
    err = float(np.max(np.abs(np.asarray(ev) - numpy_floor())))
    print(f"eigenvalues  numpy Gram+eigvalsh loop: {t_np:7.3f} s")
    print(f"eigenvalues  rmtkit gram (auto):       {t_gram:7.3f} s   ratio to floor {t_gram / t_np:5.2f}x   "
          f"max |diff| {err:.1e}")
    print(f"eigenvalues  rmtkit gram, XLA path:     {t_xla:7.3f} s   ratio to floor {t_xla / t_np:5.2f}x   "
          "(the GPU / inside-jit path; 'auto' picks LAPACK on CPU)")
    print(f"eigenvalues  rmtkit svd  (batched):    {t_svd:7.3f} s   ratio to floor {t_svd / t_np:5.2f}x")

    # MP fits: one batched call vs a Python loop of single-spectrum fits (both warm).
    ev_np = np.asarray(ev)
    rmtkit.fit_marchenko_pastur(ev, args.q).sigma.block_until_ready()
    rmtkit.fit_marchenko_pastur(ev_np[0], args.q).sigma.block_until_ready()
    t_batch = best_of(lambda: rmtkit.fit_marchenko_pastur(ev, args.q).sigma, args.repeat)
    t_loop = best_of(lambda: [rmtkit.fit_marchenko_pastur(x, args.q).sigma for x in ev_np], 1)
    fit = rmtkit.fit_marchenko_pastur(ev, args.q)
    print(f"MP fit       loop of {b} single fits:    {t_loop:7.3f} s   ({1e3 * t_loop / b:.1f} ms per spectrum)")
    print(f"MP fit       one batched call:         {t_batch:7.3f} s   ({1e3 * t_batch / b:.1f} ms per spectrum)   "
          f"speed-up {t_loop / t_batch:5.1f}x")
    print(f"MP fit       sigma {float(fit.sigma.mean()):.4f} ± {float(fit.sigma.std()):.4f} (truth 1), "
          f"spikes found {int(fit.num_spikes.sum())} (truth 0)")


if __name__ == "__main__":
    main()
