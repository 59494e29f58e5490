"""Power-law tail fits of eigenvalue spectra: the method of [CSN], exact and batched (the public entry point).

A spectrum's tail ``rho(lambda) ~ lambda^-alpha`` for ``lambda >= xmin`` is fitted as in
[CSN] §3: for every candidate ``xmin`` the continuous maximum-likelihood exponent is computed,
and the ``xmin`` whose fit is closest to the data in Kolmogorov-Smirnov distance wins.
[MM-JMLR] fits the empirical spectral density of ``W^T W`` this way, optionally with the
power law bounded above at ``xmax = lambda_max``. docs/theory.md#power-laws.

References:
    [CSN] A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in empirical
        data", SIAM Review 51(4), 661-703 (2009).
    [MM-JMLR] C. H. Martin, M. W. Mahoney, "Implicit Self-Regularization in Deep Neural
        Networks: Evidence from Random Matrix Theory and Implications for Learning",
        JMLR 22(165), 1-73 (2021).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
from jax.typing import ArrayLike

from rmtkit import executables
from rmtkit._checks import check_eigenvalues
from rmtkit.batch import reject_batch_arguments, staged, valid_mask
from rmtkit.powerlaw.compiled import bucket, fit_rows, fit_single
from rmtkit.powerlaw.scan import PowerLawFit, Recipe
from rmtkit.status import FitStatus

__all__ = ["AUTO_SETTINGS", "METHODS", "Method", "fit_power_law", "fit_settings", "usable_values"]

#: The settings of the ``xmin`` scan (``method=``); :mod:`rmtkit.powerlaw.estimators` lists them with the
#: other estimators, and the analyzer's ``pl_method`` is typed with :data:`Method`.
Method = Literal["auto", "csn"]
METHODS: tuple[str, ...] = get_args(Method)

#: Settings of ``method="auto"``, chosen by measured accuracy on Pareto random matrices
#: (``benchmarks/bench_powerlaw.py::default_method_table``); see :func:`fit_power_law`.
AUTO_SETTINGS = {"xmax": "max", "min_tail": (10, 0.5), "drop_top": 0}


def fit_settings(
    method: Method = "auto", xmin=None, xmax=None, ks: str = "one_sided", min_tail=None, drop_top=None
) -> tuple[Recipe, object]:
    """The static :class:`~rmtkit.powerlaw.scan.Recipe` of :func:`fit_power_law`'s settings, and ``xmax`` as given.

    Shared with the goodness-of-fit functions, which refit synthetic data with the same settings.

    Raises:
        ValueError: a setting out of range, naming it.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if ks not in ("one_sided", "two_sided"):
        raise ValueError(f"ks must be 'one_sided' or 'two_sided', got {ks!r}")
    if method == "auto":
        xmax = AUTO_SETTINGS["xmax"] if xmax is None else xmax
        min_tail = AUTO_SETTINGS["min_tail"] if min_tail is None else min_tail
        drop_top = AUTO_SETTINGS["drop_top"] if drop_top is None else drop_top
    min_tail = 2 if min_tail is None else min_tail
    if isinstance(min_tail, tuple):
        tail_abs, tail_frac = int(min_tail[0]), float(min_tail[1])
    elif isinstance(min_tail, (float, np.floating)) and not float(min_tail).is_integer():
        tail_abs, tail_frac = 2, float(min_tail)
    else:
        tail_abs, tail_frac = int(min_tail), 0.0
    if tail_abs < 2 or not 0 <= tail_frac < 1:
        raise ValueError(
            f"min_tail must be an int >= 2, a fraction in (0, 1) or (int, fraction), got {min_tail!r}"
        )
    drop_top = int(drop_top or 0)
    if drop_top < 0:
        raise ValueError(f"drop_top must be >= 0, got {drop_top}")
    if xmax is None:
        mode = "none"
    elif isinstance(xmax, str):
        if xmax != "max":
            raise ValueError(f"xmax must be None, a number, an array of numbers or 'max', got {xmax!r}")
        mode = "max"
    else:
        mode = "value"
    recipe = Recipe(mode, ks == "two_sided", tail_abs, tail_frac, drop_top, xmin is not None)
    return recipe, xmax


def _per_row(value, rows: int, dtype, name: str, given: bool = False) -> np.ndarray:
    """``value`` broadcast to one entry per row; when ``given`` (a user's xmin/xmax) each must be positive and finite."""
    v = np.asarray(value, dtype=dtype)
    if v.ndim == 0:
        v = np.full((rows,), v)
    if v.shape != (rows,):
        raise ValueError(
            f"{name} must be a scalar or have one entry per spectrum ({rows}), got shape {v.shape}"
        )
    if given and not np.all(np.isfinite(v) & (v > 0)):
        bad = int(np.argmax(~(np.isfinite(v) & (v > 0))))
        raise ValueError(f"{name} must be positive and finite, got {v[bad]} for row {bad}")
    return v


