"""The exact power-law fit of one spectrum: the method of [CSN] with a branch-and-bound xmin scan.

For every candidate ``xmin`` the continuous maximum-likelihood exponent is computed (prefix sums of
logs give all candidates at once), and the ``xmin`` whose fit is closest to the data in
Kolmogorov-Smirnov distance wins ([CSN] §3). :func:`fit_one` fits one padded spectrum; the compiled
programs that map it over a batch are in :mod:`rmtkit.powerlaw.compiled`, the public entry point
is :func:`rmtkit.powerlaw.fit_power_law`. With an upper end ``xmax`` the law is *bounded*
(:mod:`rmtkit.powerlaw.bounded`). docs/theory.md#power-laws.

References:
    [CSN] A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in empirical
        data", SIAM Review 51(4), 661-703 (2009).
"""

from __future__ import annotations

import itertools
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rmtkit._checks import spectrum_status
from rmtkit._safe import safe_div, safe_log
from rmtkit.powerlaw import rounds
from rmtkit.powerlaw.bounded import bounded_cdf_scaled, bounded_mle, bounded_sigma
from rmtkit.status import FitStatus

__all__ = ["PowerLawFit", "Recipe", "fit_one"]

#: Tail points sampled per candidate for the cheap lower bound on its KS distance.
_LB_POINTS = 64
#: First points of every tail also used for the lower bound (short tails get it exact).
_LOCAL_POINTS = 16
#: Blocks of candidates in the lower bound, each compared with the grid points from its start on.
_LB_BLOCKS = 4
#: Static start positions the exact rounds choose from (their work shrinks with the tails).
_EXACT_STARTS = 4
#: Candidates whose KS distance is computed exactly per round of the branch-and-bound.
_ROUND = 32
#: Longer spectra choose their rounds in sorted order of the bounds (rmtkit.powerlaw.rounds). Measured on
#: Pareto samples, threshold counts / sorted order: 0.64 / 1.21 ms at 1,000 values, 2.8 / 4.0 ms at 4,096,
#: 28 / 21 ms at 8,192, 42 / 28 ms at 16,384, 511 / 318 ms at 65,536.
_ORDERED_FROM = 6144


class PowerLawFit(NamedTuple):
    """Result of a power-law tail fit (a pytree; every field has the batch shape, ``()`` for one spectrum).

    Attributes:
        alpha: tail exponent, ``rho(x) ~ x^-alpha`` on ``[xmin, xmax]``.
        xmin: lower end of the fitted tail (a data value when scanned).
        xmax: upper end: ``+inf`` for the plain power law, finite for the bounded one.
        D: Kolmogorov-Smirnov distance between the tail and the fit ([CSN] eq. 3.9).
        sigma: standard error of ``alpha``: ``(alpha - 1)/sqrt(n_tail)`` ([CSN] eq. 3.2) for the
            plain law, ``1/sqrt(n_tail * Var[ln x])`` (the Fisher information) when bounded.
        n_tail: number of points in ``[xmin, xmax]`` (int32, 0 when the fit failed).
        n: number of points the fit saw: valid, positive and ``<= xmax`` (int32).
        status: :class:`~rmtkit.status.FitStatus` code (int32); numeric fields are NaN unless ``OK``.
        ks_two_sided: whether ``D`` is the two-sided KS distance (bool) or the one-sided one
            of the reference implementation.
    """

    alpha: jax.Array
    xmin: jax.Array
    xmax: jax.Array
    D: jax.Array
    sigma: jax.Array
    n_tail: jax.Array
    n: jax.Array
    status: jax.Array
    ks_two_sided: jax.Array


class Recipe(NamedTuple):
    """Static (hashable) settings of one fit; every field changes the compiled program."""

    xmax_mode: str  # "none" | "value" | "max"
    two_sided: bool
    min_tail: int
    min_tail_frac: float
    drop_top: int
    fixed_xmin: bool


class _Sorted(NamedTuple):
    """A spectrum prepared for the candidate scan; entries at positions ``>= n`` are padding.

    On padding, ``lx``, ``first`` and ``after`` repeat those of the largest value, so a padded
    position compares like the last tail point and the KS scans need no ``j < n`` mask.
    """

    xs: jax.Array  # (M,) ascending, +inf padding
    lx: jax.Array  # (M,) ln(xs) - ln(largest), 0 on padding
    first: jax.Array  # (M,) float: index of the first occurrence of xs[j]
    after: jax.Array  # (M,) float: one past the last occurrence of xs[j], at most n
    is_first: jax.Array  # (M,) bool: j is the first occurrence of a usable value
    n: jax.Array  # number of usable points
    log_xmax: jax.Array  # ln(xmax) - ln(largest); +inf for the plain law
    xmax: jax.Array


