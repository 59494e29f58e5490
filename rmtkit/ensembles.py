"""Random-matrix ensembles that calibrate the Marchenko-Pastur law and the 5+1 phases of training.

Every generator is a pure function of an explicit ``jax.random`` key, jit- and vmap-able, and
returns ``(*shape, N, M)`` matrices: ``shape=(B,)`` draws a batch with independent keys. Each
docstring names the phase of [MM-JMLR] §4 (docs/theory.md#phases) whose ESD it models. Parameters that
are arrays broadcast against ``shape`` (one value per matrix).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike


def _dtype(dtype: DTypeLike | None) -> jnp.dtype:
    return jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)


def _batched(draw: Callable[..., jax.Array], key: jax.Array, shape: tuple[int, ...], *params: ArrayLike,
             event_ndims: tuple[int, ...] | None = None) -> jax.Array:
    """Apply the one-matrix sampler ``draw(key, *params)`` over ``shape`` with split keys.

    Each parameter has ``event_ndims[i]`` trailing axes of its own (0 for scalars, 1 for spike
    strengths); its leading axes broadcast against ``shape``, so one value serves every matrix or
    each matrix gets its own.
    """
    if not shape:
        return draw(key, *params)
    event_ndims = event_ndims or (0,) * len(params)
    size = math.prod(shape)
    flat = []
    for p, nd in zip(params, event_ndims, strict=True):
        p = jnp.asarray(p)
        event = p.shape[p.ndim - nd:]
        flat.append(jnp.broadcast_to(p, shape + event).reshape((size,) + event))
    out = jax.vmap(draw)(jax.random.split(key, size), *flat)
    return out.reshape(shape + out.shape[1:])


def gaussian(key: jax.Array, n: int, m: int, sigma: ArrayLike = 1.0, *, shape: tuple[int, ...] = (),
             dtype: DTypeLike | None = None) -> jax.Array:
    """iid ``Normal(0, sigma^2)`` entries. Phase: **Random-like** (ESD fits MP, no spikes).

    Args:
        key: PRNG key.
        n, m: matrix shape ``N x M``.
        sigma: entry standard deviation (scalar or one per matrix of ``shape``).
        shape: batch shape.
        dtype: float dtype (default: JAX's default float).

    Returns:
        ``(*shape, n, m)`` array.
    """
    dt = _dtype(dtype)
    return _batched(lambda k, s: s * jax.random.normal(k, (n, m), dt), key, shape, jnp.asarray(sigma, dt))


@functools.partial(jax.jit, static_argnames=("n", "m", "shape", "dtype"))
def pareto(key: jax.Array, n: int, m: int, mu: ArrayLike, *, scale: ArrayLike = 1.0, shape: tuple[int, ...] = (),
           dtype: DTypeLike | None = None) -> jax.Array:
    """Symmetric Pareto entries, ``P(|W_ij| > x) = (x / scale)^(-mu)`` for ``x >= scale``, random signs.

    Phase: **Heavy-Tailed** (docs/theory.md#power-laws): very heavy-tailed (Levy) for ``mu < 2``, where the ESD
    tail exponent is ``alpha ~ mu/2 + 1``; moderately heavy-tailed for ``2 < mu < 4``; weakly
    heavy-tailed (MP-like bulk with a heavy edge) for ``mu > 4``.

    One random word per entry gives both its magnitude (a uniform ``u`` in ``(0, 1]`` from the
    word's top mantissa bits, as ``jax.random.uniform`` builds it, then ``scale u^(-1/mu)``) and
    its sign (the word's lowest bit, which the uniform does not use): two thirds of the random
    bits of a separate sign draw, and jitted (the universality sweep draws hundreds of these).
    """
    dt = _dtype(dtype)

    def draw(k, mu, scale):
        u, sign = _uniform_and_sign(k, (n, m), dt)
        return sign * scale * jnp.exp(jnp.log(u) * (-1 / mu))  # ~2x cheaper than u ** (-1 / mu) on CPU

    return _batched(draw, key, shape, jnp.asarray(mu, dt), jnp.asarray(scale, dt))


#: Threefry-2x32 rotation constants, rounds 1-4 and 5-8 (Salmon et al., SC'11, Table 4).
_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32(k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 block cipher, 20 rounds, unrolled (Salmon, Moraes, Dror, Shaw, SC'11).

    JAX's CPU lowering of the same hash runs its 5 key injections as a rolled loop over whole
    arrays, which is memory-bound for large draws; unrolled, XLA fuses it into one pass
    (2000 x 1000 words: 4.7 ms instead of 16 ms here).
    """
    ks = (k0, k1, k0 ^ k1 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _THREEFRY_ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = ((x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r))) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    return x0, x1


def _random_words(key: jax.Array, shape: tuple[int, ...], uint: jnp.dtype) -> jax.Array:
    """``jax.random.bits(key, shape, uint)`` (32 or 64 bits), computed faster for threefry keys.

    For a typed threefry key and fewer than 2^32 words this hashes the flat word index as JAX's
    default (partitionable) threefry does, so the words are the same (a test checks it); other
    keys go through ``jax.random.bits``.
    """
    size = math.prod(shape)
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not typed or str(jax.random.key_impl(key)) != "threefry2x32" or size >= 2**32:
        return jax.random.bits(key, shape, uint)
    k = jax.random.key_data(key)
    lo = jax.lax.iota(jnp.uint32, size).reshape(shape)
    b0, b1 = _threefry2x32(k[0], k[1], jnp.zeros_like(lo), lo)
    if jnp.dtype(uint) == jnp.uint64:
        return (b0.astype(jnp.uint64) << jnp.uint64(32)) | b1.astype(jnp.uint64)
    return b0 ^ b1


def _uniform_and_sign(key: jax.Array, shape: tuple[int, ...], dt: jnp.dtype) -> tuple[jax.Array, jax.Array]:
    """A uniform in ``(0, 1]`` and an independent random sign (``+-1``) per entry, from one random word."""
    finfo = jnp.finfo(dt)
    if finfo.bits not in (32, 64):
        ku, ks = jax.random.split(key)
        return 1 - jax.random.uniform(ku, shape, dt), jnp.where(jax.random.bernoulli(ks, 0.5, shape), 1, -1).astype(dt)
    uint = jnp.uint64 if finfo.bits == 64 else jnp.uint32
    bits = _random_words(key, shape, uint)
    one = jax.lax.bitcast_convert_type(jnp.ones((), dt), uint)  # exponent bits of 1.0
    in_1_2 = jax.lax.bitcast_convert_type((bits >> (finfo.bits - finfo.nmant)) | one, dt)  # [1, 2)
    sign = jnp.where((bits & 1) == 1, 1, -1).astype(dt)
    return 2 - in_1_2, sign


def student_t(key: jax.Array, n: int, m: int, nu: ArrayLike, *, scale: ArrayLike = 1.0, shape: tuple[int, ...] = (),
              dtype: DTypeLike | None = None) -> jax.Array:
    """Student-t entries with ``nu`` degrees of freedom, times ``scale`` (tail ``P(|W| > x) ~ x^(-nu)``).

    Phase: **Heavy-Tailed** for small ``nu`` (the same universality classes as :func:`pareto` with
    ``mu = nu``); Random-like as ``nu`` grows. For ``nu > 2`` the entry variance is ``scale^2 nu / (nu - 2)``.
    """
    dt = _dtype(dtype)
    return _batched(lambda k, nu, s: s * jax.random.t(k, nu, (n, m), dt), key, shape,
                    jnp.asarray(nu, dt), jnp.asarray(scale, dt))


def _orthonormal(key: jax.Array, rows: int, cols: int, dtype) -> jax.Array:
    """``rows x cols`` matrix with orthonormal columns (Haar, via QR of a Gaussian)."""
    g = jax.random.normal(key, (rows, cols), dtype)
    qm, r = jnp.linalg.qr(g)
    return qm * jnp.sign(jnp.diagonal(r))


def spiked(key: jax.Array, n: int, m: int, strengths: ArrayLike, sigma: ArrayLike = 1.0, *,
           shape: tuple[int, ...] = (), dtype: DTypeLike | None = None) -> jax.Array:
    """Gaussian noise plus a rank-k signal: ``W = sigma (G + sqrt(N) sum_i S_i u_i v_i^T)``.

    ``u_i``, ``v_i`` are orthonormal (Haar) and ``strengths = (S_1..S_k)``. A spike of strength
    ``S > q^(-1/4)`` (the BBP threshold, :func:`rmtkit.bbp_threshold`) separates from the bulk at
    :func:`rmtkit.spike_position`. Phases: **Bleeding-out** for ``S`` just above the threshold
    (outliers close to ``l+``, no clear gap) and **Bulk+Spikes** for ``S`` well above it.

    Args:
        strengths: ``(k,)`` signal strengths (or ``(*shape, k)``, one set per matrix).
    """
    dt = _dtype(dtype)
    strengths = jnp.atleast_1d(jnp.asarray(strengths, dt))
    k_rank = strengths.shape[-1]

    def draw(k, s, sig):
        kg, ku, kv = jax.random.split(k, 3)
        u = _orthonormal(ku, n, k_rank, dt)
        v = _orthonormal(kv, m, k_rank, dt)
        signal = jnp.sqrt(jnp.asarray(n, dt)) * (u * s) @ v.T
        return sig * (jax.random.normal(kg, (n, m), dt) + signal)

    return _batched(draw, key, shape, strengths, jnp.asarray(sigma, dt), event_ndims=(1, 0))


def bulk_decay(key: jax.Array, n: int, m: int, decay: ArrayLike = 1.0, sigma: ArrayLike = 1.0, *,
               offset: float = 0.05, shape: tuple[int, ...] = (), dtype: DTypeLike | None = None) -> jax.Array:
    """Correlated columns with a slowly decaying population spectrum: ``W = sigma G C^(1/2)``.

    ``C`` has eigenvalues ``c_j ∝ (j + offset * M)^(-decay)`` (``j = 1..M``, normalised to mean 1)
    in a Haar-random basis. The offset keeps neighbouring top values close (no separated spikes),
    so the ESD is a deformed MP law whose upper edge decays smoothly over a long stretch.
    Phase: **Bulk-decay** (``decay = 0`` is Gaussian; 1-2 gives a clearly decaying bulk).
    """
    dt = _dtype(dtype)

    def draw(k, decay, sig):
        kg, kb = jax.random.split(k)
        c = (jnp.arange(1, m + 1, dtype=dt) + offset * m) ** (-decay)
        c = c / c.mean()
        basis = _orthonormal(kb, m, m, dt)
        root = (basis * jnp.sqrt(c)) @ basis.T
        return sig * jax.random.normal(kg, (n, m), dt) @ root

    return _batched(draw, key, shape, jnp.asarray(decay, dt), jnp.asarray(sigma, dt))


def low_rank(key: jax.Array, n: int, m: int, rank: int, sigma: ArrayLike = 1.0, *, noise: ArrayLike = 0.0,
             shape: tuple[int, ...] = (), dtype: DTypeLike | None = None) -> jax.Array:
    """Exactly rank-``rank`` matrix ``W = sigma A B / sqrt(rank) (+ noise G)``, ``A: N x r``, ``B: r x M`` Gaussian.

    Phase: **Rank-collapse** (hard rank ``r < M``; ``M - r`` zero eigenvalues, the signature of
    over-regularisation). ``noise > 0`` adds a small full-rank Gaussian floor.
    """
    if not 0 < rank <= min(n, m):
        raise ValueError(f"rank must be in [1, min(N, M)] = [1, {min(n, m)}], got {rank}")
    dt = _dtype(dtype)

    def draw(k, sig, eps):
        ka, kb, kg = jax.random.split(k, 3)
        a = jax.random.normal(ka, (n, rank), dt)
        b = jax.random.normal(kb, (rank, m), dt)
        return sig * (a @ b) / jnp.sqrt(jnp.asarray(rank, dt)) + eps * jax.random.normal(kg, (n, m), dt)

    return _batched(draw, key, shape, jnp.asarray(sigma, dt), jnp.asarray(noise, dt))


#: Generators by name, for configs and sweeps.
ENSEMBLES: dict[str, Callable[..., jax.Array]] = {
    "gaussian": gaussian,
    "pareto": pareto,
    "student_t": student_t,
    "spiked": spiked,
    "bulk_decay": bulk_decay,
    "low_rank": low_rank,
}
