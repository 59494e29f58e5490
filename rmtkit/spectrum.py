"""Eigenvalues of weight matrices, batched: the ESD that every fit starts from (REFERENCE §1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

METHODS = ("gram", "svd")


def eigenvalues(w: ArrayLike, *, normalize: bool = True, method: str = "gram") -> jax.Array:
    """Ascending eigenvalues of ``X = W^T W (/ N)`` for one matrix or a stack of same-shape matrices.

    ``W`` is transposed if needed so that ``N >= M`` (REFERENCE §1), and ``M`` eigenvalues are
    returned per matrix.

    Args:
        w: ``(..., N, M)`` matrices.
        normalize: divide by ``N`` (``lambda = s^2 / N``, [MM-JMLR]) or not (``lambda = s^2``,
            [MPM-NC] and WeightWatcher). Say which in anything you publish.
        method: ``"gram"`` forms ``W^T W`` and calls the symmetric eigensolver (fast; zero
            eigenvalues carry round-off of order ``M eps lambda_max``), ``"svd"`` squares the
            singular values (slower, accurate near zero: use it for hard ranks).

    Returns:
        ``(..., M)`` eigenvalues, ascending, in ``w``'s float dtype; round-off negatives set to 0.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    w = jnp.asarray(w)
    if w.ndim < 2:
        raise ValueError(f"w must have shape (..., N, M), got {w.shape}")
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jnp.result_type(float))
    if w.shape[-2] < w.shape[-1]:
        w = jnp.swapaxes(w, -1, -2)
    n = w.shape[-2]
    return _eigenvalues(w, method, n if normalize else 1)


@jax.jit(static_argnames=("method", "scale"))
def _eigenvalues(w: jax.Array, method: str, scale: int) -> jax.Array:
    if method == "gram":
        gram = jnp.swapaxes(w, -1, -2) @ w
        ev = jnp.linalg.eigvalsh(gram)
    else:
        ev = jnp.linalg.svd(w, compute_uv=False)[..., ::-1] ** 2
    return jnp.clip(ev, 0, None) / scale
