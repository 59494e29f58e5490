"""The compiled programs of the power-law fit: one per recipe and padded shape.

A batch is ``lax.map``-ped over its rows inside one jitted program (:func:`fit_rows`); one spectrum
is padded to a length bucket so that spectra of nearby lengths share a program (:func:`fit_single`).
Both wrap :func:`rmtkit.powerlaw.scan.fit_one`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from rmtkit.powerlaw.scan import PowerLawFit, Recipe, fit_one

__all__ = ["bucket", "fit_full_rows", "fit_rows", "fit_single"]


@partial(jax.jit, static_argnames=("recipe",))
def fit_rows(x: jax.Array, valid: jax.Array, xmax: jax.Array, xmin: jax.Array, recipe: Recipe) -> PowerLawFit:
    """``(R, M)`` padded spectra -> :class:`PowerLawFit` of shape ``(R,)``, in one compiled program.

    Rows run one after another inside the graph (``lax.map``), so memory is that of one row. A
    vmapped batch was measured slower (0.6x of a Python loop for R = 100, M = 1000): under
    ``vmap`` every row pays for the branch-and-bound rounds of the row that needs the most.
    """
    fit = partial(fit_one, recipe=recipe)
    return lax.map(lambda a: fit(*a), (x, valid, xmax, xmin))


def fit_full_rows(data: jax.Array, recipe: Recipe, xmax_value, xmin_value) -> PowerLawFit:
    """:func:`fit_rows` on ``(R, M)`` rows that are valid throughout, with one ``xmax`` and ``xmin`` for all.

    For callers that draw data inside their own jitted program (the bootstraps): traced there, the
    inner ``jit`` is inlined.
    """
    rows = data.shape[0]
    dtype = data.dtype
    return fit_rows(
        data,
        jnp.ones(data.shape, bool),
        jnp.full((rows,), xmax_value, dtype),
        jnp.full((rows,), xmin_value, dtype),
        recipe,
    )


@partial(jax.jit, static_argnames=("recipe",))
def fit_single(x: jax.Array, xmax: jax.Array, xmin: jax.Array, recipe: Recipe) -> PowerLawFit:
    """One spectrum -> :class:`PowerLawFit` of scalars.

    ``x`` holds the positive values in range, ascending, then ``+inf`` padding up to its bucketed
    length (:func:`bucket`), so that spectra of nearby lengths share one compiled program.
    """
    return fit_one(
        x, jnp.isfinite(x), jnp.asarray(xmax, x.dtype), jnp.asarray(xmin, x.dtype), recipe, presorted=True
    )


def bucket(m: int) -> int:
    """Padded length for one spectrum of ``m`` values: ``m`` rounded up to 1/8 of its octave (>= 32)."""
    step = 1 << max(2, m.bit_length() - 4)
    return max(32, -(-m // step) * step)
