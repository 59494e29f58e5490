"""Small numerically safe helpers: the one place where log-of-zero and empty divisions are handled."""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike


def safe_log(x: ArrayLike) -> jnp.ndarray:
    """``log(x)`` for ``x > 0`` and ``-inf``-free ``0`` elsewhere (masked entries, zero eigenvalues)."""
    x = jnp.asarray(x)
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1)), 0)


def safe_div(num: ArrayLike, den: ArrayLike, fill: float = jnp.nan) -> jnp.ndarray:
    """``num / den`` where ``den != 0``, ``fill`` elsewhere, without NaN gradients."""
    num, den = jnp.asarray(num), jnp.asarray(den)
    nonzero = den != 0
    return jnp.where(nonzero, num / jnp.where(nonzero, den, 1), fill)


def xlogx(p: ArrayLike) -> jnp.ndarray:
    """``p * log(p)`` with the limit ``0`` at ``p = 0``."""
    p = jnp.asarray(p)
    return p * safe_log(p)
