"""Power-law tail fits of eigenvalue spectra: the method of [CSN], exact and batched.

A spectrum's tail ``rho(lambda) ~ lambda^-alpha`` for ``lambda >= xmin`` is fitted as in
[CSN] §3: for every candidate ``xmin`` the continuous maximum-likelihood exponent is computed,
and the ``xmin`` whose fit is closest to the data in Kolmogorov-Smirnov distance wins.
[MM-JMLR] fits the empirical spectral density of ``W^T W`` this way, optionally with the
power law truncated at ``xmax = lambda_max``.

References:
    [CSN] A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in empirical
        data", SIAM Review 51(4), 661-703 (2009).
    [MM-JMLR] C. H. Martin, M. W. Mahoney, "Implicit Self-Regularization in Deep Neural
        Networks: Evidence from Random Matrix Theory and Implications for Learning",
        JMLR 22(165), 1-73 (2021).

Design. One spectrum is fitted by :func:`_fit_one` (sorted values, prefix sums of logs for
every candidate's MLE at once, then an exact branch-and-bound search for the minimum-KS
candidate); a batch is ``lax.map``-ped over its rows inside one jitted program.
Goodness of fit (bootstrap p-value, likelihood-ratio tests, bootstrap intervals) lives in
:mod:`rmtkit.powerlaw_gof`.
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
from jax.typing import ArrayLike

from rmtkit._checks import check_eigenvalues, spectrum_status
from rmtkit._safe import safe_div, safe_log
from rmtkit.status import FitStatus

__all__ = ["PowerLawFit", "fit_power_law", "METHODS", "AUTO_SETTINGS"]

#: Tail points sampled per candidate for the cheap lower bound on its KS distance.
_LB_POINTS = 64
#: First points of every tail also used for the lower bound (short tails get it exact).
_LOCAL_POINTS = 16
#: Blocks of candidates in the lower bound, each compared with the grid points from its start on.
_LB_BLOCKS = 4
#: Static start positions the exact rounds choose from (their work shrinks with the tails).
_EXACT_STARTS = 4
#: Cut-offs tried when choosing the candidates of an exact round by their bounds.
_THRESHOLDS = 16
#: Candidates whose KS distance is computed exactly per round of the branch-and-bound.
_ROUND = 32
#: Fixed iteration count of the safeguarded Newton solver for the truncated MLE.
_NEWTON_ITERS = 60

METHODS = ("auto", "csn")

#: Settings of ``method="auto"``, chosen by measured accuracy on Pareto random matrices
#: (``benchmarks/bench_powerlaw.py::default_method_table``); see :func:`fit_power_law`.
AUTO_SETTINGS = {"xmax": "max", "min_tail": (10, 0.5), "drop_top": 0}


class PowerLawFit(NamedTuple):
    """Result of a power-law tail fit (a pytree; every field has the batch shape, ``()`` for one spectrum).

    Attributes:
        alpha: tail exponent, ``rho(x) ~ x^-alpha`` on ``[xmin, xmax]``.
        xmin: lower end of the fitted tail (a data value when scanned).
        xmax: upper end: ``+inf`` for the plain power law, finite for the truncated one.
        D: Kolmogorov-Smirnov distance between the tail and the fit ([CSN] eq. 3.9).
        sigma: standard error of ``alpha``: ``(alpha - 1)/sqrt(n_tail)`` ([CSN] eq. 3.2) for the
            plain law, ``1/sqrt(n_tail * Var[ln x])`` (the Fisher information) when truncated.
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


class _Recipe(NamedTuple):
    """Static (hashable) settings of one fit; every field changes the compiled program."""

    xmax_mode: str  # "none" | "value" | "max"
    two_sided: bool
    min_tail: int
    min_tail_frac: float
    drop_top: int
    fixed_xmin: bool


# ----------------------------------------------------------------------------------------------
# The truncated power law in scaled log coordinates.
#
# With t = ln(x/xmin) / L in [0, 1], L = ln(xmax/xmin) and c = (alpha - 1) L, the truncated
# power law is a truncated exponential in t: density c e^{-ct} / (1 - e^{-c}). Its mean is
# h(c) = 1/c - 1/(e^c - 1) and its variance -h'(c); the MLE solves h(c) = mean(t) (the
# likelihood is an exponential family in c). h(-c) = 1 - h(c), so only c >= 0 is evaluated.
# ----------------------------------------------------------------------------------------------


