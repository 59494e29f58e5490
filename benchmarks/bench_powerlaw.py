"""Power-law fit figures, measured in one run (a script, not a timed test).

    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false taskset -c 1 python benchmarks/bench_powerlaw.py

Prints: (1) one 1,000-eigenvalue fit, warm, against ``powerlaw.Fit`` on the same data;
(2) 100 spectra in one batched call against a loop of single fits; (3) the table of RMSE of
``alpha`` against ``mu/2 + 1`` on Pareto random matrices that chose ``method="auto"``.
"""

from __future__ import annotations

import time
import warnings

import jax
import numpy as np

from rmtkit.powerlaw import fit_power_law

#: Candidate recipes for the spectrum default: name -> keyword arguments of fit_power_law.
CANDIDATES = {
    "csn": dict(method="csn"),
    "csn xmax=max": dict(method="csn", xmax="max"),
    "csn tail>=10": dict(method="csn", min_tail=10),
    "csn tail>=max(10,5%)": dict(method="csn", min_tail=(10, 0.05)),
    "csn tail>=max(10,10%)": dict(method="csn", min_tail=(10, 0.10)),
    "csn xmax=max tail>=max(10,5%)": dict(method="csn", xmax="max", min_tail=(10, 0.05)),
    "csn drop top 1": dict(method="csn", drop_top=1),
    "csn drop top 3": dict(method="csn", drop_top=3),
    "csn drop top 3 xmax=max": dict(method="csn", drop_top=3, xmax="max"),
    "csn drop top 1 tail>=max(10,5%)": dict(method="csn", drop_top=1, min_tail=(10, 0.05)),
    "csn xmax=max two-sided KS": dict(method="csn", xmax="max", ks="two_sided"),
    "csn xmax=max tail>=max(10,25%)": dict(method="csn", xmax="max", min_tail=(10, 0.25)),
    "csn xmax=max tail>=max(10,50%)": dict(method="csn", xmax="max", min_tail=(10, 0.5)),
    "auto (default)": dict(),
}


