"""Capacity metrics of a weight matrix from its eigenvalues ([MM-JMLR] §3; [MM-SDM]; [MPM-NC]; docs/theory.md#metrics).

Every function of a spectrum takes ``evals`` with shape ``(..., M)``: the ``M`` eigenvalues of
``W^T W`` (in either convention, ``s^2 / N`` or ``s^2``; the log-norms depend on which, the ranks do
not). A padded batch follows :mod:`rmtkit.batch`: ``lengths=`` (shape ``evals.shape[:-1]``) or
``mask=`` (shape of ``evals``) say which entries are valid, and the padding is then ignored whatever
its value; without them padding must be zeros (a zero eigenvalue leaves every metric unchanged,
and counts as rank lost in the hard rank, as it should). Logs are base 10 as in [MPM-NC]. All
functions are traceable (``jit``, ``vmap``).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike

from rmtkit._safe import safe_div, safe_log, xlogx
from rmtkit.batch import as_float, fill_padding


def lambda_max(evals: ArrayLike, *, lengths: ArrayLike | None = None, mask: ArrayLike | None = None) -> jnp.ndarray:
    """Largest eigenvalue ``lambda_max = ||W||_2^2`` (in the chosen convention)."""
    return jnp.max(fill_padding(evals, lengths=lengths, mask=mask), axis=-1)


def hard_rank(evals: ArrayLike, n: ArrayLike, m: ArrayLike, *, eps: float | None = None,
              rtol: ArrayLike | None = None, lengths: ArrayLike | None = None,
              mask: ArrayLike | None = None) -> jnp.ndarray:
    """Numerical rank: the number of singular values above ``s_max * max(N, M) * eps`` (as ``numpy.linalg.matrix_rank``).

    Since ``s_i / s_max = sqrt(lambda_i / lambda_max)`` in either convention, only ratios are used.
    ``eps`` defaults to the machine epsilon of ``evals``' dtype; ``rtol`` (per spectrum, broadcast
    against the batch) replaces ``max(N, M) * eps`` altogether. For rank questions compute ``evals``
    by SVD (``rmtkit.eigenvalues(w, method="svd")``), or pass :func:`gram_rtol`: the Gram route leaves
    an absolute round-off of about ``M eps lambda_max`` on zero eigenvalues, far above numpy's tolerance.
    """
    ev = fill_padding(evals, lengths=lengths, mask=mask)
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
                   rtol: ArrayLike | None = None, rank: ArrayLike | None = None, lengths: ArrayLike | None = None,
                   mask: ArrayLike | None = None) -> jnp.ndarray:
    """Matrix entropy ``S = -(1 / ln R) sum_i p_i ln p_i``, ``p_i = s_i^2 / sum_j s_j^2``, ``R`` the hard rank.

    In ``[0, 1]``: 1 for an orthogonal matrix (all ``p_i = 1/M``), 0 for rank one. ``rank``: the hard
    rank when the caller has it (the analyzer does); otherwise :func:`hard_rank` with ``eps``/``rtol``.
    """
    ev = jnp.clip(fill_padding(evals, lengths=lengths, mask=mask), 0, None)
    p = safe_div(ev, ev.sum(-1, keepdims=True), 0.0)
    r = hard_rank(ev, n, m, eps=eps, rtol=rtol) if rank is None else jnp.asarray(rank)
    return safe_div(-xlogx(p).sum(-1), jnp.log(jnp.maximum(r, 1).astype(ev.dtype)), 0.0)


def stable_rank(evals: ArrayLike, *, lengths: ArrayLike | None = None, mask: ArrayLike | None = None) -> jnp.ndarray:
    """Stable rank ``R_s = ||W||_F^2 / ||W||_2^2 = sum_i lambda_i / lambda_max``."""
    ev = fill_padding(evals, lengths=lengths, mask=mask)
    return safe_div(ev.sum(-1), lambda_max(ev))


def mp_soft_rank(lambda_plus: ArrayLike, lambda_max: ArrayLike) -> jnp.ndarray:
    """MP soft rank ``R_mp = l+ / lambda_max``: 1 with no spikes, towards 0 as spikes grow; NaN where no MP bulk was fitted.

    ``lambda_plus`` comes from :func:`rmtkit.fit_marchenko_pastur` (NaN for a failed fit, which stays NaN:
    a failed fit has no soft rank, and 0 would read as "all spikes").
    Not clipped: it exceeds 1 slightly when the largest eigenvalue falls short of the fitted edge.
    """
    return safe_div(as_float(lambda_plus, jnp), as_float(lambda_max, jnp), jnp.nan)


def log_norm(evals: ArrayLike, *, lengths: ArrayLike | None = None, mask: ArrayLike | None = None) -> jnp.ndarray:
    """Log Frobenius norm ``log10 ||W||_F^2 = log10 sum_i lambda_i`` ([MPM-NC])."""
    return jnp.log10(fill_padding(evals, lengths=lengths, mask=mask).sum(-1))


def log_spectral_norm(evals: ArrayLike, *, lengths: ArrayLike | None = None,
                      mask: ArrayLike | None = None) -> jnp.ndarray:
    """Log spectral norm ``log10 ||W||_2^2 = log10 lambda_max`` ([MPM-NC])."""
    return jnp.log10(lambda_max(evals, lengths=lengths, mask=mask))


def alpha_weighted(alpha: ArrayLike, lambda_max: ArrayLike) -> jnp.ndarray:
    """Weighted alpha ``alpha * log10 lambda_max`` ([MM-SDM]); its layer mean is the model's ``alpha_hat``."""
    return as_float(alpha, jnp) * jnp.log10(as_float(lambda_max, jnp))


def log_alpha_norm(evals: ArrayLike, alpha: ArrayLike, *, lengths: ArrayLike | None = None,
                   mask: ArrayLike | None = None) -> jnp.ndarray:
    """Log alpha-norm ``log10 sum_i lambda_i^alpha`` ([MPM-NC]), evaluated as ``alpha log10 lambda_max + log10 sum (lambda_i/lambda_max)^alpha`` to avoid overflow."""
    ev = jnp.clip(fill_padding(evals, lengths=lengths, mask=mask), 0, None)
    a = jnp.asarray(alpha, ev.dtype)
    top = lambda_max(ev)
    ratio = safe_div(ev, top[..., None], 0.0)
    powered = jnp.where(ratio > 0, jnp.exp(a[..., None] * safe_log(ratio)), 0.0)
    return a * jnp.log10(top) + jnp.log10(powered.sum(-1))
