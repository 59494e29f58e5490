"""The Marchenko-Pastur law, its finite-size edge, spikes (BBP), and an automatic robust fit.

Conventions ([MM-JMLR] §3; docs/theory.md#spectra, #marchenko-pastur): ``W`` is ``N x M`` with ``N >= M``, ``q = N / M >= 1``,
and the eigenvalues are those of ``X = W^T W / N``. For iid entries of variance ``sigma**2`` the
eigenvalue density is

    rho(x) = q / (2 pi sigma^2 x) * sqrt((l+ - x)(x - l-)),   l+- = sigma^2 (1 +- 1/sqrt(q))^2.

If the spectrum was computed without the ``1/N`` (``lambda = s^2``, the WeightWatcher and [MPM-NC]
convention), every formula still holds with ``sigma`` replaced by ``sqrt(N) * sigma``: the fit then
returns that effective ``sigma``. All functions here follow the dtype of their inputs.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtkit import executables
from rmtkit._checks import MIN_EIGENVALUES, check_eigenvalues, check_q, spectrum_status
from rmtkit.batch import as_float, reject_batch_arguments, staged, valid_mask
from rmtkit.status import FitStatus

#: Default outlier threshold in Tracy-Widom units: ``lambda > l+ + TW_FACTOR * tracy_widom_scale``.
#: For a pure Gaussian matrix P(TW1 > 3) is about 1e-3 per matrix, so false spikes are rare, while
#: spikes at a few times the BBP threshold sit many TW units above the edge.
TW_FACTOR = 3.0


def pooled_tw_factor(tw_factor: ArrayLike, pooled: ArrayLike) -> jnp.ndarray:
    """The outlier margin for the largest of ``pooled`` independent matrices' edges, in Tracy-Widom units.

    The eigenvalues of ``k`` independent random matrices pooled into one ESD (the slices of a conv
    kernel, the layers of several seeds) have ``k`` independent top eigenvalues, so a margin of
    ``tw_factor`` widths, exceeded by one matrix with probability ``p``, is exceeded by the pooled
    ESD with probability about ``k p``. The TW1 law's right tail falls like ``exp(-(2/3) s^(3/2))``
    (Tracy and Widom 1996); the margin with the same false-alarm rate as one matrix is therefore
    ``(tw_factor^(3/2) + (3/2) ln k)^(2/3)``: 3.60 for ``k = 3``, 4.16 for 9 (3x3), 4.65 for 25 (5x5).
    """
    tw = as_float(tw_factor, jnp)
    return (tw**1.5 + 1.5 * jnp.log(jnp.maximum(as_float(pooled, jnp), 1))) ** (2 / 3)
_INV_PHI = (math.sqrt(5) - 1) / 2  # golden-section ratio


def marchenko_pastur_edges(q: ArrayLike, sigma: ArrayLike = 1.0) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Bulk edges ``(lambda_minus, lambda_plus) = sigma^2 (1 -+ 1/sqrt(q))^2`` ([MM-JMLR] Eq. 9)."""
    q, sigma = as_float(q, jnp), as_float(sigma, jnp)
    r = 1 / jnp.sqrt(q)
    s2 = sigma**2
    return s2 * (1 - r) ** 2, s2 * (1 + r) ** 2


def marchenko_pastur_pdf(x: ArrayLike, q: ArrayLike, sigma: ArrayLike = 1.0) -> jnp.ndarray:
    """Density ``rho(x)`` of the MP law ([MM-JMLR] Eq. 8); zero outside ``[l-, l+]``. Broadcasts."""
    x = as_float(x, jnp)
    q, s2 = as_float(q, jnp), as_float(sigma, jnp) ** 2
    lo, hi = marchenko_pastur_edges(q, sigma)
    inside = (x > lo) & (x < hi)
    root = jnp.sqrt(jnp.where(inside, (hi - x) * (x - lo), 0))
    return jnp.where(inside, q * root / (2 * jnp.pi * s2 * jnp.where(inside, x, 1)), 0)


