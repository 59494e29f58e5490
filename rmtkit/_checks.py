"""Eager input validation for single-spectrum entry points.

Everything here runs in NumPy on concrete inputs, before any jitted code, and raises a
``ValueError`` that names the problem. Batched entry points use the traced twin
:func:`spectrum_status` instead, which returns a :class:`~rmtkit.status.FitStatus` per row.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtkit.status import FitStatus

MIN_EIGENVALUES = 3


def degenerate_tolerance(size: int, dtype) -> float:
    """Relative spread below which a spectrum counts as all-equal: ``8 M eps``.

    The eigenvalues of an orthogonal ``W`` are all 1 up to the eigensolver's round-off (about
    ``M eps lambda_max``); fitting a law to that noise is what gives a peer's alpha ~ 1e15 "success".
    """
    return 8 * size * float(np.finfo(dtype).eps)


def check_eigenvalues(
    eigs: ArrayLike, *, name: str = "eigs", min_size: int = MIN_EIGENVALUES, require_spread: bool = True
) -> np.ndarray:
    """Validate a 1-D spectrum and return it as a NumPy array with round-off negatives set to 0.

    Raises:
        ValueError: not 1-D, empty, fewer than ``min_size`` values, NaN/Inf entries,
            negative values beyond round-off (``M * eps * max|x|``), or (with ``require_spread``)
            all values equal, where no distribution can be fitted.
    """
    x = np.asarray(eigs)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one spectrum), got shape {x.shape}; use the batched API for 2-D")
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if x.size < min_size:
        raise ValueError(f"{name} has {x.size} values; at least {min_size} are needed for a fit")
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} NaN/Inf entries (first at index {int(np.argmax(bad))})")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(float)
    tol = x.size * np.finfo(x.dtype).eps * np.abs(x).max()
    if x.min() < -tol:
        raise ValueError(
            f"{name} has {int((x < -tol).sum())} negative eigenvalues (min {x.min():.3g}); "
            "eigenvalues of W^T W are >= 0"
        )
    x = np.where(x < 0, 0, x)
    if require_spread and x.max() - x.min() <= degenerate_tolerance(x.size, x.dtype) * x.max():
        raise ValueError(f"{name}: all {x.size} values are equal ({x.max():.6g}); there is no spread to fit")
    return x


def check_q(q: float) -> float:
    """Validate the aspect ratio ``q = N / M`` (``N >= M`` by convention)."""
    try:
        qf = float(q)
    except (TypeError, ValueError):
        raise ValueError(f"q must be a number, got {q!r}") from None
    if not np.isfinite(qf) or qf < 1:
        raise ValueError(f"q = N/M must be finite and >= 1, got {q}; transpose W so that N >= M")
    return qf


def spectrum_status(x: jnp.ndarray, valid: jnp.ndarray, q: jnp.ndarray | None = None) -> jnp.ndarray:
    """Traced per-spectrum status (int32) for batched fits; the first problem found wins.

    Args:
        x: ``(M,)`` eigenvalues, padding anywhere ``valid`` is False.
        valid: ``(M,)`` bool mask of real entries.
        q: optional aspect ratio.
    """
    finite = jnp.isfinite(x)
    xv = jnp.where(valid & finite, x, 0)
    n = valid.sum()
    tol = x.shape[-1] * jnp.finfo(xv.dtype).eps * jnp.max(jnp.abs(xv))
    spread = jnp.max(jnp.where(valid, xv, -jnp.inf)) - jnp.min(jnp.where(valid, xv, jnp.inf))
    status = jnp.int32(FitStatus.OK)
    degenerate = spread <= degenerate_tolerance(x.shape[-1], xv.dtype) * jnp.max(jnp.abs(xv))
    status = jnp.where(degenerate, FitStatus.DEGENERATE, status)
    status = jnp.where(jnp.any(valid & (xv < -tol)), FitStatus.NEGATIVE, status)
    if q is not None:
        status = jnp.where(~jnp.isfinite(q) | (q < 1), FitStatus.BAD_Q, status)
    status = jnp.where(jnp.any(valid & ~finite), FitStatus.NON_FINITE, status)
    status = jnp.where(n < MIN_EIGENVALUES, FitStatus.TOO_FEW, status)
    return status.astype(jnp.int32)
