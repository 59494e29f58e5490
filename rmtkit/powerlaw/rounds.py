"""Which candidates the exact rounds of the power-law fit's branch and bound evaluate, and in what order.

The xmin scan (:func:`rmtkit.powerlaw.scan.fit_one`) bounds every candidate's KS distance from below,
then computes the distance exactly for the candidates whose bound does not exceed the best distance
found so far, ``size`` of them per round, until none is left. Both strategies here evaluate exactly
the candidates that can still win, so they return the same fit; they differ in what a round costs:

- :func:`by_threshold` (short spectra) picks each round with a few threshold counts over all ``M``
  bounds, which is cheaper than sorting them on a CPU when ``M`` is small (a sort of 1,000 values costs
  about as much as the whole fit);
- :func:`by_order` (long spectra) sorts the bounds once and walks them in order: each round then costs
  ``O(size)`` to choose, where the counts cost ``O(M)`` per round and a FARMS ESD of 300,000 values needs
  thousands of rounds (~20 s of choosing, against ~1 s in order).

``evaluate(ks, real, best_d, best_k, starts)`` computes the exact distances of the positions ``ks``
(``real`` marks the ones to count) and returns the updated ``(best_d, best_k)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["by_order", "by_threshold"]

#: Cut-offs tried when choosing the candidates of a round by their bounds (:func:`by_threshold`).
_THRESHOLDS = 16


def by_threshold(lower: jax.Array, evaluate, size: int, tol, starts) -> tuple[jax.Array, jax.Array]:
    """Rounds of up to ``size`` pending candidates with the smallest bounds, found without a sort.

    The candidate with the smallest bound is evaluated first (it sets the bar); each later round takes
    the largest of ``_THRESHOLDS`` cut-offs between the smallest pending bound and the best distance that
    keeps 1 to ``size`` candidates (when none does, all of them: then the first by position).
    """
    m = lower.shape[0]
    dtype = lower.dtype
    positions = jnp.arange(m, dtype=jnp.int32)

    def pending(done, best_d):
        return ~done & (lower <= best_d + tol)

    def run(state, ks, round_starts):
        done, best_d, best_k = state
        real = ks < m
        ks = jnp.minimum(ks, m - 1)
        best_d, best_k = evaluate(ks, real, best_d, best_k, round_starts)
        return done.at[ks].set(True), best_d, best_k

    def next_round(state):
        done, best_d, _ = state
        todo = pending(done, best_d)
        top = best_d + tol
        bottom = jnp.clip(jnp.min(jnp.where(todo, lower, jnp.inf)), 0, top)
        cuts = bottom + (top - bottom) * jnp.linspace(1 / _THRESHOLDS, 1, _THRESHOLDS, dtype=dtype)
        counts = jnp.sum(todo[None, :] & (lower[None, :] <= cuts[:, None]), axis=1)
        fits = (counts > 0) & (counts <= size)
        todo &= (lower <= jnp.max(jnp.where(fits, cuts, -jnp.inf))) | ~jnp.any(fits)
        slot = jnp.where(todo, jnp.cumsum(todo) - 1, size)
        return run(state, jnp.full((size,), m, jnp.int32).at[slot].set(positions, mode="drop"), starts)

    lead = jnp.argmin(lower).astype(jnp.int32)
    init = (lower == jnp.inf, jnp.array(jnp.inf, dtype), jnp.int32(m))
    state = run(init, jnp.where(lower[lead] < jnp.inf, lead, m)[None], [0])
    _, best_d, best_k = lax.while_loop(lambda st: jnp.any(pending(st[0], st[1])), next_round, state)
    return best_d, best_k


def by_order(lower: jax.Array, evaluate, size: int, tol, starts) -> tuple[jax.Array, jax.Array]:
    """Rounds of ``size`` candidates in increasing order of their bounds, until the next bound exceeds the best distance."""
    m = lower.shape[0]
    dtype = lower.dtype
    order = jnp.argsort(lower).astype(jnp.int32)  # stable: equal bounds by position
    order = jnp.concatenate([order, jnp.full((size,), m - 1, jnp.int32)])
    bounds = jnp.concatenate([lower[order[:m]], jnp.full((size,), jnp.inf, dtype)])

    def open_at(bound, best_d):  # a candidate that can still win (non-candidates are bounded by +inf)
        return (bound < jnp.inf) & (bound <= best_d + tol)

    def next_round(state):
        i, best_d, best_k = state
        real = open_at(lax.dynamic_slice(bounds, (i,), (size,)), best_d)
        ks = jnp.where(real, lax.dynamic_slice(order, (i,), (size,)), m - 1)
        best_d, best_k = evaluate(ks, real, best_d, best_k, starts)
        return i + size, best_d, best_k

    init = (jnp.int32(0), jnp.array(jnp.inf, dtype), jnp.int32(m))
    _, best_d, best_k = lax.while_loop(lambda st: open_at(bounds[st[0]], st[1]), next_round, init)
    return best_d, best_k