def marchenko_pastur_cdf(x: ArrayLike, q: ArrayLike, sigma: ArrayLike = 1.0) -> jnp.ndarray:
    """Closed-form cumulative distribution function of the MP law. Broadcasts.

    With ``y = 1/q``, edges ``a, b = (1 -+ sqrt y)^2`` and ``t = x / sigma^2 = (1 + y) - 2 sqrt(y) cos(theta)``,

        F = [(1 + y) theta + 2 sqrt(y) sin(theta) - 2 (1 - y) arctan(sqrt(b/a) tan(theta/2))] / (2 pi y),

    obtained by integrating the density with that substitution (``theta = 2 arctan(sin / (1 + cos))``;
    at ``q = 1``, where ``a = 0``, the second arctan's argument is ``+inf``, giving ``pi / 2``). Plain
    ``arctan`` is ~1.3x cheaper than ``arctan2`` or ``arccos`` on CPU, and the fits evaluate this a lot.
    """
    x = as_float(x, jnp)
    q, s2 = as_float(q, jnp), as_float(sigma, jnp) ** 2
    y = 1 / q
    sy = jnp.sqrt(y)
    a, b = (1 - sy) ** 2, (1 + sy) ** 2
    h = 2 * sy
    t = x / s2
    cos_t = jnp.clip((1 + y - t) / h, -1, 1)
    sin_t = jnp.sqrt(jnp.clip(1 - cos_t**2, 0, 1))
    below, above = cos_t >= 1, cos_t <= -1  # t <= a, t >= b (decided after rounding: no 0/0 below)
    inside = ~(below | above)
    sin_t = jnp.where(inside & (sin_t > 0), sin_t, 1)
    theta = 2 * jnp.arctan(sin_t / (1 + jnp.where(inside, cos_t, 0)))
    half = jnp.arctan(jnp.sqrt(b) * (1 - cos_t) / (jnp.sqrt(a) * sin_t))
    f = ((1 + y) * theta + h * sin_t - 2 * (1 - y) * half) / (2 * jnp.pi * y)
    return jnp.where(below, 0, jnp.where(above, 1, jnp.clip(f, 0, 1)))


def marchenko_pastur_quantile(p: ArrayLike, q: ArrayLike, sigma: ArrayLike = 1.0, *, n_iter: int = 64) -> jnp.ndarray:
    """Inverse cdf by bisection on ``[l-, l+]`` (``n_iter`` halvings: 64 reach float64 resolution)."""
    p = as_float(p, jnp)
    q, sigma = as_float(q, jnp), as_float(sigma, jnp)
    lo, hi = marchenko_pastur_edges(q, sigma)
    lo, hi = jnp.broadcast_arrays(lo + 0 * p, hi + 0 * p)

    def step(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        below = marchenko_pastur_cdf(mid, q, sigma) < p
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, n_iter, step, (lo, hi))
    return 0.5 * (lo + hi)


def marchenko_pastur_moment(k: int, q: ArrayLike, sigma: ArrayLike = 1.0) -> jnp.ndarray:
    """``E[lambda^k]`` of the MP law: ``sigma^(2k) sum_r y^r / (r+1) C(k, r) C(k-1, r)`` (Narayana numbers)."""
    if k < 0 or int(k) != k:
        raise ValueError(f"moment order k must be a non-negative integer, got {k}")
    y = 1 / as_float(q, jnp)
    s2 = as_float(sigma, jnp) ** 2
    if k == 0:
        return jnp.ones_like(y * s2)
    total = sum(math.comb(k, r) * math.comb(k - 1, r) / (r + 1) * y**r for r in range(k))
    return s2**k * total