def _scaled_mean(c: jax.Array) -> jax.Array:
    """``h(c) = 1/c - 1/(e^c - 1)`` for ``c >= 0`` (Bernoulli series near 0, where it cancels)."""
    small = c < 0.5
    cs = jnp.where(small, 1.0, c)
    direct = 1 / cs - 1 / jnp.expm1(cs)
    c2 = c * c
    series = 0.5 - c / 12 + c * c2 / 720 - c * c2 * c2 / 30240 + c * c2**3 / 1209600
    return jnp.where(small, series, direct)


def _scaled_var(c: jax.Array) -> jax.Array:
    """``-h'(c) = 1/c^2 - 1/(4 sinh^2(c/2))``, the variance of ``t``, for ``c >= 0``."""
    small = c < 0.5
    cs = jnp.where(small, 1.0, c)
    direct = 1 / (cs * cs) - 0.25 / jnp.sinh(cs / 2) ** 2
    c2 = c * c
    series = 1 / 12 - c2 / 240 + c2 * c2 / 6048 - c2**3 / 172800
    return jnp.where(small, series, direct)


def _solve_scaled_rate(tau: jax.Array) -> jax.Array:
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
        h = _scaled_mean(c)
        g = 1 / h - target
        lo = jnp.where(g < 0, c, lo)
        hi = jnp.where(g >= 0, c, hi)
        newton = c - g * h * h / _scaled_var(c)
        inside = (newton > lo) & (newton < hi) & jnp.isfinite(newton)
        return lo, hi, jnp.where(inside, newton, 0.5 * (lo + hi))

    zero = jnp.zeros_like(tp)
    _, _, c = lax.fori_loop(0, _NEWTON_ITERS, step, (zero, target, jnp.maximum(target - 2, 0)))
    return jnp.where(flip, -c, c)


def truncated_cdf_scaled(t: jax.Array, c: jax.Array, fast: bool = False) -> jax.Array:
    """CDF of the truncated power law at scaled log position ``t`` in ``[0, 1]`` (any sign of ``c``).

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


def truncated_quantile_scaled(u: jax.Array, c: jax.Array) -> jax.Array:
    """Inverse of :func:`truncated_cdf_scaled` (used to sample truncated power laws)."""
    d = jnp.abs(c)
    dd = jnp.where(d > 0, d, 1)
    s = jnp.where(d > 0, -jnp.log1p(u * jnp.expm1(-dd)) / dd, u)
    return jnp.where(c >= 0, s, 1 - s)


def truncated_alpha(mean_log: ArrayLike, log_range: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Exact MLE of the truncated power law on ``[xmin, xmax]``.

    Args:
        mean_log: mean of ``ln(x/xmin)`` over the tail, shape ``(...)``.
        log_range: ``L = ln(xmax/xmin) > 0``, same shape.

    Returns:
        ``(alpha, fisher)``: the exponent and the per-point Fisher information in ``alpha``,
        ``Var[ln x] = L^2 * (-h'(c))``, so that ``sigma = 1/sqrt(n * fisher)``.
    """
    mean_log, log_range = jnp.asarray(mean_log), jnp.asarray(log_range)
    c = _solve_scaled_rate(mean_log / log_range)
    return 1 + c / log_range, log_range**2 * _scaled_var(jnp.abs(c))


# ----------------------------------------------------------------------------------------------
# One spectrum.
# ----------------------------------------------------------------------------------------------


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
    x: jax.Array, valid: jax.Array, xmax_value: jax.Array, recipe: _Recipe, presorted: bool
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
    s: _Sorted, k: jax.Array, lref: jax.Array, truncated: bool
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """MLE exponent, standard error and KS shape parameter for tails starting at positions ``k``.

    ``sum_{j >= k} ln(x_j/xmin)`` comes from suffix sums of logs (centred at the largest value so
    that short tails, where the sum is small, add few small terms). Returns ``(alpha, sigma, shape)``
    where ``shape`` is ``alpha - 1`` (plain) or ``c = (alpha - 1) L`` (truncated), all of ``k``'s shape.
    """
    suffix = jnp.cumsum(s.lx[::-1])[::-1]
    suffix = jnp.concatenate([suffix, jnp.zeros((1,), s.lx.dtype)])
    nk = (s.n - k).astype(s.lx.dtype)
    sum_log = suffix[k] - nk * lref
    if truncated:
        log_range = s.log_xmax - lref
        tau = safe_div(sum_log, nk * log_range)
        c = _solve_scaled_rate(tau)
        alpha = 1 + c / log_range
        sigma = 1 / jnp.sqrt(nk * log_range**2 * _scaled_var(jnp.abs(c)))
        return alpha, sigma, c
    b = safe_div(nk, sum_log, jnp.inf)  # alpha - 1, [CSN] eq. 3.1
    return 1 + b, b / jnp.sqrt(nk), b


