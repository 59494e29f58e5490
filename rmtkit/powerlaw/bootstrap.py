"""Bootstrap tests of a power-law fit: the p-value of [CSN] §4.1 and a confidence interval for ``alpha``.

Every random step takes an explicit ``jax.random`` key, so results are reproducible; every
bootstrap refits all synthetic (or resampled) spectra in one jitted, batched call of the same
fitting procedure as :func:`rmtkit.powerlaw.fit_power_law` (same method, ``xmax`` and KS variant).
docs/theory.md#power-laws.

References:
    [CSN] A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in empirical
        data", SIAM Review 51(4), 661-703 (2009).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtkit._checks import check_eigenvalues
from rmtkit.powerlaw.bounded import bounded_quantile_scaled
from rmtkit.powerlaw.compiled import fit_full_rows
from rmtkit.powerlaw.fit import fit_power_law, fit_settings, usable_values
from rmtkit.powerlaw.scan import PowerLawFit, Recipe
from rmtkit.status import FitStatus

__all__ = ["AlphaInterval", "BootstrapPValue", "alpha_confidence_interval", "bootstrap_pvalue"]

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


def _settings(evals: ArrayLike, fit_kwargs: dict) -> tuple[np.ndarray, Recipe, object, PowerLawFit]:
    if "lengths" in fit_kwargs or "mask" in fit_kwargs:
        raise ValueError("goodness-of-fit functions take one 1-D spectrum")
    clean = check_eigenvalues(evals, name="evals")
    fit = fit_power_law(clean, **fit_kwargs)
    recipe, xmax = fit_settings(**fit_kwargs)
    return clean, recipe, xmax, fit


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
    recipe: Recipe,
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
        tail = xmin * jnp.exp(log_range * bounded_quantile_scaled(u, (alpha - 1) * log_range))
    pick = jax.random.randint(k_body, shape, 0, jnp.maximum(n_body, 1))
    data = jnp.where(in_tail, tail, body[pick])
    fits = fit_full_rows(data, recipe, xmax_value, jnp.nan)
    return jnp.where(fits.status == FitStatus.OK, fits.D, jnp.nan)


def bootstrap_pvalue(evals: ArrayLike, *, key: jax.Array, n_boot: int = 1000, **fit_kwargs) -> BootstrapPValue:
    """p-value of the power-law hypothesis by the semi-parametric bootstrap of [CSN] §4.1.

    ``n_boot`` synthetic data sets of the fit's size are drawn (tail points from the fitted
    law, the rest resampled from the data below ``xmin``), each is fitted by the same procedure
    (``xmin`` scanned again), and ``p`` is the fraction whose KS distance is at least the
    data's. [CSN] use ``n_boot ~ 2500`` for ``p`` to two decimals; ``p <= 0.1`` rejects.

    Args:
        evals: one spectrum ``(M,)``.
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
    clean, recipe, xmax, fit = _settings(evals, fit_kwargs)
    used = usable_values(clean, recipe, xmax)
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
    evals: ArrayLike, *, key: jax.Array, n_boot: int = 500, level: float = 0.95, **fit_kwargs
) -> AlphaInterval:
    """Percentile bootstrap interval for ``alpha``: resample the data with replacement and refit.

    The whole procedure (``xmin`` included) is repeated on each resample, so the interval
    covers the uncertainty of choosing ``xmin`` as well ([CSN] §3.5).

    Args:
        evals: one spectrum ``(M,)``.
        key: ``jax.random`` key.
        n_boot: number of resamples.
        level: coverage, in ``(0, 1)``.
        **fit_kwargs: passed to :func:`~rmtkit.powerlaw.fit_power_law`.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    clean, recipe, xmax, fit = _settings(evals, fit_kwargs)
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
    key: jax.Array, x: jax.Array, xmax_value: jax.Array, xmin_value: jax.Array, n_boot: int, recipe: Recipe
) -> jax.Array:
    data = x[jax.random.randint(key, (n_boot, x.shape[0]), 0, x.shape[0])]
    fits = fit_full_rows(data, recipe, xmax_value, xmin_value)
    return jnp.where(fits.status == FitStatus.OK, fits.alpha, jnp.nan)