def marchenko_pastur_sample(
    key: jax.Array, shape: tuple[int, ...], q: ArrayLike, sigma: ArrayLike = 1.0, *, dtype=None
) -> jnp.ndarray:
    """Independent draws from the MP law by inverse-cdf sampling (not the eigenvalues of one matrix)."""
    dtype = dtype or as_float(sigma, jnp).dtype
    u = jax.random.uniform(key, shape, dtype)
    return marchenko_pastur_quantile(u, q, sigma)


def tracy_widom_scale(q: ArrayLike, m: ArrayLike, sigma: ArrayLike = 1.0) -> jnp.ndarray:
    """Scale of the largest-eigenvalue fluctuations at the bulk edge (docs/theory.md#marchenko-pastur).

    ``Delta_TW = sigma^2 q^(-1/2) (l+ / sigma^2)^(2/3) M^(-2/3)``; this equals Johnstone's (2001)
    Tracy-Widom scale for Wishart matrices divided by ``N``, to leading order.
    """
    q, m, s2 = as_float(q, jnp), as_float(m, jnp), as_float(sigma, jnp) ** 2
    _, plus = marchenko_pastur_edges(q)
    return s2 * plus ** (2 / 3) * m ** (-2 / 3) / jnp.sqrt(q)


def bbp_threshold(q: ArrayLike) -> jnp.ndarray:
    """Signal strength ``S = q^(-1/4)`` above which a rank-1 spike separates from the bulk (Baik-Ben Arous-Peche)."""
    return as_float(q, jnp) ** -0.25


def spike_position(strength: ArrayLike, q: ArrayLike, sigma: ArrayLike = 1.0) -> jnp.ndarray:
    """Limit position of a spike of strength ``S``: ``sigma^2 (1/q + S^2)(1 + 1/S^2)`` above the BBP threshold, else ``l+``.

    The model is ``W = sigma (G + sqrt(N) S u v^T)`` with unit vectors ``u, v`` (Benaych-Georges and
    Nadakuditi 2012; docs/theory.md#marchenko-pastur), as generated by :func:`rmtkit.ensembles.spiked`.
    """
    s, q, s2 = as_float(strength, jnp), as_float(q, jnp), as_float(sigma, jnp) ** 2
    _, plus = marchenko_pastur_edges(q, sigma)
    pos = s2 * (1 / q + s**2) * (1 + 1 / jnp.where(s > 0, s, 1) ** 2)
    return jnp.where(s > bbp_threshold(q), pos, plus)


class MPFit(NamedTuple):
    """Result of :func:`fit_marchenko_pastur`; every field is an array (batched fits add a leading axis).

    Attributes:
        sigma: fitted entry scale (in the units of the eigenvalue convention used).
        lambda_minus, lambda_plus: fitted bulk edges.
        threshold: ``lambda_plus + tw_factor * tracy_widom_scale``: eigenvalues above it are spikes.
        num_spikes: number of eigenvalues above ``threshold``.
        num_bulk: number of eigenvalues the bulk fit used.
        D: KS distance between the bulk's empirical cdf and the fitted MP cdf.
        status: :class:`~rmtkit.status.FitStatus` code; the numbers are NaN unless it is ``OK``.
    """

    sigma: jnp.ndarray
    lambda_minus: jnp.ndarray
    lambda_plus: jnp.ndarray
    threshold: jnp.ndarray
    num_spikes: jnp.ndarray
    num_bulk: jnp.ndarray
    D: jnp.ndarray
    status: jnp.ndarray


def _ks_distance(x: jnp.ndarray, bulk: jnp.ndarray, q: jnp.ndarray, s2: jnp.ndarray) -> jnp.ndarray:
    """KS distance between the sorted bulk prefix of ``x`` (mask ``bulk``) and MP(q, sqrt(s2)); ``s2`` may be a grid ``(G, 1)``."""
    nb = bulk.sum()
    i = jnp.arange(x.shape[-1], dtype=x.dtype)
    f = marchenko_pastur_cdf(x, q, jnp.sqrt(s2))
    gap = jnp.maximum(f - i / nb, (i + 1) / nb - f)
    return jnp.max(jnp.where(bulk, gap, 0), axis=-1)


