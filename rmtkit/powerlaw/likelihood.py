"""Likelihood-ratio tests of a power-law fit against other heavy-tailed families ([CSN] §5, [Vuong]).

The alternatives are fitted by maximum likelihood to the same tail: the exponential, the
log-normal, and the power law with an *exponential cutoff* ``x^-alpha e^{-lambda x}`` (which nests
the power law; the ``powerlaw`` package calls it ``truncated_power_law``, a name accepted here too).
A power law *bounded* at ``xmax`` (:mod:`rmtkit.powerlaw.bounded`) is a different thing: an upper end
of the support. docs/theory.md#power-laws.

References:
    [CSN] A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in empirical
        data", SIAM Review 51(4), 661-703 (2009).
    [Vuong] Q. H. Vuong, "Likelihood ratio tests for model selection and non-nested
        hypotheses", Econometrica 57(2), 307-333 (1989).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import log_ndtr
from jax.typing import ArrayLike

from rmtkit._checks import check_eigenvalues
from rmtkit.powerlaw.bounded import bounded_log_density
from rmtkit.powerlaw.scan import PowerLawFit
from rmtkit.status import FitStatus

__all__ = ["ALTERNATIVES", "LikelihoodRatio", "likelihood_ratio_test", "power_law_loglikelihoods"]

#: Alternatives of :func:`likelihood_ratio_test`.
ALTERNATIVES = ("exponential", "lognormal", "exponential_cutoff")
#: Names of the ``powerlaw`` package accepted for them.
_ALIASES = {"truncated_power_law": "exponential_cutoff"}

class LikelihoodRatio(NamedTuple):
    """Log-likelihood-ratio test of the power law against an alternative ([CSN] §5.1, [Vuong]).

    Attributes:
        R: ``sum_i ln p_PL(x_i) - ln p_alt(x_i)`` over the tail; ``> 0`` favours the power law.
        normalized_R: ``R / (sqrt(n) * sd)``, asymptotically standard normal (non-nested case).
        p_value: significance of the sign of ``R``: ``erfc(|R| / sqrt(2 n sd^2))`` [Vuong], or for
            the nested exponential cutoff ``P(chi2_1 > 2|R|)`` ([CSN] Appendix C).
        alternative: name of the alternative distribution (one of ``ALTERNATIVES``).
        params: its fitted parameters on the tail.
        n: number of tail points compared.
    """

    R: float
    normalized_R: float
    p_value: float
    alternative: str
    params: dict
    n: int


def power_law_loglikelihoods(tail: ArrayLike, alpha, xmin, xmax=np.inf) -> jax.Array:
    """``ln p(x_i)`` of the power law on ``[xmin, xmax]`` (bounded if ``xmax`` is finite), shape of ``tail``."""
    tail = jnp.asarray(tail)
    alpha, xmin, xmax = (jnp.asarray(v, tail.dtype) for v in (alpha, xmin, xmax))
    log_y = jnp.log(tail / xmin)
    if not bool(jnp.isfinite(xmax)):
        return jnp.log(alpha - 1) - jnp.log(xmin) - alpha * log_y
    log_range = jnp.log(xmax / xmin)
    return bounded_log_density(log_y, log_range, (alpha - 1) * log_range) - jnp.log(tail)


def _maximize(loglik, theta0: jax.Array, iters: int = 80) -> jax.Array:
    """Maximise a smooth 2-parameter mean log-likelihood: Newton (or gradient) steps with a
    vectorised backtracking search over step sizes ``2^0 .. 2^-20`` (monotone ascent)."""
    steps = 2.0 ** -jnp.arange(21, dtype=theta0.dtype)
    grad, hess = jax.grad(loglik), jax.hessian(loglik)

    def body(_, theta):
        g, h = grad(theta), hess(theta)
        newton = -jnp.linalg.solve(h, g)
        use_newton = jnp.all(jnp.linalg.eigvalsh(h) < 0) & jnp.all(jnp.isfinite(newton))
        direction = jnp.where(use_newton, newton, g / jnp.maximum(jnp.linalg.norm(g), 1e-300))
        trial = theta[None, :] + steps[:, None] * direction[None, :]
        vals = jax.vmap(loglik)(trial)
        vals = jnp.where(jnp.isfinite(vals), vals, -jnp.inf)
        best = jnp.argmax(vals)
        return jnp.where(vals[best] > loglik(theta), trial[best], theta)

    return lax.fori_loop(0, iters, body, theta0)


# Exp-sinh quadrature nodes on (0, inf): t = exp(pi/2 sinh s), s = h*i (used in float64).
_ES_H = 1 / 16
_ES_S = np.arange(-72, 73) * _ES_H
_ES_S = _ES_S[np.pi / 2 * np.sinh(_ES_S) < np.log(700.0)]  # e^t stays finite (and so do gradients)
_ES_T = np.exp(np.pi / 2 * np.sinh(_ES_S))
_ES_LOGW = np.log(_ES_H * np.pi / 2 * np.cosh(_ES_S)) + np.pi / 2 * np.sinh(_ES_S)


def _cutoff_log_normaliser(alpha: jax.Array, lam: jax.Array, xmin: jax.Array) -> jax.Array:
    """``ln int_xmin^inf x^-alpha e^{-lam x} dx`` by exp-sinh quadrature in ``t = ln(x/xmin)``."""
    t = jnp.asarray(_ES_T, xmin.dtype)
    z = lam * xmin
    log_f = (1 - alpha) * t - z * jnp.expm1(t)
    return (1 - alpha) * jnp.log(xmin) - z + jax.scipy.special.logsumexp(log_f + jnp.asarray(_ES_LOGW, xmin.dtype))


def _lognormal_parts(logs: jax.Array, xmin: jax.Array, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``ln p(x)`` of the log-normal ``(mu, ln sigma) = theta`` at ``logs = ln x``, and ``ln P(X >= xmin)``.

    The log-likelihood conditioned on ``x >= xmin`` is the first minus the second.
    """
    mu, sig = theta[0], jnp.exp(theta[1])
    z = (logs - mu) / sig
    return -logs - theta[1] - 0.5 * jnp.log(2 * jnp.pi) - 0.5 * z * z, log_ndtr((mu - jnp.log(xmin)) / sig)


