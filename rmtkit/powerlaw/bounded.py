"""The bounded power law: ``p(x) ∝ x^-alpha`` on ``[xmin, xmax]``, every formula in one place.

"Bounded" here always means an upper end ``xmax`` ([MM-JMLR] fits ESDs with ``xmax = lambda_max``;
the ``powerlaw`` package calls it ``xmax`` too). It is not the power law with an *exponential cutoff*
``x^-alpha e^{-lambda x}``, which is an alternative of the likelihood-ratio test
(:mod:`rmtkit.powerlaw.likelihood`).

In scaled log coordinates ``t = ln(x/xmin) / L`` in ``[0, 1]``, ``L = ln(xmax/xmin)``, with
``c = (alpha - 1) L``, the bounded power law is a truncated exponential in ``t``: density
``c e^{-ct} / (1 - e^{-c})``. Its mean is ``h(c) = 1/c - 1/(e^c - 1)`` and its variance ``-h'(c)``;
the MLE solves ``h(c) = mean(t)`` (the likelihood is an exponential family in ``c``).
``h(-c) = 1 - h(c)``, so only ``c >= 0`` is evaluated. docs/theory.md#power-laws.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

__all__ = [
    "bounded_alpha",
    "bounded_cdf_scaled",
    "bounded_log_density",
    "bounded_mle",
    "bounded_quantile_scaled",
    "bounded_sigma",
    "scaled_mean",
    "scaled_var",
    "solve_scaled_rate",
]

#: Fixed iteration count of the safeguarded Newton solver for the bounded MLE.
NEWTON_ITERS = 60


def scaled_mean(c: jax.Array) -> jax.Array:
    """``h(c) = 1/c - 1/(e^c - 1)`` for ``c >= 0`` (Bernoulli series near 0, where it cancels)."""
    small = c < 0.5
    cs = jnp.where(small, 1.0, c)
    direct = 1 / cs - 1 / jnp.expm1(cs)
    c2 = c * c
    series = 0.5 - c / 12 + c * c2 / 720 - c * c2 * c2 / 30240 + c * c2**3 / 1209600
    return jnp.where(small, series, direct)


def scaled_var(c: jax.Array) -> jax.Array:
    """``-h'(c) = 1/c^2 - 1/(4 sinh^2(c/2))``, the variance of ``t``, for ``c >= 0``."""
    small = c < 0.5
    cs = jnp.where(small, 1.0, c)
    direct = 1 / (cs * cs) - 0.25 / jnp.sinh(cs / 2) ** 2
    c2 = c * c
    series = 1 / 12 - c2 / 240 + c2 * c2 / 6048 - c2**3 / 172800
    return jnp.where(small, series, direct)


def solve_scaled_rate(tau: jax.Array) -> jax.Array:
    """Solve ``h(c) = tau`` for ``c`` (``tau`` in ``(0, 1)``), elementwise, fixed iterations.

    Safeguarded Newton on ``1/h(c) - 1/tau`` (nearly linear in ``c``) inside the bracket
    ``[0, 1/tau]``, falling back to bisection whenever a step leaves the bracket.
    """
    flip = tau > 0.5
    tp = jnp.where(flip, 1 - tau, tau)  # in (0, 1/2]
    tp = jnp.clip(tp, jnp.finfo(tp.dtype).tiny, 0.5)
    target = 1 / tp

    def step(_, state):
        lo, hi, c = state
        h = scaled_mean(c)
        g = 1 / h - target
        lo = jnp.where(g < 0, c, lo)
        hi = jnp.where(g >= 0, c, hi)
        newton = c - g * h * h / scaled_var(c)
        inside = (newton > lo) & (newton < hi) & jnp.isfinite(newton)
        return lo, hi, jnp.where(inside, newton, 0.5 * (lo + hi))

    zero = jnp.zeros_like(tp)
    _, _, c = lax.fori_loop(0, NEWTON_ITERS, step, (zero, target, jnp.maximum(target - 2, 0)))
    return jnp.where(flip, -c, c)