def _in_range(x: np.ndarray, recipe: Recipe, xmax) -> np.ndarray:
    """The positive values ``<= xmax`` (a number), sorted."""
    if recipe.xmax_mode == "value":
        x = x[x <= xmax]
    return np.sort(x[x > 0])


def usable_values(x: np.ndarray, recipe: Recipe, xmax) -> np.ndarray:
    """The sorted values a fit sees: positive, ``<= xmax`` (a number), top ``drop_top`` removed."""
    x = _in_range(x, recipe, xmax)
    return x[: max(x.size - recipe.drop_top, 0)]


def _check_single(x: np.ndarray, recipe: Recipe, xmin, xmax) -> None:
    """Eager twin of the traced status for one spectrum (xmax already checked): raise with the reason."""
    x = usable_values(x, recipe, xmax)
    need = max(recipe.min_tail, math.ceil(recipe.min_tail_frac * x.size), 2)
    if x.size < 3:
        raise ValueError(f"evals has {x.size} positive values in range; a power-law fit needs at least 3")
    distinct = np.unique(x)
    if recipe.fixed_xmin:
        if not np.isfinite(xmin) or xmin <= 0:
            raise ValueError(f"xmin must be a positive finite number, got {xmin}")
        tail = x[x >= xmin]
        if tail.size < need or np.unique(tail).size < 2:
            raise ValueError(
                f"the tail x >= xmin = {xmin:.6g} holds {tail.size} points ({np.unique(tail).size} distinct); "
                f"need at least {need} and 2 distinct ({FitStatus.TAIL_TOO_SHORT.reason})"
            )
        return
    if distinct.size < 3:
        raise ValueError(f"evals has {distinct.size} distinct positive values; scanning xmin needs at least 3")
    tails = x.size - np.searchsorted(x, distinct[:-2], side="left")
    if not np.any(tails >= need):
        raise ValueError(
            f"no xmin candidate leaves a tail of >= {need} points ({FitStatus.TAIL_TOO_SHORT.reason})"
        )