def _fit_sorted(x, valid, q, pooled, *, tw_factor, n_iter, n_grid, n_refine):
    """Fit one ascending-sorted spectrum (padding at the end, ``valid`` a prefix mask) of ``pooled`` matrices."""
    dtype = x.dtype
    status = spectrum_status(x, valid, q)
    n = valid.sum()
    xs = jnp.where(valid, jnp.where(jnp.isfinite(x), x, 0), 0)
    xs = jnp.maximum(xs, 0)
    q = jnp.where((status == FitStatus.BAD_Q) | ~jnp.isfinite(q), 1, q).astype(dtype)
    # The edge fluctuates on the scale of one matrix's M, with the margin of the largest of ``pooled`` edges.
    pooled = jnp.maximum(pooled, 1).astype(dtype)
    m = jnp.maximum(n / pooled, 1).astype(dtype)
    tw_factor = pooled_tw_factor(jnp.asarray(tw_factor, dtype), pooled)

    # Robust start: match the median (spikes shift it by O(k / M) ranks); fall back to the mean
    # when more than half the spectrum is zero (rank collapse).
    median = 0.5 * (xs[jnp.maximum(n - 1, 0) // 2] + xs[n // 2])
    mean = xs.sum() / m
    s2 = jnp.where(median > 0, median / marchenko_pastur_quantile(0.5, q), mean)
    s2 = jnp.where(s2 > 0, s2, 1).astype(dtype)

    def threshold(s2):
        _, plus = marchenko_pastur_edges(q, jnp.sqrt(s2))
        return plus + tw_factor * tracy_widom_scale(q, m, jnp.sqrt(s2))

    def refit(s2):
        # Exclude outliers beyond the current edge + TW, then fit sigma^2 to the remaining bulk
        # by minimising the KS distance.
        bulk = valid & (xs <= threshold(s2))
        # The search runs in float32 on eigenvalues scaled by the current estimate, over
        # u = log(sigma^2 / estimate): a coarse grid of ``n_grid`` points on [-log 4, log 4], then
        # ``n_refine`` golden-section steps inside the best grid cell (resolution ~1e-4 in u, far
        # coarser than float32's; float32 transcendentals are cheaper than float64 ones on CPU).
        x32, q32 = (xs / s2).astype(jnp.float32), q.astype(jnp.float32)

        def dist(u):
            return _ks_distance(x32, bulk, q32, jnp.exp(u)[..., None])

        step = 2 * jnp.log(jnp.float32(4.0)) / (n_grid - 1)
        grid = step * (jnp.arange(n_grid, dtype=jnp.float32) - (n_grid - 1) / 2)
        best = grid[jnp.argmin(dist(grid))]
        lo, hi = best - step, best + step
        u1, u2 = hi - _INV_PHI * (hi - lo), lo + _INV_PHI * (hi - lo)
        d1, d2 = dist(u1), dist(u2)

        def golden(_, state):
            lo, hi, u1, u2, d1, d2 = state
            left = d1 <= d2  # the minimum is in [lo, u2]
            lo, hi = jnp.where(left, lo, u1), jnp.where(left, u2, hi)
            u_new = jnp.where(left, hi - _INV_PHI * (hi - lo), lo + _INV_PHI * (hi - lo))
            d_new = dist(u_new)
            return (lo, hi, jnp.where(left, u_new, u2), jnp.where(left, u1, u_new),
                    jnp.where(left, d_new, d2), jnp.where(left, d1, d_new))

        _, _, u1, u2, d1, d2 = jax.lax.fori_loop(0, n_refine, golden, (lo, hi, u1, u2, d1, d2))
        center = jnp.where(d1 <= d2, u1, u2).astype(dtype)
        return jnp.where(bulk.sum() >= MIN_EIGENVALUES, s2 * jnp.exp(center), s2)

    s2 = jax.lax.fori_loop(0, n_iter, lambda _, s2: refit(s2), s2)
    thr = threshold(s2)
    bulk = valid & (xs <= thr)
    minus, plus = marchenko_pastur_edges(q, jnp.sqrt(s2))
    ok = status == FitStatus.OK
    nan = jnp.asarray(jnp.nan, dtype)
    return MPFit(
        sigma=jnp.where(ok, jnp.sqrt(s2), nan),
        lambda_minus=jnp.where(ok, minus, nan),
        lambda_plus=jnp.where(ok, plus, nan),
        threshold=jnp.where(ok, thr, nan),
        num_spikes=jnp.where(ok, (valid & (xs > thr)).sum(), -1).astype(jnp.int32),
        num_bulk=jnp.where(ok, bulk.sum(), -1).astype(jnp.int32),
        D=jnp.where(ok, _ks_distance(xs, bulk, q, s2), nan),
        status=status,
    )


@functools.partial(jax.jit, static_argnames=("tw_factor", "n_iter", "n_grid", "n_refine"))
def _fit_batch(evals, valid, q, pooled, *, tw_factor, n_iter, n_grid, n_refine):
    # Sort each row with padding (and non-finite values) moved to the end, keeping the mask aligned.
    key = jnp.where(valid & ~jnp.isnan(evals), evals, jnp.inf)
    order = jnp.lexsort((key, ~valid), axis=-1)
    x = jnp.take_along_axis(evals, order, axis=-1)
    valid = jnp.arange(evals.shape[-1]) < valid.sum(-1, keepdims=True)
    fit = functools.partial(_fit_sorted, tw_factor=tw_factor, n_iter=n_iter, n_grid=n_grid, n_refine=n_refine)
    return jax.vmap(fit)(x, valid, q, pooled)


def fit_marchenko_pastur(
    evals: ArrayLike,
    q: ArrayLike,
    *,
    lengths: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    pooled: ArrayLike = 1,
    tw_factor: float = TW_FACTOR,
    n_iter: int = 3,
    n_grid: int = 13,
    n_refine: int = 20,
) -> MPFit:
    """Fit the MP law to a spectrum, excluding spikes automatically.

    The fit is fully automatic ([MM-JMLR] §3.1 tuned the spike count by hand; this does not):
    start from the median-matched ``sigma`` (robust to outliers), then ``n_iter`` times (a) mark as
    spikes the eigenvalues above ``l+ + tw_factor * Delta_TW`` and (b) refit ``sigma`` to the
    remaining bulk by minimising the Kolmogorov-Smirnov distance ``D`` between the bulk's
    empirical cdf and the MP cdf (a grid of ``n_grid`` points in ``log sigma^2`` over a factor 4
    either way, then ``n_refine`` golden-section steps in the best grid cell).

    Args:
        evals: ``(M,)`` one spectrum, or ``(B, M)`` a padded batch of spectra (the convention of
            :mod:`rmtkit.batch`).
        q: aspect ratio ``N / M >= 1``: a scalar, or ``(B,)`` for a batch.
        lengths: for a batch, ``(B,)`` number of valid entries at the start of each row.
        mask: for a batch, ``(B, M)`` bool, true on valid entries (instead of ``lengths``).
        pooled: number of independent matrices whose eigenvalues a spectrum pools (scalar or
            ``(B,)``; 1: one matrix). A conv kernel's ESD pools its ``kh * kw`` slices. The
            Tracy-Widom scale is then that of one matrix (``M = n / pooled``) and the margin that of
            the largest of ``pooled`` edges (:func:`pooled_tw_factor`).
        tw_factor: outlier threshold in Tracy-Widom units (for one matrix).
        n_iter, n_grid, n_refine: spike-exclusion rounds, grid points and golden-section steps per round.

    Returns:
        :class:`MPFit`. A 1-D input is validated first and raises ``ValueError`` naming the
        problem (NaN/Inf, empty, fewer than 3 values, negative eigenvalues, all equal, ``q < 1``);
        a 2-D batch never raises for bad rows but reports them in ``status`` with NaN numbers.

    >>> import jax, rmtkit
    >>> w = rmtkit.ensembles.gaussian(jax.random.key(0), 1000, 500)
    >>> fit = rmtkit.fit_marchenko_pastur(rmtkit.eigenvalues(w), q=2.0)
    >>> round(float(fit.sigma), 2), int(fit.num_spikes)
    (1.0, 0)
    """
    kwargs = _check_knobs(tw_factor, n_iter, n_grid, n_refine)
    if np.ndim(evals) == 1:
        reject_batch_arguments(lengths, mask)
        x = check_eigenvalues(evals, name="evals")
        qf = check_q(q)
        x = jnp.asarray(x, as_float(evals, jnp).dtype)
        k = _check_pooled(pooled, 1, x.dtype)
        fit = _fit_batch(x[None], jnp.ones((1, x.shape[0]), bool), jnp.asarray([qf], x.dtype), k, **kwargs)
        return jax.tree.map(lambda a: a[0], fit)
    if np.ndim(evals) != 2:
        raise ValueError(f"evals must be 1-D (one spectrum) or 2-D (a batch), got shape {np.shape(evals)}")
    x = staged(evals)
    # host inputs stay on the host (the compiled fit takes them as they are); traced ones stay traced
    xp = jnp if isinstance(x, jax.Array) or isinstance(q, jax.core.Tracer) else np
    valid = xp.asarray(valid_mask(x.shape, lengths=lengths, mask=mask))
    qs = xp.broadcast_to(xp.asarray(q, x.dtype), x.shape[:1])
    return executables.call(_fit_batch, x, valid, qs, _check_pooled(pooled, x.shape[0], x.dtype), **kwargs)


def _check_pooled(pooled: ArrayLike, b: int, dtype) -> np.ndarray:
    """``pooled`` as a ``(b,)`` array of matrix counts >= 1, or a ``ValueError``."""
    k = np.asarray(pooled, float)
    if k.ndim > 1 or (k.ndim == 1 and k.shape[0] != b) or not np.all(np.isfinite(k)) or np.any(k < 1) \
            or np.any(k != np.round(k)):
        raise ValueError(f"pooled must be a count >= 1 of matrices per spectrum (a scalar or one per row, {b} "
                         f"rows), got {pooled!r}")
    return np.broadcast_to(k, (b,)).astype(dtype)


def _check_knobs(tw_factor, n_iter, n_grid, n_refine) -> dict:
    """The fit's settings as static Python numbers, or a ``ValueError`` naming the bad one."""

    def integer(name, value, low):
        if isinstance(value, bool) or not float(value).is_integer() or int(value) < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        return int(value)

    try:
        tw = float(tw_factor)
    except (TypeError, ValueError):
        raise ValueError(f"tw_factor must be a number, got {tw_factor!r}") from None
    if not np.isfinite(tw) or tw < 0:
        raise ValueError(f"tw_factor must be finite and >= 0 (Tracy-Widom units above the edge), got {tw_factor!r}")
    try:
        # n_grid >= 2: the grid spans [-log 4, log 4] in steps of 2 log 4 / (n_grid - 1).
        return dict(tw_factor=tw, n_iter=integer("n_iter", n_iter, 0), n_grid=integer("n_grid", n_grid, 2),
                    n_refine=integer("n_refine", n_refine, 0))
    except (TypeError, OverflowError):
        raise ValueError(f"n_iter, n_grid and n_refine must be integers, got {n_iter!r}, {n_grid!r}, {n_refine!r}") from None