def bounded_cdf_scaled(t: jax.Array, c: jax.Array, fast: bool = False) -> jax.Array:
    """CDF of the bounded power law at scaled log position ``t`` in ``[0, 1]`` (any sign of ``c``).

    ``fast`` uses ``1 - exp`` instead of ``expm1`` (several times cheaper on CPU; relative error up
    to ~``u/|c|`` at small ``|c|``): for the scan's lower bounds, whose slack covers it.
    """
    d = jnp.abs(c)
    tt = jnp.where(c >= 0, t, 1 - t)
    if fast:
        den = 1 - jnp.exp(-d)  # 0 when |c| is below round-off: then g(t) = t to within |c|/8
        g = jnp.where(den > 0, (1 - jnp.exp(-d * tt)) / jnp.where(den > 0, den, 1), tt)
    else:
        den = jnp.expm1(-d)
        g = jnp.where(d > 0, jnp.expm1(-d * tt) / jnp.where(d > 0, den, 1), tt)
    return jnp.where(c >= 0, g, 1 - g)


def bounded_quantile_scaled(u: jax.Array, c: jax.Array) -> jax.Array:
    """Inverse of :func:`bounded_cdf_scaled` (used to sample bounded power laws)."""
    d = jnp.abs(c)
    dd = jnp.where(d > 0, d, 1)
    s = jnp.where(d > 0, -jnp.log1p(u * jnp.expm1(-dd)) / dd, u)
    return jnp.where(c >= 0, s, 1 - s)


def bounded_log_density(log_y: jax.Array, log_range: jax.Array, c: jax.Array) -> jax.Array:
    """``ln`` of the density of ``y = ln(x/xmin)`` on ``[0, L]``: ``ln(c / (1 - e^{-c})) - c y / L - ln L``.

    Any sign of ``c = (alpha - 1) L``: the normaliser is written for ``|c|`` (for ``c < 0``,
    ``c / (1 - e^{-c}) = |c| e^{-|c|} / (1 - e^{-|c|})``), and is 1 at ``c = 0``. The density of ``x``
    itself is this minus ``ln x``.
    """
    d = jnp.abs(c)
    dd = jnp.where(d > 0, d, 1)
    log_norm = jnp.where(d > 0, jnp.log(dd) - jnp.log(-jnp.expm1(-dd)) - jnp.where(c < 0, d, 0), 0)
    return log_norm - c * log_y / log_range - jnp.log(log_range)


def bounded_mle(tau: jax.Array, log_range: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(alpha, c)`` maximising the bounded likelihood, given ``tau = mean(ln(x/xmin)) / L``."""
    c = solve_scaled_rate(tau)
    return 1 + c / log_range, c


def bounded_sigma(n: jax.Array, c: jax.Array, log_range: jax.Array) -> jax.Array:
    """Standard error of ``alpha`` from ``n`` points: ``1 / sqrt(n Var[ln x])``, ``Var[ln x] = L^2 (-h'(|c|))``."""
    return 1 / jnp.sqrt(n * log_range**2 * scaled_var(jnp.abs(c)))


def bounded_alpha(mean_log: ArrayLike, log_range: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Exact MLE of the bounded power law on ``[xmin, xmax]``.

    Args:
        mean_log: mean of ``ln(x/xmin)`` over the tail, shape ``(...)``.
        log_range: ``L = ln(xmax/xmin) > 0``, same shape.

    Returns:
        ``(alpha, fisher)``: the exponent and the per-point Fisher information in ``alpha``,
        ``Var[ln x] = L^2 * (-h'(c))``, so that ``sigma = 1/sqrt(n * fisher)`` (:func:`bounded_sigma`).
    """
    mean_log, log_range = jnp.asarray(mean_log), jnp.asarray(log_range)
    alpha, c = bounded_mle(mean_log / log_range, log_range)
    return alpha, log_range**2 * scaled_var(jnp.abs(c))
