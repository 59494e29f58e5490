"""Benchmark: the jitted, vmapped Ising Metropolis of simulations.vsdl against plain NumPy, same algorithm.

Both do ordered sweeps of single spin-flip Metropolis with incremental stabilities (flipping spin i changes every
stability by -2 w_i y_i, O(P) per attempt) on the same problems. NumPy runs one chain at a time (the plain
implementation) and, as a stronger baseline, all chains at once vectorized over the chain axis.
Prints spin-flip attempts per second of each and the ratios, measured in one run (machines are shared and noisy).
    python benchmarks/bench_vsdl.py [--chains 64] [--n 100] [--alpha 2] [--sweeps 50]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np


def numpy_sweeps(y, mask, w, h, energy, beta, sweeps, rng):
    """One chain: ``sweeps`` ordered Metropolis sweeps, incremental fields; y (N, P)."""
    n = w.shape[0]
    for _ in range(sweeps):
        log_u = np.log(rng.random(n))
        for i in range(n):
            h_new = h - 2.0 * w[i] * y[i]
            d_energy = np.count_nonzero((h_new < 0) & mask) - energy
            if d_energy <= 0 or log_u[i] < -beta * d_energy:
                w[i] = -w[i]
                h = h_new
                energy += d_energy
    return w, h, energy


def numpy_batched_sweeps(y, mask, w, h, energy, beta, sweeps, rng):
    """All chains at once: y (B, N, P), w (B, N), h (B, P), energy (B,)."""
    b, n = w.shape
    for _ in range(sweeps):
        log_u = np.log(rng.random((b, n)))
        for i in range(n):
            h_new = h - 2.0 * w[:, i, None] * y[:, i]
            d_energy = np.count_nonzero((h_new < 0) & mask, axis=1) - energy
            accept = (d_energy <= 0) | (log_u[:, i] < -beta * d_energy)
            w[:, i] = np.where(accept, -w[:, i], w[:, i])
            h = np.where(accept[:, None], h_new, h)
            energy = np.where(accept, energy + d_energy, energy)
    return w, h, energy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=2.0)
    parser.add_argument("--T", type=float, default=1.0)
    parser.add_argument("--sweeps", type=int, default=50)
    parser.add_argument("--numpy-chains", type=int, default=4, help="chains timed in the one-chain NumPy loop")
    parser.add_argument("--x64", action="store_true", help="float64 (default float32, the natural MC precision)")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", args.x64)
    from simulations.vsdl import montecarlo as mc

    n, p, b, sweeps, beta = args.n, int(round(args.alpha * args.n)), args.chains, args.sweeps, 1.0 / args.T
    keys = jax.random.split(jax.random.key(0), b)
    problems = jax.vmap(lambda k: mc.make_problem(k, n, p, p, "ising"))(keys)
    states = jax.vmap(lambda pr, k: mc.init_state(pr, k, "ising", "random"))(problems, keys)
    print(f"JAX {jax.__version__} ({jax.default_backend()}), {'float64' if args.x64 else 'float32'}; Ising, "
          f"N = {n}, P = {p}, T = {args.T}, {b} chains x {sweeps} sweeps")

    @jax.jit
    def jax_run(problems, states, keys):
        run = lambda pr, s, k: mc.run_chain(pr, s, beta, k, sweeps=sweeps, student="ising")[0]
        return jax.vmap(run)(problems, states, keys)

    jax.block_until_ready(jax_run(problems, states, keys))  # compile
    start = time.perf_counter()
    final = jax.block_until_ready(jax_run(problems, states, keys))
    t_jax = time.perf_counter() - start
    attempts_jax = b * sweeps * n / t_jax
    assert np.allclose(np.asarray(final.h), np.einsum("bn,bnp->bp", np.asarray(final.w), np.asarray(problems.y)),
                       atol=1e-3)

    y, mask = np.asarray(problems.y), np.asarray(problems.mask) > 0
    w0, h0, e0 = np.asarray(states.w).copy(), np.asarray(states.h).copy(), np.asarray(states.energy).astype(int)
    rng = np.random.default_rng(0)
    k = min(args.numpy_chains, b)
    start = time.perf_counter()
    for c in range(k):
        numpy_sweeps(y[c], mask[c], w0[c].copy(), h0[c].copy(), int(e0[c]), beta, sweeps, rng)
    t_np = time.perf_counter() - start
    attempts_np = k * sweeps * n / t_np
    start = time.perf_counter()
    numpy_batched_sweeps(y, mask, w0.copy(), h0.copy(), e0.copy(), beta, sweeps, rng)
    t_npb = time.perf_counter() - start
    attempts_npb = b * sweeps * n / t_npb

    print(f"numpy, one chain at a time:      {attempts_np:12.3e} spin-flip attempts/s")
    print(f"numpy, chains vectorized:        {attempts_npb:12.3e} spin-flip attempts/s")
    print(f"jax jit + vmap (simulations.vsdl): {attempts_jax:10.3e} spin-flip attempts/s")
    print(f"ratio jax / numpy one chain:      {attempts_jax / attempts_np:8.1f}x")
    print(f"ratio jax / numpy vectorized:     {attempts_jax / attempts_npb:8.1f}x")


if __name__ == "__main__":
    main()