def pareto_spectra(n: int, m: int, mus, seeds: int, start_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of ``W^T W / N`` for ``W`` ``(N, M)`` with symmetric Pareto(mu) entries.

    ``P(|W_ij| > x) = x^-mu`` for ``x >= 1``. Returns ``(eigs (len(mus)*seeds, M), mu per row)``.
    """
    rows, mu_rows = [], []
    for mu in mus:
        for s in range(seeds):
            rng = np.random.default_rng(start_seed + 1000 * s + int(round(mu * 100)))
            w = rng.random((n, m)) ** (-1.0 / mu) * rng.choice([-1.0, 1.0], (n, m))
            rows.append(np.linalg.eigvalsh(w.T @ w / n))
            mu_rows.append(mu)
    return np.stack(rows), np.asarray(mu_rows)


def default_method_table(
    n: int = 1000, m: int = 500, mus=None, seeds: int = 6, candidates=None, verbose=True
) -> dict[str, float]:
    """RMSE of fitted ``alpha`` against the VHT theory ``mu/2 + 1`` per candidate recipe (mu: 8 values in [0.5, 1.9])."""
    mus = tuple(np.linspace(0.5, 1.9, 8)) if mus is None else mus
    candidates = CANDIDATES if candidates is None else candidates
    eigs, mu = pareto_spectra(n, m, mus, seeds)
    theory = mu / 2 + 1
    table = {}
    for name, kwargs in candidates.items():
        fit = fit_power_law(eigs, **kwargs)
        alpha = np.asarray(fit.alpha)
        ok = np.asarray(fit.status) == 0
        err = np.where(ok, alpha - theory, np.nan)
        table[name] = float(np.sqrt(np.nanmean(err**2)))
        if verbose:
            print(f"  {name:34s} RMSE {table[name]:.4f}  bias {np.nanmean(err):+.4f}  failed {int((~ok).sum())}")
    return table


def _timed(fn, repeats: int) -> float:
    jax.block_until_ready(fn())
    t = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn())
    return (time.perf_counter() - t) / repeats


def main() -> None:
    import powerlaw  # the reference implementation, only needed here

    jax.config.update("jax_enable_x64", True)  # precision is chosen at the entry point
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)

    print("1) one spectrum of 1,000 values, method='csn', warm, vs powerlaw.Fit (same data, same answer)")
    for name, x in [
        ("Pareto(1.5) sample", rng.pareto(1.5, 1000) + 1),
        ("log-normal sample", rng.lognormal(0, 1, 1000)),
        ("Pareto-matrix ESD", pareto_spectra(2000, 1000, [1.0], 1)[0][0]),
    ]:
        ours = _timed(lambda x=x: fit_power_law(x, method="csn"), 50)
        t = time.perf_counter()
        ref = powerlaw.Fit(x, parameter_ranges={"alpha": [1, 1000]}, verbose=0)
        ref_t = time.perf_counter() - t
        fit = fit_power_law(x, method="csn")
        same = np.isclose(float(fit.xmin), ref.xmin, rtol=1e-12) and np.isclose(float(fit.alpha), ref.alpha, rtol=1e-6)
        print(f"  {name:20s} rmtkit {ours * 1e3:7.3f} ms   powerlaw {ref_t * 1e3:8.1f} ms   ratio {ref_t / ours:6.0f}x   same fit {same}")

    print("2) 100 spectra of 1,000 values: one batched call vs a loop of single fits (warm)")
    batch, _ = pareto_spectra(1000, 1000, np.linspace(0.5, 3.5, 10), 10)
    batched = _timed(lambda: fit_power_law(batch, method="csn"), 3)
    looped = _timed(lambda: [fit_power_law(row, method="csn") for row in batch], 1)
    print(f"  batched {batched * 1e3:8.1f} ms   loop {looped * 1e3:8.1f} ms   ratio {looped / batched:5.1f}x")
    big = rng.pareto(1.5, 30000) + 1
    print(f"  one spectrum of 30,000 values: {_timed(lambda: fit_power_law(big, method='csn'), 2) * 1e3:.0f} ms warm")

    print("4) one 1,000-eigenvalue fit vs WeightWatcher 0.7.7's default fit (pl_package='ww'), same data")
    x = pareto_spectra(2000, 1000, [1.0], 1)[0][0]
    ours = _timed(lambda: fit_power_law(x, method="csn"), 50)
    ww = weightwatcher_fit_time(x)
    if ww is None:
        print("  skipped: no .venv-peer with weightwatcher (make peer-venv)")
    else:
        ww_t, ww_alpha = ww
        print(f"  rmtkit {ours * 1e3:7.3f} ms   weightwatcher {ww_t * 1e3:8.1f} ms   ratio {ww_t / ours:6.0f}x   "
              f"alpha rmtkit {float(fit_power_law(x, method='csn').alpha):.6f} vs weightwatcher {ww_alpha:.6f}")

    print("5) the universality sweep end to end: 100 Pareto matrices 2000 x 1000 (M = 1000, Q = 2), "
          "generate + eigenvalues + fits (xmax = lambda_max), vs the LAPACK floor on the same matrices")
    universality_sweep()

    print("3) RMSE of alpha vs mu/2 + 1, Pareto matrices N x M = 1000 x 500, mu in [0.5, 1.9] (8 values x 6 seeds)")
    table = default_method_table()
    best = min(table, key=table.get)
    print(f"  lowest RMSE: {best} ({table[best]:.4f})")


def weightwatcher_fit_time(x: np.ndarray) -> tuple[float, float] | None:
    """Warm time and alpha of WeightWatcher's own power-law fit on ``x``, run in the peer virtualenv."""
    import subprocess
    import tempfile
    from pathlib import Path

    peer = Path(__file__).resolve().parents[1] / ".venv-peer" / "bin" / "python"
    if not peer.exists():
        return None
    code = (
        "import sys, time, warnings, numpy as np\n"
        "warnings.filterwarnings('ignore')\n"
        "from weightwatcher.WW_powerlaw import pl_fit\n"
        "x = np.load(sys.argv[1]); f = pl_fit(data=x)\n"
        "t = time.perf_counter()\n"
        "for _ in range(5): f = pl_fit(data=x)\n"
        "print((time.perf_counter() - t) / 5, f.alpha)\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        out = subprocess.run([str(peer), "-c", code, str(Path(tmp) / "x.npy")], capture_output=True, text=True, timeout=600)
    if out.returncode:
        print(out.stderr[-2000:])
        return None
    t, alpha = out.stdout.split()[-2:]
    return float(t), float(alpha)


def universality_sweep(num: int = 100, n: int = 2000, m: int = 1000) -> None:
    """End to end as ``simulations.universality`` runs it vs the LAPACK floor on the same matrices.

    End to end: draw each Pareto matrix (jitted JAX), its Gram eigenvalues (LAPACK), one matrix per
    thread on a pool of one thread per core with single-threaded BLAS, then one batched fit of the
    100 spectra. The floor: NumPy Gram + eigvalsh, one matrix after another with NumPy's default
    (multi-threaded) BLAS, on the already drawn matrices; the same on the thread pool is printed too.
    Both warm: the fit's compilation for this batch shape is done (and printed) first.
    """
    import rmtkit
    from rmtkit import ensembles
    from rmtkit._parallel import host_map

    key = jax.random.key(0)
    mus = np.linspace(0.5, 3.5, num)
    draw = lambda i: ensembles.pareto(jax.random.fold_in(key, i), n, m, float(mus[i]))
    eig = lambda w: np.linalg.eigvalsh(w.T @ w) / n
    eig(np.asarray(draw(0)))
    t = time.perf_counter()  # compile the batched fit for this shape (once per process, as in the sweep)
    dummy = np.sort(np.random.default_rng(0).pareto(1.0, (num, m)) + 1, axis=1)
    jax.block_until_ready(fit_power_law(dummy, method="csn", xmax="max").alpha)
    compile_s = time.perf_counter() - t

    def end_to_end():
        t = time.perf_counter()
        spectra = np.stack(host_map(lambda i: np.asarray(rmtkit.eigenvalues(draw(i))), range(num)))
        fits = fit_power_law(spectra, method="csn", xmax="max")
        jax.block_until_ready(fits.alpha)
        return time.perf_counter() - t, fits

    ours, fits = min((end_to_end() for _ in range(2)), key=lambda r: r[0])
    mats = [np.asarray(draw(i)) for i in range(num)]

    def floor_once():
        t = time.perf_counter()
        for w in mats:
            eig(w)
        return time.perf_counter() - t

    floor = min(floor_once() for _ in range(2))
    t = time.perf_counter()
    host_map(eig, mats)
    pooled = time.perf_counter() - t
    print(f"  rmtkit end to end {ours:6.2f} s   LAPACK floor (Gram + eigvalsh only) {floor:6.2f} s   "
          f"ratio {ours / floor:4.2f}x   ({int(np.sum(np.asarray(fits.status) == 0))}/{num} fits ok; best of 2 each)")
    print(f"  (the floor's eigenvalues on the thread pool: {pooled:6.2f} s; end to end / that {ours / pooled:4.2f}x; "
          f"compiling the batched fit, once per process and not timed above: {compile_s:4.2f} s)")


if __name__ == "__main__":
    main()