def fit_power_law(
    evals: ArrayLike,
    *,
    xmin: float | ArrayLike | None = None,
    xmax: float | ArrayLike | str | None = None,
    method: Method = "auto",
    ks: str = "one_sided",
    min_tail: int | float | tuple[int, float] | None = None,
    drop_top: int | None = None,
    lengths: ArrayLike | None = None,
    mask: ArrayLike | None = None,
) -> PowerLawFit:
    """Fit a power-law tail ``p(x) ~ x^-alpha`` for ``x >= xmin`` by the method of [CSN].

    For every candidate ``xmin`` (every distinct value but the two largest, as the reference
    ``powerlaw`` package scans them) the continuous MLE ``alpha = 1 + n / sum ln(x_i/xmin)``
    ([CSN] eq. 3.1) is computed over the ``n`` tail points ``x_i >= xmin``; the candidate whose
    fitted CDF is closest to the tail's empirical CDF in Kolmogorov-Smirnov distance ``D``
    ([CSN] eq. 3.9) wins, ties to the smaller ``xmin``. No bound is put on ``alpha``. Values
    ``<= 0`` (zero eigenvalues of rank-deficient ``W^T W``) are left out, as in the reference.

    With ``xmax`` the law is bounded, ``p(x) ∝ x^-alpha`` on ``[xmin, xmax]`` ([MM-JMLR] fits
    ESDs with ``xmax = lambda_max``): points above ``xmax`` are discarded (as the reference does),
    ``alpha`` is the exact maximiser of the bounded likelihood (any real ``alpha``), and ``D``
    uses the bounded CDF. (The reference keeps the unbounded closed form for ``alpha`` in
    ``(1.5, 3]`` even with ``xmax``, so only unbounded fits are comparable with it.)

    Methods:
        ``"csn"``: exactly the above with the arguments given (``xmax=None``, tails of >= 2
            points). Reproduces ``powerlaw.Fit(x, parameter_ranges={"alpha": [1, 1000]})``.
        ``"auto"`` (default): the settings in ``AUTO_SETTINGS`` for any argument left ``None``,
            chosen by RMSE of ``alpha`` against ``mu/2 + 1`` on eigenvalues of ``W^T W / N``
            with Pareto(mu) entries, ``N x M = 1000 x 500``, ``mu`` in ``[0.5, 1.9]``
            (``benchmarks/bench_powerlaw.py``, 8 values of ``mu`` x 6 seeds):
            plain csn 0.280 (bias +0.137); csn with ``xmax="max"`` 0.253; two-sided KS with
            ``xmax="max"`` 0.237; tail >= max(10, 5% | 10% of M) 0.280 (never binds); dropping
            the top 1 / 3 eigenvalues 0.329 / 0.455; ``xmax="max"`` with tail >= max(10, 25% of M)
            0.243; **``xmax="max"`` with tail >= max(10, 50% of M) 0.102 (bias +0.000)**, the
            default. Caveat: the VHT spectra it was chosen on are power laws almost throughout;
            for spectra with a Marchenko-Pastur bulk under a short tail use ``method="csn"``.

    Args:
        evals: one spectrum ``(M,)``, or a padded batch ``(R, M)`` fitted in one jitted call
            (the convention of :mod:`rmtkit.batch`).
        xmin: fix ``xmin`` (scalar, or ``(R,)``) instead of scanning it.
        xmax: ``None`` (plain power law), a number or ``(R,)`` array (bound the law there, discarding
            larger values), or ``"max"`` (bound it at each spectrum's largest value).
        method: ``"auto"`` or ``"csn"``.
        ks: ``"one_sided"`` (the reference's ``max_j |F(x_j) - j/n|``) or ``"two_sided"`` (the
            textbook statistic, also comparing with ``(j + 1)/n``).
        min_tail: smallest tail allowed: an int, a fraction of the points, or ``(int, fraction)``
            (the larger wins).
        drop_top: leave out the ``drop_top`` largest values (outlying spikes) before fitting.
        lengths: for a batch, the number of leading valid entries per row ``(R,)``.
        mask: for a batch, boolean ``(R, M)``, true on valid entries (instead of ``lengths``).

    Returns:
        :class:`PowerLawFit` with fields of shape ``()`` (1-D input) or ``(R,)`` (2-D input).
        A 2-D batch never raises: each row carries a :class:`~rmtkit.status.FitStatus`.

    Raises:
        ValueError: bad arguments, or (1-D input) a spectrum that cannot be fitted: too few
            points, NaN/Inf, negative values, all values equal, or no tail long enough.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).pareto(1.5, 2000) + 1.0
    >>> fit = fit_power_law(x, method="csn")
    >>> bool(abs(float(fit.alpha) - 2.5) < 0.2)
    True
    """
    recipe, xmax = fit_settings(method, xmin, xmax, ks, min_tail, drop_top)
    arr = np.asarray(evals)
    if arr.ndim == 1:
        reject_batch_arguments(lengths, mask)
        clean = check_eigenvalues(arr, name="evals")
        xmin_f = np.nan if xmin is None else float(xmin)
        xmax_f = np.nan if recipe.xmax_mode != "value" else float(xmax)
        if recipe.xmax_mode == "value" and (not np.isfinite(xmax_f) or xmax_f <= 0):
            raise ValueError(f"xmax must be a positive finite number or 'max', got {xmax}")
        if xmin is not None and (not np.isfinite(xmin_f) or xmin_f <= 0):
            raise ValueError(f"xmin must be a positive finite number, got {xmin}")
        values = _in_range(clean, recipe, xmax_f)  # drop_top is applied in the graph
        padded = np.full(bucket(clean.size), np.inf, clean.dtype)
        padded[: values.size] = values
        fit = executables.call(fit_single, padded, xmax_f, xmin_f, recipe=recipe)
        status = int(fit.status)
        if status != FitStatus.OK:  # say why, with the numbers (the eager checks run only here)
            _check_single(clean, recipe, xmin_f, xmax_f)
            raise ValueError(f"evals cannot be fitted: {FitStatus(status).reason}")
        return fit
    if arr.ndim != 2:
        raise ValueError(f"evals must be 1-D (one spectrum) or 2-D (a padded batch), got shape {arr.shape}")
    xb = staged(evals)
    rows = xb.shape[0]
    valid = np.asarray(valid_mask(xb.shape, lengths=lengths, mask=mask))
    return executables.call(
        fit_rows,
        xb,
        valid,
        _per_row(xmax if recipe.xmax_mode == "value" else np.nan, rows, xb.dtype, "xmax", recipe.xmax_mode == "value"),
        _per_row(np.nan if xmin is None else xmin, rows, xb.dtype, "xmin", xmin is not None),
        recipe=recipe,
    )