@jax.jit
def _fit_lognormal(tail: jax.Array, xmin: jax.Array) -> jax.Array:
    """MLE ``(mu, ln sigma)`` of the log-normal conditioned on ``x >= xmin`` (theta, shape ``(2,)``)."""
    logs = jnp.log(tail)

    def loglik(theta):
        density, tail_mass = _lognormal_parts(logs, xmin, theta)
        return jnp.mean(density) - tail_mass

    theta0 = jnp.stack([jnp.mean(logs), jnp.log(jnp.maximum(jnp.std(logs), 1e-3))])
    return _maximize(loglik, theta0)


def _lognormal_loglikelihoods(tail, xmin, theta):
    density, tail_mass = _lognormal_parts(jnp.log(tail), xmin, theta)
    return density - tail_mass


def _cutoff_loglikelihood(theta: jax.Array, log_x: jax.Array, x: jax.Array, xmin: jax.Array) -> jax.Array:
    """``ln p(x)`` of ``x^-alpha e^{-lambda x}`` on ``[xmin, inf)``, ``(alpha, ln lambda) = theta``.

    Linear in ``(ln x, x)``: given their means it is the mean log-likelihood.
    """
    lam = jnp.exp(theta[1])
    return -theta[0] * log_x - lam * x - _cutoff_log_normaliser(theta[0], lam, xmin)


