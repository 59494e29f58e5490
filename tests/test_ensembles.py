"""Ensembles: shapes, keys, transformations, and the statistics each one promises."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmtkit
from rmtkit import ensembles

ALL = {
    "gaussian": dict(),
    "pareto": dict(mu=1.5),
    "student_t": dict(nu=3.0),
    "spiked": dict(strengths=jnp.array([3.0, 5.0])),
    "bulk_decay": dict(decay=1.0),
    "low_rank": dict(rank=4),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_shapes_keys_and_jit(name, key):
    gen = ensembles.ENSEMBLES[name]
    one = gen(key, 30, 20, **ALL[name])
    assert one.shape == (30, 20) and bool(jnp.all(jnp.isfinite(one)))
    batch = gen(key, 30, 20, shape=(2, 3), **ALL[name])
    assert batch.shape == (2, 3, 30, 20)
    # Same key, same draw; different keys in a batch, different matrices.
    np.testing.assert_array_equal(gen(key, 30, 20, **ALL[name]), one)
    assert not np.allclose(batch[0, 0], batch[0, 1])
    jitted = jax.jit(lambda k: gen(k, 30, 20, **ALL[name]))
    np.testing.assert_allclose(jitted(key), one, rtol=1e-12)
    # vmap over keys works too.
    keys = jax.random.split(key, 4)
    assert jax.vmap(lambda k: gen(k, 30, 20, **ALL[name]))(keys).shape == (4, 30, 20)


def test_dtype_follows_request(key):
    assert ensembles.gaussian(key, 5, 4, dtype=jnp.float32).dtype == jnp.float32
    assert ensembles.pareto(key, 5, 4, 2.0, dtype=jnp.float64).dtype == jnp.float64


def test_per_matrix_parameters_broadcast_over_batch(key):
    sig = jnp.array([0.5, 2.0])
    w = ensembles.gaussian(key, 400, 200, sig, shape=(2,))
    np.testing.assert_allclose(np.asarray(w).std(axis=(1, 2)), sig, rtol=0.02)
    s = ensembles.spiked(key, 400, 200, jnp.array([[2.0], [6.0]]), shape=(2,))
    top = np.asarray(rmtkit.eigenvalues(s))[:, -1]
    np.testing.assert_allclose(top, rmtkit.spike_position(jnp.array([2.0, 6.0]), 2.0), rtol=0.06)


def test_gaussian_variance(key):
    w = np.asarray(ensembles.gaussian(key, 500, 400, 1.7))
    assert w.std() == pytest.approx(1.7, rel=0.005)
    assert abs(w.mean()) < 0.01


@pytest.mark.parametrize("mu", [0.8, 1.5, 3.0])
def test_pareto_tail_exponent_and_symmetry(mu, key):
    w = np.abs(np.asarray(ensembles.pareto(key, 400, 500, mu)).ravel())
    assert w.min() >= 1.0
    # MLE of the Pareto exponent with x_min = 1 (exact for this law): mu_hat = n / sum(log x).
    mu_hat = w.size / np.log(w).sum()
    assert mu_hat == pytest.approx(mu, rel=0.01)
    signs = np.sign(np.asarray(ensembles.pareto(key, 400, 500, mu)))
    assert abs(signs.mean()) < 0.01


def test_student_t_tail(key):
    w = np.abs(np.asarray(ensembles.student_t(key, 1000, 1000, 3.0)).ravel())
    # Hill estimator on the top 1% approaches the tail index nu = 3.
    top = np.sort(w)[-10000:]
    hill = 1 / np.mean(np.log(top / top[0]))
    assert hill == pytest.approx(3.0, rel=0.1)


def test_low_rank_hard_rank_is_r(key):
    w = ensembles.low_rank(key, 300, 200, rank=7, shape=(3,))
    ev = rmtkit.eigenvalues(w, method="svd")
    np.testing.assert_array_equal(rmtkit.hard_rank(ev, 300, 200), [7, 7, 7])
    np.testing.assert_array_equal([np.linalg.matrix_rank(np.asarray(x)) for x in w], [7, 7, 7])
    with pytest.raises(ValueError, match="rank must be"):
        ensembles.low_rank(key, 10, 5, rank=6)


def test_bulk_decay_has_decaying_edge_and_no_spikes(key):
    # The decaying population spectrum stretches the ESD far past the MP edge of the same variance,
    # with no gap: top eigenvalues decay smoothly (largest ratio between neighbours is small).
    w = ensembles.bulk_decay(key, 1000, 500, decay=1.5)
    ev = np.asarray(rmtkit.eigenvalues(w))
    assert ev.mean() == pytest.approx(1.0, rel=0.03)
    assert ev[-1] > 3 * float(rmtkit.marchenko_pastur_edges(2.0)[1])
    assert np.max(ev[-20:][1:] / ev[-20:][:-1]) < 1.3
    assert float(rmtkit.stable_rank(ev)) < 0.5 * float(rmtkit.stable_rank(rmtkit.eigenvalues(ensembles.gaussian(key, 1000, 500))))


@pytest.mark.parametrize("uint", [jnp.uint32, jnp.uint64])
def test_unrolled_threefry_words_equal_jax_random_bits(uint):
    # The Pareto sampler's words come from rmtkit's unrolled Threefry-2x32; for typed threefry keys
    # they must be JAX's own (so draws are reproducible across both), batched keys included.
    for seed, shape in [(0, (2000, 1000)), (7, (3, 5)), (11, (17,))]:
        key = jax.random.fold_in(jax.random.key(seed), 3)
        assert jnp.array_equal(ensembles._random_words(key, shape, uint), jax.random.bits(key, shape, uint))
    keys = jax.random.split(jax.random.key(1), 4)
    ours = jax.vmap(lambda k: ensembles._random_words(k, (50, 40), uint))(keys)
    assert jnp.array_equal(ours, jax.vmap(lambda k: jax.random.bits(k, (50, 40), uint))(keys))
    # Known-answer vector of Threefry-2x32-20 (Random123 kat_vectors): key = ctr = (2^32 - 1, 2^32 - 1)
    ones = jnp.full((1,), 0xFFFFFFFF, jnp.uint32)
    out = ensembles._threefry2x32(ones[0], ones[0], ones, ones)
    assert [int(out[0][0]), int(out[1][0])] == [0x1CB996FC, 0xBB002BE7]
    # another generator's key goes through jax.random.bits
    rbg = jax.random.key(0, impl="rbg")
    assert jnp.array_equal(ensembles._random_words(rbg, (4, 3), uint), jax.random.bits(rbg, (4, 3), uint))
