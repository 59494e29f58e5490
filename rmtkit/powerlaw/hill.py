"""Hill-type tail exponents at a fixed threshold: the cheap estimators beside the CSN fit.

Both are the continuous maximum-likelihood exponent of [CSN] eq. 3.1 with ``xmin`` fixed by
position instead of scanned, so they need one sort and one sum, and no goodness-of-fit search:

- :func:`hill_median_alpha`: ``xmin`` at the ``k = floor(M / xmin_pos)``-th smallest eigenvalue
  (the median for ``xmin_pos = 2``), the tail counted from ``xmin`` itself: TempBalance's
  ``pl_fitting='median'`` (Zhou et al., NeurIPS 2023). Traceable (jax), batched over leading axes.
- :func:`hill_top_alpha`: Hill's (1975) estimator from the ``k`` largest values relative to the
  ``(k+1)``-th largest; the phase classifier's test of a power-law top (:mod:`rmtkit.phases`).
  NumPy, one row.

docs/theory.md#power-laws states the formulas.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtkit._safe import safe_div, safe_log


def hill_median_alpha(evals: ArrayLike, xmin_pos: int = 2) -> jax.Array:
    """Hill (continuous MLE) exponent of the ascending spectrum ``evals`` ``(..., M)`` with ``xmin`` at ``M // xmin_pos``.

    ``alpha = 1 + n / sum_{i >= k} ln(lambda_i / lambda_k)``, ``k = floor(M / xmin_pos)``, ``n = M - k``
    ([CSN] eq. 3.1 at a fixed ``xmin``; TempBalance's ``pl_fitting='median'`` for ``xmin_pos = 2``).
    Traceable. NaN when the tail has no spread (all tail values equal) or ``lambda_k <= 0``.

    >>> round(float(hill_median_alpha(jnp.array([1.0, 2.0, 4.0, 8.0]))), 4)  # k = 2: 1 + 2 / ln 2
    3.8854
    """
    x = jnp.asarray(evals)
    m = x.shape[-1]
    k = m // xmin_pos
    n = m - k
    logs = safe_log(x[..., k:])
    spread = jnp.sum(logs, axis=-1) - n * logs[..., 0]
    ok = (x[..., k] > 0) & (spread > 0)
    return jnp.where(ok, 1 + safe_div(jnp.asarray(n, x.dtype), spread), jnp.nan)


def hill_top_alpha(x: np.ndarray, n: int, k: int) -> float:
    """Hill's exponent of the density from the ``k`` largest of the first ``n`` values of ascending ``x``.

    ``alpha = 1 + k / sum_{top k} ln(x_i / x_(k+1))`` with ``x_(k+1)`` the ``(k+1)``-th largest;
    ``k`` is capped at ``n - 1``. NaN for fewer than 2 values above the threshold or a threshold
    ``<= 0``; inf when the top has no spread.

    >>> round(hill_top_alpha(np.array([1.0, 2.0, 4.0, 8.0]), 4, 2), 4)  # 1 + 2 / (ln 2 + ln 4)
    1.9618
    """
    k = min(k, n - 1)
    if k < 2:
        return math.nan
    top = x[n - k - 1 : n]
    if top[0] <= 0:
        return math.nan
    h = np.mean(np.log(top[1:] / top[0]))
    return 1 + 1 / h if h > 0 else math.inf
