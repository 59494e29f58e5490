"""Goodness of fit for power-law tails: bootstrap p-value, likelihood-ratio tests, bootstrap CI ([CSN] §4-5).

Every random step takes an explicit ``jax.random`` key, so results are reproducible; every
bootstrap refits all synthetic (or resampled) spectra in one jitted, batched call of the same
fitting procedure as :func:`rmtkit.powerlaw.fit_power_law` (same method, ``xmax`` and KS variant).

References:
    [CSN] A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in empirical
        data", SIAM Review 51(4), 661-703 (2009).
    [Vuong] Q. H. Vuong, "Likelihood ratio tests for model selection and non-nested
        hypotheses", Econometrica 57(2), 307-333 (1989).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import log_ndtr
from jax.typing import ArrayLike

from rmtkit._checks import check_eigenvalues
from rmtkit.powerlaw import (
    PowerLawFit,
    _fit_rows_impl,
    _Recipe,
    _recipe,
    _usable_values,
    fit_power_law,
    truncated_quantile_scaled,
)
from rmtkit.status import FitStatus

__all__ = [
    "ALTERNATIVES",
    "AlphaInterval",
    "BootstrapPValue",
    "LikelihoodRatio",
    "alpha_confidence_interval",
    "bootstrap_pvalue",
    "likelihood_ratio_test",
    "power_law_loglikelihoods",
]

ALTERNATIVES = ("exponential", "lognormal", "truncated_power_law")


class BootstrapPValue(NamedTuple):
    """Semi-parametric bootstrap test of the power-law hypothesis ([CSN] §4.1).

    Attributes:
        p_value: fraction of synthetic data sets whose best fit is worse (``D_boot >= D``).
            ``p <= 0.1`` rules the power law out ([CSN] §4.1).
        fit: the fit of the data.
        D_boot: ``(n_boot,)`` KS distances of the synthetic fits (NaN where a fit failed).
        n_valid: number of synthetic fits that succeeded (the p-value's denominator).
    """

    p_value: float
    fit: PowerLawFit
    D_boot: np.ndarray
    n_valid: int


class LikelihoodRatio(NamedTuple):
    """Log-likelihood-ratio test of the power law against an alternative ([CSN] §5.1, [Vuong]).

    Attributes:
        R: ``sum_i ln p_PL(x_i) - ln p_alt(x_i)`` over the tail; ``> 0`` favours the power law.
        normalized_R: ``R / (sqrt(n) * sd)``, asymptotically standard normal (non-nested case).
        p_value: significance of the sign of ``R``: ``erfc(|R| / sqrt(2 n sd^2))`` [Vuong], or for
            the nested truncated power law ``P(chi2_1 > 2|R|)`` ([CSN] Appendix C).
        alternative: name of the alternative distribution.
        params: its fitted parameters on the tail.
        n: number of tail points compared.
    """

    R: float
    normalized_R: float
    p_value: float
    alternative: str
    params: dict
    n: int


class AlphaInterval(NamedTuple):
    """Percentile bootstrap confidence interval for ``alpha`` ([CSN] §3.5, nonparametric bootstrap).

    Attributes:
        low, high: interval ends at the requested level.
        alpha: the fit's exponent.
        alphas: ``(n_boot,)`` exponents of the resampled fits (NaN where a fit failed).
    """

    low: float
    high: float
    alpha: float
    alphas: np.ndarray


def _settings(x: ArrayLike, fit_kwargs: dict) -> tuple[np.ndarray, _Recipe, object, PowerLawFit]:
    if "lengths" in fit_kwargs or "mask" in fit_kwargs:
        raise ValueError("goodness-of-fit functions take one 1-D spectrum")
    clean = check_eigenvalues(x, name="x")
    fit = fit_power_law(clean, **fit_kwargs)
    recipe, xmax = _recipe(
        fit_kwargs.get("method", "auto"),
        fit_kwargs.get("xmin"),
        fit_kwargs.get("xmax"),
        fit_kwargs.get("ks", "one_sided"),
        fit_kwargs.get("min_tail"),
        fit_kwargs.get("drop_top"),
    )
    return clean, recipe, xmax, fit


def _fit_many(data: jax.Array, recipe: _Recipe, xmax_value: float, xmin_value: float) -> PowerLawFit:
    rows = data.shape[0]
    dtype = data.dtype
    return _fit_rows_impl(
        data,
        jnp.ones(data.shape, bool),
        jnp.full((rows,), xmax_value, dtype),
        jnp.full((rows,), xmin_value, dtype),
        recipe,
    )


@partial(jax.jit, static_argnames=("n_boot", "recipe"))
def _synthetic_fits(
    key: jax.Array,
    body: jax.Array,
    n_body: jax.Array,
    xmin: jax.Array,
    alpha: jax.Array,
    xmax: jax.Array,
    tail_fraction: jax.Array,
    xmax_value: jax.Array,
    n_boot: int,
    recipe: _Recipe,
) -> jax.Array:
    """``(n_boot,)`` KS distances of fits to semi-parametric synthetic data sets ([CSN] §4.1).

    Each of the ``n = body.shape[0]`` points is, with probability ``tail_fraction``, drawn from the
    fitted power law on ``[xmin, xmax]``, otherwise uniformly from the observed values below
    ``xmin`` (the first ``n_body`` entries of ``body``).
    """
    n = body.shape[0]
    k_pick, k_tail, k_body = jax.random.split(key, 3)
    shape = (n_boot, n)
    in_tail = (jax.random.uniform(k_pick, shape, body.dtype) < tail_fraction) | (n_body == 0)
    u = jax.random.uniform(k_tail, shape, body.dtype)
    if recipe.xmax_mode == "none":
        tail = xmin * jnp.exp(-jnp.log1p(-u) / (alpha - 1))
    else:
        log_range = jnp.log(xmax / xmin)
        tail = xmin * jnp.exp(log_range * truncated_quantile_scaled(u, (alpha - 1) * log_range))
    pick = jax.random.randint(k_body, shape, 0, jnp.maximum(n_body, 1))
    data = jnp.where(in_tail, tail, body[pick])
    fits = _fit_many(data, recipe, xmax_value, jnp.nan)
    return jnp.where(fits.status == FitStatus.OK, fits.D, jnp.nan)


def bootstrap_pvalue(x: ArrayLike, *, key: jax.Array, n_boot: int = 1000, **fit_kwargs) -> BootstrapPValue:
    """p-value of the power-law hypothesis by the semi-parametric bootstrap of [CSN] §4.1.

    ``n_boot`` synthetic data sets of the fit's size are drawn (tail points from the fitted
    law, the rest resampled from the data below ``xmin``), each is fitted by the same procedure
    (``xmin`` scanned again), and ``p`` is the fraction whose KS distance is at least the
    data's. [CSN] use ``n_boot ~ 2500`` for ``p`` to two decimals; ``p <= 0.1`` rejects.

    Args:
        x: one spectrum ``(M,)``.
        key: ``jax.random`` key.
        n_boot: number of synthetic data sets.
        **fit_kwargs: passed to :func:`~rmtkit.powerlaw.fit_power_law` (``method``, ``xmax``, ...).

    Returns:
        :class:`BootstrapPValue`.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if fit_kwargs.get("xmin") is not None:
        raise ValueError("the bootstrap p-value rescans xmin; do not fix xmin")
    clean, recipe, xmax, fit = _settings(x, fit_kwargs)
    used = _usable_values(clean, recipe, xmax)
    xmin = float(fit.xmin)
    body = used[used < xmin]
    n_body = body.size
    body = np.concatenate([body, np.full(used.size - n_body, xmin)])  # pad to the fit's size
    d_boot = _synthetic_fits(
        key,
        jnp.asarray(body),
        n_body,
        fit.xmin,
        fit.alpha,
        fit.xmax,
        int(fit.n_tail) / used.size,
        float(xmax) if recipe.xmax_mode == "value" else np.nan,
        int(n_boot),
        recipe._replace(drop_top=0),
    )
    d_boot = np.asarray(d_boot)
    valid = np.isfinite(d_boot)
    p = float(np.mean(d_boot[valid] >= float(fit.D))) if valid.any() else float("nan")
    return BootstrapPValue(p, fit, d_boot, int(valid.sum()))