def _ks_distance(
    s: _Sorted,
    k: jax.Array,
    lref: jax.Array,
    shape: jax.Array,
    at: tuple[jax.Array, jax.Array, jax.Array, jax.Array],
    truncated: bool,
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
    for the truncated law at small ``|c|``), for the lower bounds, whose slack covers it.
    """
    j, lxj, first_j, after_j = at
    dtype = s.lx.dtype
    kf = k.astype(dtype)[None, :]
    inv_nk = 1 / jnp.maximum(s.n - k, 1).astype(dtype)[None, :]
    d = lxj - lref[None, :]
    c = shape[None, :]
    if truncated:
        fit_cdf = truncated_cdf_scaled(d / (s.log_xmax - lref)[None, :], c, fast)
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


def _lower_bounds(s: _Sorted, shape: jax.Array, truncated: bool, two_sided: bool) -> jax.Array:
    """A lower bound on every candidate's ``D`` ``(M,)``: the KS distance over a subset of its tail.

    The subset is a global grid of ``_lb_points(M)`` positions and the last one, plus the first
    ``_LOCAL_POINTS`` points of each tail; all are static slices (no gathers). The candidates are
    cut in ``_LB_BLOCKS`` blocks, each compared only with the grid points at or after its start
    (the rest are not in its tails), which skips most of the grid's lower triangle.

    A float64 spectrum is bounded in float32 with the ``fast`` CDFs (twice the SIMD lanes, and
    ``exp`` instead of ``expm1``), minus a per-candidate allowance for the float32 rounding
    (:func:`_float32_slack`), so that the result stays below the exact float64 distance.
    """
    m = s.lx.shape[0]
    dtype = s.lx.dtype
    # float32 counts are exact below 2^24; other dtypes are bounded in their own precision with
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
    edges = sorted({int(min(m, stride * -(-(b * m // _LB_BLOCKS) // stride))) for b in range(_LB_BLOCKS + 1)})
    parts = []
    for c0, c1 in itertools.pairwise(edges):
        at = _points(sl, grid[grid >= c0])
        parts.append(
            _ks_distance(
                sl, positions[c0:c1], sl.lx[c0:c1], shape_l[c0:c1], at, truncated, two_sided, fast=fast
            )
        )
    bound = jnp.concatenate(parts)
    pad = _LOCAL_POINTS

    def shifted(a):  # a[k + i] for i = 1..pad; beyond the end, the last position (the largest value)
        padded = jnp.concatenate([a, jnp.broadcast_to(a[-1:], (pad,))])
        return jnp.stack([padded[i : i + m] for i in range(1, pad + 1)])

    local = (None, shifted(sl.lx), shifted(sl.first), shifted(sl.after))
    local_bound = _ks_distance(
        sl, positions, sl.lx, shape_l, local, truncated, two_sided, below=False, fast=fast
    )
    bound = jnp.maximum(bound, local_bound)
    if not fast:
        return bound
    return bound.astype(dtype) - _float32_slack(s, shape, truncated)


def _float32_slack(s: _Sorted, shape: jax.Array, truncated: bool) -> jax.Array:
    """Allowance ``(M,)`` for ``|dist_32 - dist_64|`` at one point of each candidate's KS distance.

    An error estimate for the bounds' float32 ``fast`` CDFs against the exact float64 ones, term by
    term, then doubled for margin (it assumes float32 ``exp`` within 2 ulp, which XLA does not
    document). With unit round-off ``u`` and ``S = ln(largest/smallest)`` (so ``|ln(x/largest)| <= S``),
    the log distance ``d = ln(x_j/x_k)`` is off by at most ``3uS``. Plain law: ``F = 1 - e^{-bd}``
    moves by at most ``b * 3uS``, plus ``3u`` for ``1 - exp`` and ``4u`` for the empirical CDF
    (exact counts below 2^24) and the difference: ``u(3Sb + 7)``. Truncated, in ``t = d/L``
    (``L = ln(xmax/xmin)``): ``t`` is off by at most ``5uS'/L + 3u`` (``S' = max(S, |ln(xmax/largest)|)``,
    one ``u`` for ``1 - t`` when ``c < 0``); the CDF's slope in ``t`` is at most ``|c| + 1``, in ``c``
    at most 1; ``(1 - e^{-|c|t})/(1 - e^{-|c|})`` adds ``6u/(1 - e^{-|c|})`` and ``1 - g`` one ``u``:
    ``u((|c| + 1)(5S'/L + 3) + |c| + 5 + 6/(1 - e^{-|c|}))``. Checked on 274,000 candidates
    (spectra over 26 decades, alpha up to ~1e4, both KS statistics, truncated and plain): the
    bound stayed at least 1.4e-6 below the exact distance.
    """
    u = float(np.finfo(np.float32).eps) / 2
    span = jnp.abs(s.lx[0])
    if truncated:
        big = jnp.maximum(span, jnp.abs(s.log_xmax))
        c = jnp.abs(shape)
        ratio = jnp.where(c > 0, 6 / -jnp.expm1(-jnp.where(c > 0, c, 1)), 0)
        err = (c + 1) * (5 * big / (s.log_xmax - s.lx) + 3) + c + 5 + ratio
    else:
        err = 3 * span * shape + 7
    return 2 * u * err


def _scan_xmin(
    s: _Sorted, candidate: jax.Array, alpha: jax.Array, shape: jax.Array, recipe: _Recipe, truncated: bool
) -> tuple[jax.Array, jax.Array]:
    """Exact ``argmin_k D_k`` over candidates, ties to the smallest ``xmin``; returns ``(D, k)``.

    Branch and bound: :func:`_lower_bounds` bounds each candidate's ``D`` from below. The
    candidate with the smallest bound is evaluated exactly first; then, while any unevaluated
    candidate's bound is at or below the best ``D`` found, rounds of up to ``_ROUND`` of them
    (those with the smallest bounds, chosen by threshold counts instead of a sort; the first by
    ``xmin`` when no threshold keeps 1 to ``_ROUND``) are evaluated exactly. The answer
    equals the exhaustive ``O(M^2)`` scan; memory stays ``O(M * _lb_points(M))``.
    """
    m = s.xs.shape[0]
    dtype = s.lx.dtype
    lower = _lower_bounds(s, shape, truncated, recipe.two_sided)
    # A bound that came out NaN (overflow in float32) bounds nothing: such a candidate is evaluated.
    lower = jnp.where(candidate & jnp.isfinite(alpha), jnp.where(jnp.isnan(lower), -jnp.inf, lower), jnp.inf)
    tol = 64 * jnp.finfo(dtype).eps
    positions = jnp.arange(m, dtype=jnp.int32)
    starts = sorted({i * m // _EXACT_STARTS for i in range(_EXACT_STARTS)})
    size = min(_ROUND, m)

    def pending(state):
        done, best_d, _ = state
        return ~done & (lower <= best_d + tol)

    def evaluate(state, ks, starts):
        done, best_d, best_k = state
        real = ks < m
        ks = jnp.minimum(ks, m - 1)
        done = done.at[ks].set(True)

        def from_start(c, s, ks, lref, shp):  # slices inside the branch: only the one taken runs
            return _ks_distance(s, ks, lref, shp, _points(s, slice(c, None)), truncated, recipe.two_sided)

        # Only points at or after the first tail start matter: compare from the last static
        # start at or below it (lax.switch over static slices, no gathers).
        operands = (s, ks, s.lx[ks], shape[ks])
        if len(starts) == 1:
            d = from_start(starts[0], *operands)
        else:
            branch = jnp.sum(jnp.min(jnp.where(real, ks, m - 1)) >= jnp.asarray(starts[1:]))
            d = lax.switch(branch, [partial(from_start, c) for c in starts], *operands)
        d = jnp.where(real & jnp.isfinite(d), d, jnp.inf)
        d_min = jnp.min(d)
        k_min = jnp.min(jnp.where(d == d_min, ks, m)).astype(jnp.int32)
        better = (d_min < best_d) | ((d_min == best_d) & (k_min < best_k))
        return done, jnp.where(better, d_min, best_d), jnp.where(better, k_min, best_k)

    def next_round(state):
        # Up to _ROUND pending candidates with the smallest bounds, found without a sort: the
        # largest of _THRESHOLDS cut-offs between the smallest pending bound and the best D that
        # keeps 1 to _ROUND of them (when none does, all of them: then the first by xmin).
        best_d = state[1]
        todo = pending(state)
        top = best_d + tol
        bottom = jnp.clip(jnp.min(jnp.where(todo, lower, jnp.inf)), 0, top)
        cuts = bottom + (top - bottom) * jnp.linspace(1 / _THRESHOLDS, 1, _THRESHOLDS, dtype=dtype)
        counts = jnp.sum(todo[None, :] & (lower[None, :] <= cuts[:, None]), axis=1)
        fits = (counts > 0) & (counts <= size)
        todo &= (lower <= jnp.max(jnp.where(fits, cuts, -jnp.inf))) | ~jnp.any(fits)
        slot = jnp.where(todo, jnp.cumsum(todo) - 1, size)
        return evaluate(state, jnp.full((size,), m, jnp.int32).at[slot].set(positions, mode="drop"), starts)

    lead = jnp.argmin(lower).astype(jnp.int32)  # the smallest bound first: it sets the bar
    init = (lower == jnp.inf, jnp.array(jnp.inf, dtype), jnp.int32(m))
    state = evaluate(init, jnp.where(lower[lead] < jnp.inf, lead, m)[None], [0])
    _, best_d, best_k = lax.while_loop(lambda st: jnp.any(pending(st)), next_round, state)
    return best_d, best_k


def _min_tail(n: jax.Array, recipe: _Recipe) -> jax.Array:
    frac = jnp.ceil(recipe.min_tail_frac * n).astype(jnp.int32)
    return jnp.maximum(jnp.maximum(recipe.min_tail, frac), 2)


def _fit_one(
    x: jax.Array,
    valid: jax.Array,
    xmax_value: jax.Array,
    xmin_value: jax.Array,
    recipe: _Recipe,
    presorted: bool = False,
) -> PowerLawFit:
    """Fit one padded spectrum ``x`` ``(M,)`` with validity mask ``valid`` ``(M,)``.

    ``presorted``: the single-spectrum path, whose caller has validated the whole spectrum with
    :func:`~rmtkit._checks.check_eigenvalues` and passes only its usable values, ascending, first;
    the traced status checks (which would see only those values) are skipped.
    """
    truncated = recipe.xmax_mode != "none"
    dtype = x.dtype
    pre = jnp.int32(FitStatus.OK) if presorted else spectrum_status(x, valid)
    s = _prepare(x, valid, xmax_value, recipe, presorted)
    m = x.shape[0]
    positions = jnp.arange(m)
    need = _min_tail(s.n, recipe)

    if recipe.fixed_xmin:
        k = jnp.searchsorted(s.xs, xmin_value, side="left").astype(jnp.int32)
        lref = safe_log(xmin_value) - safe_log(s.xs[jnp.maximum(s.n - 1, 0)])
        alpha, sigma, shape = _tail_exponents(s, k[None], lref[None], truncated)
        d = _ks_distance(s, k[None], lref[None], shape, _points(s, slice(None)), truncated, recipe.two_sided)[
            0
        ]
        n_distinct = jnp.sum((positions >= k) & s.is_first)
        good = (s.n - k >= need) & (n_distinct >= 2) & (xmin_value > 0) & jnp.isfinite(alpha[0])
        if truncated:
            good &= s.log_xmax > lref
        alpha, sigma, xmin = alpha[0], sigma[0], xmin_value.astype(dtype)
    else:
        # Candidates: every distinct value but the two largest, as the reference implementation
        # scans them ([CSN] §3.3 scans all; the top one leaves a one-point tail).
        rank = jnp.cumsum(s.is_first) - 1
        n_distinct = jnp.sum(s.is_first)
        candidate = s.is_first & (rank < n_distinct - 2) & (s.n - positions >= need)
        alphas, sigmas, shapes = _tail_exponents(s, positions, s.lx, truncated)
        d, k = _scan_xmin(s, candidate, alphas, shapes, recipe, truncated)
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


def _fit_rows_impl(
    x: jax.Array, valid: jax.Array, xmax: jax.Array, xmin: jax.Array, recipe: _Recipe
) -> PowerLawFit:
    """``(R, M)`` padded spectra -> :class:`PowerLawFit` of shape ``(R,)``, in one compiled program.

    Rows run one after another inside the graph (``lax.map``), so memory is that of one row. A
    vmapped batch was measured slower (0.6x of a Python loop for R = 100, M = 1000): under
    ``vmap`` every row pays for the branch-and-bound rounds of the row that needs the most.
    """
    fit = partial(_fit_one, recipe=recipe)
    return lax.map(lambda a: fit(*a), (x, valid, xmax, xmin))


_fit_rows = jax.jit(_fit_rows_impl, static_argnames=("recipe",))


@partial(jax.jit, static_argnames=("recipe",))
def _fit_single(x: jax.Array, xmax: jax.Array, xmin: jax.Array, recipe: _Recipe) -> PowerLawFit:
    """One spectrum -> :class:`PowerLawFit` of scalars.

    ``x`` holds the positive values in range, ascending, then ``+inf`` padding up to its bucketed
    length (:func:`_bucket`), so that spectra of nearby lengths share one compiled program.
    """
    return _fit_one(
        x, jnp.isfinite(x), jnp.asarray(xmax, x.dtype), jnp.asarray(xmin, x.dtype), recipe, presorted=True
    )


def _bucket(m: int) -> int:
    """Padded length for one spectrum of ``m`` values: ``m`` rounded up to 1/8 of its octave (>= 32)."""
    step = 1 << max(2, m.bit_length() - 4)
    return max(32, -(-m // step) * step)


# ----------------------------------------------------------------------------------------------
# Public entry point.
# ----------------------------------------------------------------------------------------------


def _recipe(method: str, xmin, xmax, ks: str, min_tail, drop_top) -> tuple[_Recipe, object]:
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
    recipe = _Recipe(mode, ks == "two_sided", tail_abs, tail_frac, drop_top, xmin is not None)
    return recipe, xmax


def _per_row(value, rows: int, dtype, name: str, given: bool = False) -> jax.Array:
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
    return jnp.asarray(v)


def _in_range(x: np.ndarray, recipe: _Recipe, xmax) -> np.ndarray:
    """The positive values ``<= xmax`` (a number), sorted."""
    if recipe.xmax_mode == "value":
        x = x[x <= xmax]
    return np.sort(x[x > 0])


def _usable_values(x: np.ndarray, recipe: _Recipe, xmax) -> np.ndarray:
    """The sorted values a fit sees: positive, ``<= xmax`` (a number), top ``drop_top`` removed."""
    x = _in_range(x, recipe, xmax)
    return x[: max(x.size - recipe.drop_top, 0)]


def _check_single(x: np.ndarray, recipe: _Recipe, xmin, xmax) -> None:
    """Eager twin of the traced status for one spectrum (xmax already checked): raise with the reason."""
    x = _usable_values(x, recipe, xmax)
    need = max(recipe.min_tail, math.ceil(recipe.min_tail_frac * x.size), 2)
    if x.size < 3:
        raise ValueError(f"x has {x.size} positive values in range; a power-law fit needs at least 3")
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
        raise ValueError(f"x has {distinct.size} distinct positive values; scanning xmin needs at least 3")
    tails = x.size - np.searchsorted(x, distinct[:-2], side="left")
    if not np.any(tails >= need):
        raise ValueError(
            f"no xmin candidate leaves a tail of >= {need} points ({FitStatus.TAIL_TOO_SHORT.reason})"
        )


def fit_power_law(
    x: ArrayLike,
    *,
    xmin: float | ArrayLike | None = None,
    xmax: float | ArrayLike | str | None = None,
    method: str = "auto",
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

    With ``xmax`` the law is truncated, ``p(x) ∝ x^-alpha`` on ``[xmin, xmax]`` ([MM-JMLR] fits
    ESDs with ``xmax = lambda_max``): points above ``xmax`` are discarded (as the reference does),
    ``alpha`` is the exact maximiser of the truncated likelihood (any real ``alpha``), and ``D``
    uses the truncated CDF. (The reference keeps the untruncated closed form for ``alpha`` in
    ``(1.5, 3]`` even with ``xmax``, so only untruncated fits are comparable with it.)

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
        x: one spectrum ``(M,)``, or a padded batch ``(R, M)`` fitted in one jitted call.
        xmin: fix ``xmin`` (scalar, or ``(R,)``) instead of scanning it.
        xmax: ``None`` (plain power law), a number or ``(R,)`` array (truncate there, discarding
            larger values), or ``"max"`` (truncate at each spectrum's largest value).
        method: ``"auto"`` or ``"csn"``.
        ks: ``"one_sided"`` (the reference's ``max_j |F(x_j) - j/n|``) or ``"two_sided"`` (the
            textbook statistic, also comparing with ``(j + 1)/n``).
        min_tail: smallest tail allowed: an int, a fraction of the points, or ``(int, fraction)``
            (the larger wins).
        drop_top: leave out the ``drop_top`` largest values (outlying spikes) before fitting.
        lengths: for 2-D ``x``, number of leading valid entries per row ``(R,)``.
        mask: for 2-D ``x``, boolean ``(R, M)`` of valid entries (alternative to ``lengths``).

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
    recipe, xmax = _recipe(method, xmin, xmax, ks, min_tail, drop_top)
    arr = np.asarray(x)
    if arr.ndim == 1:
        if lengths is not None or mask is not None:
            raise ValueError("lengths= and mask= apply to a 2-D batch of spectra only")
        clean = check_eigenvalues(arr, name="x")
        xmin_f = np.nan if xmin is None else float(xmin)
        xmax_f = np.nan if recipe.xmax_mode != "value" else float(xmax)
        if recipe.xmax_mode == "value" and (not np.isfinite(xmax_f) or xmax_f <= 0):
            raise ValueError(f"xmax must be a positive finite number or 'max', got {xmax}")
        if xmin is not None and (not np.isfinite(xmin_f) or xmin_f <= 0):
            raise ValueError(f"xmin must be a positive finite number, got {xmin}")
        values = _in_range(clean, recipe, xmax_f)  # drop_top is applied in the graph
        padded = np.full(_bucket(clean.size), np.inf, clean.dtype)
        padded[: values.size] = values
        fit = _fit_single(padded, xmax_f, xmin_f, recipe)
        status = int(fit.status)
        if status != FitStatus.OK:  # say why, with the numbers (the eager checks run only here)
            _check_single(clean, recipe, xmin_f, xmax_f)
            raise ValueError(f"x cannot be fitted: {FitStatus(status).reason}")
        return fit
    if arr.ndim != 2:
        raise ValueError(f"x must be 1-D (one spectrum) or 2-D (a padded batch), got shape {arr.shape}")
    xb = jnp.asarray(x)
    if not jnp.issubdtype(xb.dtype, jnp.floating):
        xb = xb.astype(jnp.result_type(float))
    rows, m = xb.shape
    if lengths is not None and mask is not None:
        raise ValueError("give lengths= or mask=, not both")
    if lengths is not None:
        lens = np.asarray(lengths)
        if lens.shape != (rows,):
            raise ValueError(f"lengths must have shape ({rows},), got {lens.shape}")
        valid = jnp.arange(m)[None, :] < jnp.asarray(lens)[:, None]
    elif mask is not None:
        valid = jnp.asarray(mask, bool)
        if valid.shape != xb.shape:
            raise ValueError(f"mask must have the shape of x {xb.shape}, got {valid.shape}")
    else:
        valid = jnp.ones(xb.shape, bool)
    return _fit_rows(
        xb,
        valid,
        _per_row(xmax if recipe.xmax_mode == "value" else np.nan, rows, xb.dtype, "xmax", recipe.xmax_mode == "value"),
        _per_row(np.nan if xmin is None else xmin, rows, xb.dtype, "xmin", xmin is not None),
        recipe,
    )
