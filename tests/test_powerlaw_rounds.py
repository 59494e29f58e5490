"""The two ways of choosing the branch and bound's exact rounds (rmtkit.powerlaw.rounds) give the same fit, and the
one for long spectra finds the exhaustive scan's answer (checked against a brute-force scan in NumPy)."""

import jax
import numpy as np
import pytest

from rmtkit.powerlaw import fit_power_law, scan


def _brute_force_csn(x: np.ndarray) -> tuple[float, float]:
    """argmin over xmin (every distinct value but the two largest) of the one-sided KS distance: (alpha, D)."""
    x = np.sort(x)
    n = x.size
    values, first = np.unique(x, return_index=True)
    best = (np.inf, np.nan)
    for k in first[:-2]:
        tail = x[k:]
        alpha = 1 + tail.size / np.sum(np.log(tail / x[k]))
        below = np.searchsorted(tail, tail, side="left") / tail.size  # points strictly below, as the reference counts
        d = np.max(np.abs(-np.expm1(-(alpha - 1) * np.log(tail / x[k])) - below))
        if d < best[0]:
            best = (d, alpha)
    assert n == x.size
    return best[1], best[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_sorted_rounds_find_the_exhaustive_answer(seed):
    x = np.random.default_rng(seed).pareto(1.3, 7000) + 1  # above the switch to sorted rounds
    assert x.size > scan._ORDERED_FROM
    fit = fit_power_law(x, method="csn")
    alpha, d = _brute_force_csn(x)
    assert float(fit.alpha) == pytest.approx(alpha, rel=1e-10)
    assert float(fit.D) == pytest.approx(d, rel=1e-9)


def test_both_ways_of_choosing_rounds_give_the_same_fits(monkeypatch):
    rng = np.random.default_rng(3)
    batch = np.sort(rng.lognormal(0, 1.5, (4, 2000)) + rng.pareto(2.0, (4, 2000)), axis=1)
    lengths = np.array([2000, 1500, 900, 300])
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")  # compiled anew each time, not loaded (rmtkit.executables)
    fits = []
    for switch in (10**9, 0):  # every width by threshold counts, then every width in sorted order
        monkeypatch.setattr(scan, "_ORDERED_FROM", switch)
        jax.clear_caches()
        for kw in ({"method": "csn"}, {"method": "auto"}, {"method": "csn", "xmax": "max", "ks": "two_sided"}):
            fit = fit_power_law(batch, lengths=lengths, **kw)
            fits.append([np.asarray(fit.alpha), np.asarray(fit.xmin), np.asarray(fit.D)])
    jax.clear_caches()
    for a, b in zip(fits[:3], fits[3:], strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[2], b[2], rtol=1e-14)  # D of the same tail, summed in another round