def alpha_confidence_interval(
    x: ArrayLike, *, key: jax.Array, n_boot: int = 500, level: float = 0.95, **fit_kwargs
) -> AlphaInterval:
    """Percentile bootstrap interval for ``alpha``: resample the data with replacement and refit.

    The whole procedure (``xmin`` included) is repeated on each resample, so the interval
    covers the uncertainty of choosing ``xmin`` as well ([CSN] §3.5).

    Args:
        x: one spectrum ``(M,)``.
        key: ``jax.random`` key.
        n_boot: number of resamples.
        level: coverage, in ``(0, 1)``.
        **fit_kwargs: passed to :func:`~rmtkit.powerlaw.fit_power_law`.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    clean, recipe, xmax, fit = _settings(x, fit_kwargs)
    xmin_fixed = fit_kwargs.get("xmin")
    if xmin_fixed is not None:
        recipe = recipe._replace(fixed_xmin=True)
    xmax_value = float(xmax) if recipe.xmax_mode == "value" else np.nan
    xmin_value = np.nan if xmin_fixed is None else float(xmin_fixed)
    alphas = np.asarray(_resampled_alphas(key, jnp.asarray(clean), xmax_value, xmin_value, int(n_boot), recipe))
    ok = alphas[np.isfinite(alphas)]
    if ok.size == 0:
        return AlphaInterval(float("nan"), float("nan"), float(fit.alpha), alphas)
    lo, hi = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return AlphaInterval(float(lo), float(hi), float(fit.alpha), alphas)


@partial(jax.jit, static_argnames=("n_boot", "recipe"))
def _resampled_alphas(
    key: jax.Array, x: jax.Array, xmax_value: jax.Array, xmin_value: jax.Array, n_boot: int, recipe: _Recipe
) -> jax.Array:
    data = x[jax.random.randint(key, (n_boot, x.shape[0]), 0, x.shape[0])]
    fits = _fit_many(data, recipe, xmax_value, xmin_value)
    return jnp.where(fits.status == FitStatus.OK, fits.alpha, jnp.nan)


# ----------------------------------------------------------------------------------------------
# Log-likelihoods on the tail and the alternatives' MLEs.
# ----------------------------------------------------------------------------------------------


def power_law_loglikelihoods(tail: ArrayLike, alpha, xmin, xmax=np.inf) -> jax.Array:
    """``ln p(x_i)`` of the (truncated if ``xmax`` is finite) power law on ``[xmin, xmax]``, shape of ``tail``."""
    tail = jnp.asarray(tail)
    alpha, xmin, xmax = (jnp.asarray(v, tail.dtype) for v in (alpha, xmin, xmax))
    log_y = jnp.log(tail / xmin)
    if not bool(jnp.isfinite(xmax)):
        return jnp.log(alpha - 1) - jnp.log(xmin) - alpha * log_y
    log_range = jnp.log(xmax / xmin)
    c = (alpha - 1) * log_range
    d = jnp.abs(c)
    dd = jnp.where(d > 0, d, 1)
    # ln of the truncated-exponential normaliser c / (1 - e^{-c}), written for either sign of c.
    log_norm = jnp.where(d > 0, jnp.log(dd) - jnp.log(-jnp.expm1(-dd)) - jnp.where(c < 0, d, 0), 0)
    return log_norm - c * log_y / log_range - jnp.log(log_range) - jnp.log(tail)


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


@jax.jit
def _fit_lognormal(tail: jax.Array, xmin: jax.Array) -> jax.Array:
    """MLE ``(mu, ln sigma)`` of the log-normal conditioned on ``x >= xmin`` (theta, shape ``(2,)``)."""
    logs = jnp.log(tail)

    def loglik(theta):
        mu, sig = theta[0], jnp.exp(theta[1])
        z = (logs - mu) / sig
        return jnp.mean(-logs - theta[1] - 0.5 * jnp.log(2 * jnp.pi) - 0.5 * z * z) - log_ndtr((mu - jnp.log(xmin)) / sig)

    theta0 = jnp.stack([jnp.mean(logs), jnp.log(jnp.maximum(jnp.std(logs), 1e-3))])
    return _maximize(loglik, theta0)


def _lognormal_loglikelihoods(tail, xmin, theta):
    logs = jnp.log(tail)
    mu, sig = theta[0], jnp.exp(theta[1])
    z = (logs - mu) / sig
    return -logs - theta[1] - 0.5 * jnp.log(2 * jnp.pi) - 0.5 * z * z - log_ndtr((mu - jnp.log(xmin)) / sig)


@jax.jit
def _fit_cutoff(tail: jax.Array, xmin: jax.Array, alpha0: jax.Array) -> jax.Array:
    """MLE ``(alpha, ln lambda)`` of ``x^-alpha e^{-lambda x}`` on ``[xmin, inf)`` ([CSN] Table 2.1)."""
    mean_log, mean_x = jnp.mean(jnp.log(tail)), jnp.mean(tail)

    def loglik(theta):
        lam = jnp.exp(theta[1])
        return -theta[0] * mean_log - lam * mean_x - _cutoff_log_normaliser(theta[0], lam, xmin)

    theta0 = jnp.stack([alpha0, jnp.log(0.1 / mean_x)])
    return _maximize(loglik, theta0)


def _cutoff_loglikelihoods(tail, xmin, theta):
    lam = jnp.exp(theta[1])
    return -theta[0] * jnp.log(tail) - lam * tail - _cutoff_log_normaliser(theta[0], lam, xmin)


def likelihood_ratio_test(x: ArrayLike, fit: PowerLawFit, *, alternative: str) -> LikelihoodRatio:
    """Compare the fitted power law with an alternative fitted on the same tail ([CSN] §5).

    The alternative is fitted by maximum likelihood to the tail ``xmin <= x <= xmax`` of ``x``,
    conditioned on ``x >= xmin`` ([CSN] Table 2.1): ``"exponential"`` (closed form),
    ``"lognormal"`` and ``"truncated_power_law"`` (power law with exponential cutoff, which nests
    the power law; numerical MLE). The power law's log-likelihood is the fit's own (truncated on
    ``[xmin, xmax]`` if ``fit.xmax`` is finite; the alternatives are then still fitted on
    ``[xmin, inf)``, and the nested chi-squared p-value is exact only for untruncated fits).

    Args:
        x: the spectrum ``(M,)`` that ``fit`` was fitted to.
        fit: a single (0-d) :class:`~rmtkit.powerlaw.PowerLawFit` with status ``OK``.
        alternative: one of ``ALTERNATIVES``.

    Returns:
        :class:`LikelihoodRatio`; ``R > 0`` with small ``p_value`` favours the power law,
        ``R < 0`` with small ``p_value`` the alternative.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if np.ndim(fit.alpha) != 0 or int(fit.status) != FitStatus.OK:
        raise ValueError("likelihood_ratio_test needs one successful fit (status OK)")
    x = check_eigenvalues(x, name="x")
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
        ll_alt = _cutoff_loglikelihoods(tail, xmin_j, theta)
        params = {"alpha": float(theta[0]), "lambda": float(np.exp(theta[1]))}
    diff = np.asarray(ll_pl - ll_alt, dtype=float)
    r = float(diff.sum())
    sd = float(diff.std())
    normalized = r / (math.sqrt(n) * sd) if sd > 0 else 0.0
    if alternative == "truncated_power_law":
        p = math.erfc(math.sqrt(abs(r)))  # chi-squared survival of 2|R| with 1 degree of freedom
    else:
        p = math.erfc(abs(r) / math.sqrt(2 * n * sd * sd)) if sd > 0 else 1.0
    return LikelihoodRatio(r, normalized, p, alternative, params, n)