def _prepare(
    x: jax.Array, valid: jax.Array, xmax_value: jax.Array, recipe: Recipe, presorted: bool
) -> _Sorted:
    """Sort (unless ``presorted``: usable values ascending, then anything unusable) and index ties."""
    m = x.shape[0]
    dtype = x.dtype
    idx = jnp.arange(m)
    usable = valid & jnp.isfinite(x) & (x > 0)  # [CSN] and the reference drop x <= 0
    if recipe.xmax_mode == "value":
        usable &= x <= xmax_value
    xs = jnp.where(usable, x, jnp.inf)
    if not presorted:
        xs = jnp.sort(xs)
    n = jnp.maximum(usable.sum() - recipe.drop_top, 0)
    xs = jnp.where(idx < n, xs, jnp.inf)
    largest = xs[jnp.maximum(n - 1, 0)]
    log_largest = safe_log(largest)
    lx = jnp.where(idx < n, safe_log(xs) - log_largest, 0)
    # Runs of equal values in O(M): the padding continues the run of the largest value.
    xt = jnp.where(idx < n, xs, largest)
    change = xt[1:] != xt[:-1]
    starts = jnp.concatenate([jnp.ones((1,), bool), change])
    ends = jnp.concatenate([change, jnp.ones((1,), bool)])
    first = lax.cummax(jnp.where(starts, idx, 0))
    after = lax.cummin(jnp.where(ends, idx + 1, m), reverse=True)
    after = jnp.minimum(after, n)
    if recipe.xmax_mode == "value":
        xmax = xmax_value.astype(dtype)
        log_xmax = safe_log(xmax) - log_largest
    elif recipe.xmax_mode == "max":
        xmax, log_xmax = largest, jnp.zeros((), dtype)
    else:
        xmax, log_xmax = jnp.array(jnp.inf, dtype), jnp.array(jnp.inf, dtype)
    return _Sorted(xs, lx, first.astype(dtype), after.astype(dtype), starts & (idx < n), n, log_xmax, xmax)


