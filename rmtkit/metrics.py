"""Capacity metrics of a weight matrix from its eigenvalues ([MM-JMLR] §3; [MM-SDM]; [MPM-NC]; docs/theory.md#metrics).

Every function takes ``evals`` with shape ``(..., M)``: the ``M`` eigenvalues of ``W^T W`` (in
either convention, ``s^2 / N`` or ``s^2``; the log-norms depend on which, the ranks do not).
Padding must be zeros: a zero eigenvalue leaves every metric unchanged except the hard rank,
where it correctly counts as rank lost. Logs are base 10 as in [MPM-NC].
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

from rmtkit._safe import safe_div, safe_log, xlogx


def _f(x: ArrayLike) -> jnp.ndarray:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def lambda_max(evals: ArrayLike) -> jnp.ndarray:
    """Largest eigenvalue ``lambda_max = ||W||_2^2`` (in the chosen convention)."""
    return jnp.max(_f(evals), axis=-1)


def hard_rank(evals: ArrayLike, n: ArrayLike, m: ArrayLike, *, eps: float | None = None,
              rtol: ArrayLike | None = None) -> jnp.ndarray:
    """Numerical rank: the number of singular values above ``s_max * max(N, M) * eps`` (as ``numpy.linalg.matrix_rank``).

    Since ``s_i / s_max = sqrt(lambda_i / lambda_max)`` in either convention, only ratios are used.
    ``eps`` defaults to the machine epsilon of ``evals``' dtype; ``rtol`` (per spectrum, broadcast
    against the batch) replaces ``max(N, M) * eps`` altogether. For rank questions compute ``evals``
    by SVD (``rmtkit.eigenvalues(w, method="svd")``), or pass :func:`gram_rtol`: the Gram route leaves
    an absolute round-off of about ``M eps lambda_max`` on zero eigenvalues, far above numpy's tolerance.
    """
    ev = _f(evals)
    if rtol is None:
        eps = jnp.finfo(ev.dtype).eps if eps is None else eps
        rtol = jnp.maximum(jnp.asarray(n), jnp.asarray(m)) * eps
    ratio = jnp.sqrt(jnp.clip(safe_div(ev, lambda_max(ev)[..., None], 0.0), 0, None))
    return jnp.sum(ratio > jnp.asarray(rtol, ev.dtype)[..., None], axis=-1)


def gram_rtol(n: ArrayLike, m: ArrayLike, num_evals: ArrayLike, dtype) -> jnp.ndarray:
    """Rank tolerance for eigenvalues from ``eigvalsh(W^T W)``: ``max(max(N, M) eps, sqrt(num_evals eps))``.

    Singular values below ``sqrt(M eps) s_max`` are not resolved by the Gram route; above that floor
    numpy's rule applies.
    """
    eps = jnp.finfo(dtype).eps
    nmax = jnp.maximum(jnp.asarray(n), jnp.asarray(m))
    return jnp.maximum(nmax * eps, jnp.sqrt(jnp.asarray(num_evals) * eps))


def matrix_entropy(evals: ArrayLike, n: ArrayLike, m: ArrayLike, *, eps: float | None = None,
                   rtol: ArrayLike | None = None) -> jnp.ndarray:
    """Matrix entropy ``S = -(1 / ln R) sum_i p_i ln p_i``, ``p_i = s_i^2 / sum_j s_j^2``, ``R`` the hard rank.

    In ``[0, 1]``: 1 for an orthogonal matrix (all ``p_i = 1/M``), 0 for rank one.
    """
    ev = jnp.clip(_f(evals), 0, None)
    p = safe_div(ev, ev.sum(-1, keepdims=True), 0.0)
    r = hard_rank(ev, n, m, eps=eps, rtol=rtol)
    return safe_div(-xlogx(p).sum(-1), jnp.log(jnp.maximum(r, 1).astype(ev.dtype)), 0.0)


def stable_rank(evals: ArrayLike) -> jnp.ndarray:
    """Stable rank ``R_s = ||W||_F^2 / ||W||_2^2 = sum_i lambda_i / lambda_max``."""
    ev = _f(evals)
    return safe_div(ev.sum(-1), lambda_max(ev))


def mp_soft_rank(lambda_plus: ArrayLike, lambda_max: ArrayLike) -> jnp.ndarray:
    """MP soft rank ``R_mp = l+ / lambda_max``: 1 with no spikes, towards 0 as spikes grow; NaN where no MP bulk was fitted.

    ``lambda_plus`` comes from :func:`rmtkit.fit_marchenko_pastur` (NaN for a failed fit, which stays NaN:
    a failed fit has no soft rank, and 0 would read as "all spikes").
    Not clipped: it exceeds 1 slightly when the largest eigenvalue falls short of the fitted edge.
    """
    lp = _f(lambda_plus)
    return safe_div(lp, _f(lambda_max), jnp.nan)


def log_norm(evals: ArrayLike) -> jnp.ndarray:
    """Log Frobenius norm ``log10 ||W||_F^2 = log10 sum_i lambda_i`` ([MPM-NC])."""
    return jnp.log10(_f(evals).sum(-1))


def log_spectral_norm(evals: ArrayLike) -> jnp.ndarray:
    """Log spectral norm ``log10 ||W||_2^2 = log10 lambda_max`` ([MPM-NC])."""
    return jnp.log10(lambda_max(evals))


def alpha_weighted(alpha: ArrayLike, lambda_max: ArrayLike) -> jnp.ndarray:
    """Weighted alpha ``alpha * log10 lambda_max`` ([MM-SDM]); its layer mean is the model's ``alpha_hat``."""
    return _f(alpha) * jnp.log10(_f(lambda_max))


def log_alpha_norm(evals: ArrayLike, alpha: ArrayLike) -> jnp.ndarray:
    """Log alpha-norm ``log10 sum_i lambda_i^alpha`` ([MPM-NC]), evaluated as ``alpha log10 lambda_max + log10 sum (lambda_i/lambda_max)^alpha`` to avoid overflow."""
    ev = jnp.clip(_f(evals), 0, None)
    a = jnp.asarray(alpha, ev.dtype)
    top = lambda_max(ev)
    ratio = safe_div(ev, top[..., None], 0.0)
    powered = jnp.where(ratio > 0, jnp.exp(a[..., None] * safe_log(ratio)), 0.0)
    return a * jnp.log10(top) + jnp.log10(powered.sum(-1))
