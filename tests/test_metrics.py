"""Capacity metrics: exact values on constructed matrices and agreement with NumPy on random ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmtkit
from rmtkit import ensembles


def _rank_r_projection(key, m, r):
    q, _ = jnp.linalg.qr(jax.random.normal(key, (m, r)))
    return q @ q.T


@pytest.mark.parametrize("r", [1, 5, 37])
def test_stable_rank_of_projection_is_r(r, key):
    p = _rank_r_projection(key, 120, r)
    ev = rmtkit.eigenvalues(p)
    assert float(rmtkit.stable_rank(ev)) == pytest.approx(r, rel=1e-10)
    assert int(rmtkit.hard_rank(rmtkit.eigenvalues(p, method="svd"), 120, 120)) == r


def test_entropy_of_orthogonal_matrix_is_one(key):
    o, _ = jnp.linalg.qr(jax.random.normal(key, (150, 150)))
    ev = rmtkit.eigenvalues(o, method="svd")
    assert float(rmtkit.matrix_entropy(ev, 150, 150)) == pytest.approx(1.0, abs=1e-12)
    assert float(rmtkit.stable_rank(ev)) == pytest.approx(150, rel=1e-10)


def test_entropy_of_rank_one_is_zero(key):
    w = ensembles.low_rank(key, 50, 40, rank=1)
    assert float(rmtkit.matrix_entropy(rmtkit.eigenvalues(w, method="svd"), 50, 40)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_metrics_agree_with_numpy(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(20, 200, size=2)
    w = rng.standard_normal((n, m)) * rng.uniform(0.1, 3)
    if seed % 2:
        w[:, : m // 3] = 0  # some rank loss
    s = np.linalg.svd(w, compute_uv=False)
    ev = rmtkit.eigenvalues(w, normalize=False, method="svd")
    np.testing.assert_allclose(np.sort(s**2), ev, rtol=1e-10, atol=1e-10 * s.max() ** 2)
    assert int(rmtkit.hard_rank(ev, n, m)) == np.linalg.matrix_rank(w)
    assert float(rmtkit.stable_rank(ev)) == pytest.approx(np.linalg.norm(w, "fro") ** 2 / np.linalg.norm(w, 2) ** 2)
    assert float(rmtkit.log_norm(ev)) == pytest.approx(np.log10(np.linalg.norm(w, "fro") ** 2))
    assert float(rmtkit.log_spectral_norm(ev)) == pytest.approx(np.log10(np.linalg.norm(w, 2) ** 2))
    p = s**2 / np.sum(s**2)
    p = p[p > 0]
    r = np.linalg.matrix_rank(w)
    assert float(rmtkit.matrix_entropy(ev, n, m)) == pytest.approx(-np.sum(p * np.log(p)) / np.log(r), rel=1e-10)
    alpha = rng.uniform(1.5, 6)
    assert float(rmtkit.log_alpha_norm(ev, alpha)) == pytest.approx(np.log10(np.sum(s ** (2 * alpha))), rel=1e-10)
    assert float(rmtkit.alpha_weighted(alpha, ev[-1])) == pytest.approx(alpha * np.log10(s.max() ** 2))


def test_zero_padding_leaves_metrics_unchanged(key):
    ev = rmtkit.eigenvalues(ensembles.gaussian(key, 80, 40))
    padded = jnp.concatenate([ev, jnp.zeros(10)])
    for fn in (rmtkit.stable_rank, rmtkit.log_norm, rmtkit.log_spectral_norm, lambda e: rmtkit.log_alpha_norm(e, 3.0)):
        assert float(fn(padded)) == pytest.approx(float(fn(ev)), rel=1e-12)
    assert float(rmtkit.matrix_entropy(padded, 80, 50)) == pytest.approx(float(rmtkit.matrix_entropy(ev, 80, 40)))


def test_log_alpha_norm_does_not_overflow():
    ev = jnp.array([1e100, 2e100, 3e100])
    assert float(rmtkit.log_alpha_norm(ev, 5.0)) == pytest.approx(np.log10(1 + 2**5 + 3**5) + 500)


def test_mp_soft_rank(key):
    w = ensembles.spiked(key, 1000, 500, [5.0])
    ev = rmtkit.eigenvalues(w)
    fit = rmtkit.fit_marchenko_pastur(ev, 2.0)
    soft = float(rmtkit.mp_soft_rank(fit.lambda_plus, ev[-1]))
    assert soft == pytest.approx(float(fit.lambda_plus) / float(rmtkit.spike_position(5.0, 2.0)), rel=0.05)
    assert np.isnan(float(rmtkit.mp_soft_rank(jnp.nan, 3.0)))  # a failed fit has no soft rank (was 0 before issue 12)
    g = rmtkit.eigenvalues(ensembles.gaussian(key, 1000, 500))
    gfit = rmtkit.fit_marchenko_pastur(g, 2.0)
    assert float(rmtkit.mp_soft_rank(gfit.lambda_plus, g[-1])) == pytest.approx(1.0, abs=0.03)


def test_batched_metrics_shapes(key):
    ev = rmtkit.eigenvalues(ensembles.gaussian(key, 60, 30, shape=(4,)))
    assert rmtkit.stable_rank(ev).shape == (4,)
    assert rmtkit.hard_rank(ev, 60, 30).shape == (4,)
    assert rmtkit.log_alpha_norm(ev, jnp.full(4, 2.0)).shape == (4,)