def _tail_exponents(
    s: _Sorted, k: jax.Array, lref: jax.Array, bounded: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """MLE exponent, standard error and KS shape parameter for tails starting at positions ``k``.

    ``sum_{j >= k} ln(x_j/xmin)`` comes from suffix sums of logs (centred at the largest value so
    that short tails, where the sum is small, add few small terms). Returns ``(alpha, sigma, shape)``
    where ``shape`` is ``alpha - 1`` (plain) or ``c = (alpha - 1) L`` (bounded), all of ``k``'s shape.
    """
    suffix = jnp.cumsum(s.lx[::-1])[::-1]
    suffix = jnp.concatenate([suffix, jnp.zeros((1,), s.lx.dtype)])
    nk = (s.n - k).astype(s.lx.dtype)
    sum_log = suffix[k] - nk * lref
    if bounded:
        log_range = s.log_xmax - lref
        alpha, c = bounded_mle(safe_div(sum_log, nk * log_range), log_range)
        return alpha, bounded_sigma(nk, c, log_range), c
    b = safe_div(nk, sum_log, jnp.inf)  # alpha - 1, [CSN] eq. 3.1
    return 1 + b, b / jnp.sqrt(nk), b


def _ks_distance(
    s: _Sorted,
    k: jax.Array,
    lref: jax.Array,
    shape: jax.Array,
    at: tuple[jax.Array, jax.Array, jax.Array, jax.Array],
    bounded: bool,
    two_sided: bool,
    below: bool = True,
    fast: bool = False,
) -> jax.Array:
    """``max_j |F(x_j) - S(x_j)|`` over tail points ``j`` of the candidates ``k`` ``(K,)``.

    ``at = (j, ln x_j, first_j, after_j)`` describes the points compared, each broadcastable to
    ``(P, K)`` (points down, candidates across: the reduction runs over rows, which vectorises
    along the candidates). The empirical CDF ``S`` at a tail value counts the tail points strictly
    below it, as the reference implementation does ([CSN] eq. 3.9 evaluated at the data);
    ``two_sided`` also compares with the count at or below it (the textbook KS statistic).
    ``below=False`` promises that every point compared lies in every candidate's tail
    (``j >= k``) and skips the mask. ``fast`` evaluates the CDF with ``exp`` instead of ``expm1``
    (several times cheaper on CPU; absolute error a few ulp for the plain law, up to ~``u/|c|``
    for the bounded law at small ``|c|``), for the lower bounds, whose slack covers it.
    """
    j, lxj, first_j, after_j = at
    dtype = s.lx.dtype
    kf = k.astype(dtype)[None, :]
    inv_nk = 1 / jnp.maximum(s.n - k, 1).astype(dtype)[None, :]
    d = lxj - lref[None, :]
    c = shape[None, :]
    if bounded:
        fit_cdf = bounded_cdf_scaled(d / (s.log_xmax - lref)[None, :], c, fast)
    elif fast:
        fit_cdf = 1 - jnp.exp(-c * d)
    else:
        fit_cdf = -jnp.expm1(-c * d)
    dist = jnp.abs(fit_cdf - (first_j - kf) * inv_nk)
    if two_sided:
        dist = jnp.maximum(dist, jnp.abs(fit_cdf - (after_j - kf) * inv_nk))
    if below:
        dist = jnp.where(j >= k[None, :], dist, -jnp.inf)
    return jnp.max(dist, axis=0)


def _points(s: _Sorted, at) -> tuple[jax.Array, ...]:
    """The positions ``at`` (static indices or a slice) as comparison points, shaped ``(P, 1)``."""
    j = jnp.arange(s.lx.shape[0])[at]
    return j[:, None], s.lx[at][:, None], s.first[at][:, None], s.after[at][:, None]


def _lb_points(m: int) -> int:
    """Grid size of the lower bound: ~2 sqrt(M), so that few candidates survive it at any M."""
    return int(min(max(_LB_POINTS, round(2 * math.sqrt(m))), 512))


def _lower_bounds(s: _Sorted, shape: jax.Array, bounded: bool, two_sided: bool, last: int | None = None) -> jax.Array:
    """A lower bound on every candidate's ``D`` ``(M,)``: the KS distance over a subset of its tail.

    ``last`` (static): no position after it can be a candidate (the smallest tail allowed); those are
    not bounded (``+inf``), which halves the work when the tail must hold half of the values.

    The subset is a global grid of ``_lb_points(M)`` positions and the last one, plus the first
    ``_LOCAL_POINTS`` points of each tail; all are static slices (no gathers). The candidates are
    cut in ``_LB_BLOCKS`` blocks, each compared only with the grid points at or after its start
    (the rest are not in its tails), which skips most of the grid's lower triangle.

    A float64 spectrum is bounded from below in float32 with the ``fast`` CDFs (twice the SIMD lanes, and
    ``exp`` instead of ``expm1``), minus a per-candidate allowance for the float32 rounding
    (:func:`_float32_slack`), so that the result stays below the exact float64 distance.
    """
    m = s.lx.shape[0]
    dtype = s.lx.dtype
    # float32 counts are exact below 2^24; other dtypes are bounded from below in their own precision with
    # the exact CDFs (the same per-point arithmetic as the exact rounds, up to ``tol``).
    low = jnp.float32 if dtype == jnp.float64 and m < 2**24 else dtype
    fast = low != dtype
    sl = s._replace(
        lx=s.lx.astype(low),
        first=s.first.astype(low),
        after=s.after.astype(low),
        log_xmax=s.log_xmax.astype(low),
    )
    shape_l = shape.astype(low)
    positions = jnp.arange(m)
    stride = max(1, -(-m // _lb_points(m)))
    grid = np.unique(np.append(np.arange(0, m, stride), m - 1))
    end = m if last is None else max(1, min(m, last + 1))  # candidates lie in [0, end)
    edges = sorted({int(min(end, stride * -(-(b * end // _LB_BLOCKS) // stride))) for b in range(_LB_BLOCKS + 1)})
    parts = []
    for c0, c1 in itertools.pairwise(edges):
        at = _points(sl, grid[grid >= c0])
        parts.append(
            _ks_distance(
                sl, positions[c0:c1], sl.lx[c0:c1], shape_l[c0:c1], at, bounded, two_sided, fast=fast
            )
        )
    bound = jnp.concatenate(parts)
    pad = _LOCAL_POINTS

    def shifted(a):  # a[k + i] for i = 1..pad; beyond the end, the last position (the largest value)
        padded = jnp.concatenate([a, jnp.broadcast_to(a[-1:], (pad,))])
        return jnp.stack([padded[i : i + end] for i in range(1, pad + 1)])

    local = (None, shifted(sl.lx), shifted(sl.first), shifted(sl.after))
    local_bound = _ks_distance(
        sl, positions[:end], sl.lx[:end], shape_l[:end], local, bounded, two_sided, below=False, fast=fast
    )
    bound = jnp.maximum(bound, local_bound)
    if fast:
        bound = bound.astype(dtype) - _float32_slack(s, shape, bounded)[:end]
    if end < m:  # beyond the last candidate: nothing to bound
        bound = jnp.concatenate([bound, jnp.full((m - end,), jnp.inf, bound.dtype)])
    return bound


def _float32_slack(s: _Sorted, shape: jax.Array, bounded: bool) -> jax.Array:
    """Allowance ``(M,)`` for ``|dist_32 - dist_64|`` at one point of each candidate's KS distance.

    An error estimate for the bounds' float32 ``fast`` CDFs against the exact float64 ones, term by
    term, then doubled for margin (it assumes float32 ``exp`` within 2 ulp, which XLA does not
    document). With unit round-off ``u`` and ``S = ln(largest/smallest)`` (so ``|ln(x/largest)| <= S``),
    the log distance ``d = ln(x_j/x_k)`` is off by at most ``3uS``. Plain law: ``F = 1 - e^{-bd}``
    moves by at most ``b * 3uS``, plus ``3u`` for ``1 - exp`` and ``4u`` for the empirical CDF
    (exact counts below 2^24) and the difference: ``u(3Sb + 7)``. Bounded, in ``t = d/L``
    (``L = ln(xmax/xmin)``): ``t`` is off by at most ``5uS'/L + 3u`` (``S' = max(S, |ln(xmax/largest)|)``,
    one ``u`` for ``1 - t`` when ``c < 0``); the CDF's slope in ``t`` is at most ``|c| + 1``, in ``c``
    at most 1; ``(1 - e^{-|c|t})/(1 - e^{-|c|})`` adds ``6u/(1 - e^{-|c|})`` and ``1 - g`` one ``u``:
    ``u((|c| + 1)(5S'/L + 3) + |c| + 5 + 6/(1 - e^{-|c|}))``. Checked on 274,000 candidates
    (spectra over 26 decades, alpha up to ~1e4, both KS statistics, bounded and plain): the
    bound stayed at least 1.4e-6 below the exact distance.
    """
    u = float(np.finfo(np.float32).eps) / 2
    span = jnp.abs(s.lx[0])
    if bounded:
        big = jnp.maximum(span, jnp.abs(s.log_xmax))
        c = jnp.abs(shape)
        ratio = jnp.where(c > 0, 6 / -jnp.expm1(-jnp.where(c > 0, c, 1)), 0)
        err = (c + 1) * (5 * big / (s.log_xmax - s.lx) + 3) + c + 5 + ratio
    else:
        err = 3 * span * shape + 7
    return 2 * u * err


def _scan_xmin(
    s: _Sorted, candidate: jax.Array, alpha: jax.Array, shape: jax.Array, recipe: Recipe, bounded: bool
) -> tuple[jax.Array, jax.Array]:
    """Exact ``argmin_k D_k`` over candidates, ties to the smallest ``xmin``; returns ``(D, k)``.

    Branch and bound: :func:`_lower_bounds` bounds each candidate's ``D`` from below; the candidates
    whose bound is at or below the best ``D`` found are then evaluated exactly, ``_ROUND`` per round
    (:mod:`rmtkit.powerlaw.rounds` chooses them: by threshold counts up to ``_ORDERED_FROM`` values, in
    sorted order of the bounds beyond). The answer equals the exhaustive ``O(M^2)`` scan; memory stays
    ``O(M * _lb_points(M))``.
    """
    m = s.xs.shape[0]
    dtype = s.lx.dtype
    lower = _lower_bounds(s, shape, bounded, recipe.two_sided, _last_candidate(m, recipe))
    # A bound that came out NaN (overflow in float32) bounds nothing: such a candidate is evaluated.
    lower = jnp.where(candidate & jnp.isfinite(alpha), jnp.where(jnp.isnan(lower), -jnp.inf, lower), jnp.inf)
    tol = 64 * jnp.finfo(dtype).eps

    def from_start(c, s, ks, lref, shp):  # slices inside the branch: only the one taken runs
        return _ks_distance(s, ks, lref, shp, _points(s, slice(c, None)), bounded, recipe.two_sided)

    def evaluate(ks, real, best_d, best_k, starts):
        # Only points at or after the round's first tail start matter: compare from the last static
        # start at or below it (lax.switch over static slices, no gathers).
        operands = (s, ks, s.lx[ks], shape[ks])
        if len(starts) == 1:
            d = from_start(starts[0], *operands)
        else:
            branch = jnp.sum(jnp.min(ks) >= jnp.asarray(starts[1:]))
            d = lax.switch(branch, [partial(from_start, c) for c in starts], *operands)
        d = jnp.where(real & jnp.isfinite(d), d, jnp.inf)
        d_min = jnp.min(d)
        k_min = jnp.min(jnp.where(d == d_min, ks, m)).astype(jnp.int32)
        better = (d_min < best_d) | ((d_min == best_d) & (k_min < best_k))
        return jnp.where(better, d_min, best_d), jnp.where(better, k_min, best_k)

    starts = sorted({i * m // _EXACT_STARTS for i in range(_EXACT_STARTS)})
    choose = rounds.by_order if m > _ORDERED_FROM else rounds.by_threshold
    return choose(lower, evaluate, min(_ROUND, m), tol, starts)


def _last_candidate(m: int, recipe: Recipe) -> int:
    """No position after this one can start a tail long enough (``n <= m``; ``n - ceil(frac n)`` grows with ``n``)."""
    return m - max(recipe.min_tail, 2, math.ceil(recipe.min_tail_frac * m) - 1)


def _min_tail(n: jax.Array, recipe: Recipe) -> jax.Array:
    frac = jnp.ceil(recipe.min_tail_frac * n).astype(jnp.int32)
    return jnp.maximum(jnp.maximum(recipe.min_tail, frac), 2)


def fit_one(
    x: jax.Array,
    valid: jax.Array,
    xmax_value: jax.Array,
    xmin_value: jax.Array,
    recipe: Recipe,
    presorted: bool = False,
) -> PowerLawFit:
    """Fit one padded spectrum ``x`` ``(M,)`` with validity mask ``valid`` ``(M,)``.

    ``presorted``: the single-spectrum path, whose caller has validated the whole spectrum with
    :func:`~rmtkit._checks.check_eigenvalues` and passes only its usable values, ascending, first;
    the traced status checks (which would see only those values) are skipped.
    """
    bounded = recipe.xmax_mode != "none"
    dtype = x.dtype
    pre = jnp.int32(FitStatus.OK) if presorted else spectrum_status(x, valid)
    s = _prepare(x, valid, xmax_value, recipe, presorted)
    m = x.shape[0]
    positions = jnp.arange(m)
    need = _min_tail(s.n, recipe)

    if recipe.fixed_xmin:
        k = jnp.searchsorted(s.xs, xmin_value, side="left").astype(jnp.int32)
        lref = safe_log(xmin_value) - safe_log(s.xs[jnp.maximum(s.n - 1, 0)])
        alpha, sigma, shape = _tail_exponents(s, k[None], lref[None], bounded)
        d = _ks_distance(s, k[None], lref[None], shape, _points(s, slice(None)), bounded, recipe.two_sided)[
            0
        ]
        n_distinct = jnp.sum((positions >= k) & s.is_first)
        good = (s.n - k >= need) & (n_distinct >= 2) & (xmin_value > 0) & jnp.isfinite(alpha[0])
        if bounded:
            good &= s.log_xmax > lref
        alpha, sigma, xmin = alpha[0], sigma[0], xmin_value.astype(dtype)
    else:
        # Candidates: every distinct value but the two largest, as the reference implementation
        # scans them ([CSN] §3.3 scans all; the top one leaves a one-point tail).
        rank = jnp.cumsum(s.is_first) - 1
        n_distinct = jnp.sum(s.is_first)
        candidate = s.is_first & (rank < n_distinct - 2) & (s.n - positions >= need)
        alphas, sigmas, shapes = _tail_exponents(s, positions, s.lx, bounded)
        d, k = _scan_xmin(s, candidate, alphas, shapes, recipe, bounded)
        kc = jnp.minimum(k, m - 1)
        alpha, sigma, xmin = alphas[kc], sigmas[kc], s.xs[kc]
        good = jnp.isfinite(d)

    status = jnp.where(pre != FitStatus.OK, pre, jnp.int32(FitStatus.OK))
    status = jnp.where((status == FitStatus.OK) & (s.n < 3), jnp.int32(FitStatus.TOO_FEW), status)
    status = jnp.where((status == FitStatus.OK) & ~good, jnp.int32(FitStatus.TAIL_TOO_SHORT), status)
    ok = status == FitStatus.OK
    nan = jnp.array(jnp.nan, dtype)
    return PowerLawFit(
        alpha=jnp.where(ok, alpha, nan),
        xmin=jnp.where(ok, xmin, nan),
        xmax=jnp.where(ok, s.xmax, nan),
        D=jnp.where(ok, d, nan),
        sigma=jnp.where(ok, sigma, nan),
        n_tail=jnp.where(ok, s.n - k, 0).astype(jnp.int32),
        n=s.n.astype(jnp.int32),
        status=status.astype(jnp.int32),
        ks_two_sided=jnp.array(recipe.two_sided),
    )