@jax.jit
def _fit_cutoff(tail: jax.Array, xmin: jax.Array, alpha0: jax.Array) -> jax.Array:
    """MLE ``(alpha, ln lambda)`` of ``x^-alpha e^{-lambda x}`` on ``[xmin, inf)`` ([CSN] Table 2.1)."""
    mean_log, mean_x = jnp.mean(jnp.log(tail)), jnp.mean(tail)
    theta0 = jnp.stack([alpha0, jnp.log(0.1 / mean_x)])
    return _maximize(lambda theta: _cutoff_loglikelihood(theta, mean_log, mean_x, xmin), theta0)


def likelihood_ratio_test(evals: ArrayLike, fit: PowerLawFit, *, alternative: str) -> LikelihoodRatio:
    """Compare the fitted power law with an alternative fitted on the same tail ([CSN] §5).

    The alternative is fitted by maximum likelihood to the tail ``xmin <= x <= xmax`` of ``evals``,
    conditioned on ``x >= xmin`` ([CSN] Table 2.1): ``"exponential"`` (closed form),
    ``"lognormal"`` and ``"exponential_cutoff"`` (power law with exponential cutoff, which nests
    the power law; numerical MLE; ``"truncated_power_law"``, the ``powerlaw`` package's name, is
    accepted for it). The power law's log-likelihood is the fit's own (bounded on ``[xmin, xmax]``
    if ``fit.xmax`` is finite; the alternatives are then still fitted on ``[xmin, inf)``, and the
    nested chi-squared p-value is exact only for unbounded fits).

    Args:
        evals: the spectrum ``(M,)`` that ``fit`` was fitted to.
        fit: a single (0-d) :class:`~rmtkit.powerlaw.PowerLawFit` with status ``OK``.
        alternative: one of ``ALTERNATIVES``.

    Returns:
        :class:`LikelihoodRatio`; ``R > 0`` with small ``p_value`` favours the power law,
        ``R < 0`` with small ``p_value`` the alternative.
    """
    alternative = _ALIASES.get(alternative, alternative)
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if np.ndim(fit.alpha) != 0 or int(fit.status) != FitStatus.OK:
        raise ValueError("likelihood_ratio_test needs one successful fit (status OK)")
    x = check_eigenvalues(evals, name="evals")
    xmin, xmax, alpha = float(fit.xmin), float(fit.xmax), float(fit.alpha)
    tail = jnp.asarray(np.sort(x[(x >= xmin) & (x <= xmax)]))
    n = int(tail.shape[0])
    ll_pl = power_law_loglikelihoods(tail, alpha, xmin, xmax)
    xmin_j = jnp.asarray(xmin, tail.dtype)
    if alternative == "exponential":
        lam = 1 / float(jnp.mean(tail - xmin))
        ll_alt = jnp.log(lam) - lam * (tail - xmin)
        params = {"lambda": lam}
    elif alternative == "lognormal":
        theta = _fit_lognormal(tail, xmin_j)
        ll_alt = _lognormal_loglikelihoods(tail, xmin_j, theta)
        params = {"mu": float(theta[0]), "sigma": float(np.exp(theta[1]))}
    else:
        theta = _fit_cutoff(tail, xmin_j, jnp.asarray(min(alpha, 10.0), tail.dtype))
        ll_alt = _cutoff_loglikelihood(theta, jnp.log(tail), tail, xmin_j)
        params = {"alpha": float(theta[0]), "lambda": float(np.exp(theta[1]))}
    diff = np.asarray(ll_pl - ll_alt, dtype=float)
    r = float(diff.sum())
    sd = float(diff.std())
    normalized = r / (math.sqrt(n) * sd) if sd > 0 else 0.0
    if alternative == "exponential_cutoff":
        p = math.erfc(math.sqrt(abs(r)))  # chi-squared survival of 2|R| with 1 degree of freedom
    else:
        p = math.erfc(abs(r) / math.sqrt(2 * n * sd * sd)) if sd > 0 else 1.0
    return LikelihoodRatio(r, normalized, p, alternative, params, n)
