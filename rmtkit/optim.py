"""Training controls from power-law exponents: TempBalance and AlphaDecay as optax transformations.

Both transformations keep, per weight matrix of the parameter tree, the power-law exponent
``alpha`` of its empirical spectral density, recompute it every ``every`` steps from the live
parameters, map the exponents linearly (or by rank) onto a range of multipliers, and apply them:

- :func:`temperature_balance` multiplies each matrix's update by its factor in ``[s_min, s_max]``
  (per-layer learning rates, [TB] "TempBalance": smaller steps for heavier-tailed layers);
- :func:`alpha_decay` adds ``weight_decay * r_l * param`` to each matrix's update with ``r_l`` in
  ``[r_min, r_max]`` (per-module decoupled weight decay, [AD] "AlphaDecay": weaker decay for
  heavier-tailed modules).

The definitions (the estimator, the maps, which leaves count as matrices) are in
docs/theory.md#control.

Which leaves are matrices. A leaf of rank 2 is a dense kernel (one matrix). A leaf of rank 4 is a
Flax convolution kernel ``(kh, kw, c_in, c_out)``: ``kh * kw`` matrices ``c_in x c_out`` whose
eigenvalues are pooled (the rule of :mod:`rmtkit.matrices`, with ``conv_layout="flax"``). Every other leaf
(biases, normalisation scales, rank-3 ``DenseGeneral`` kernels) is not balanced; nor is a matrix
whose pooled spectrum has fewer than ``min_evals`` eigenvalues (TempBalance's ``eigs_thresh``, 50),
nor a leaf whose path matches a pattern of ``exclude``. :func:`matrix_leaves` lists every leaf with
its role or the reason it is left alone. Unbalanced leaves get the factor 1 (the base learning
rate; for :func:`alpha_decay` the base weight decay, as the published code treats its "untuned"
parameter group).

Estimators. ``"hill_median"`` (TempBalance's default ``pl_fitting='median'``): the continuous MLE
``alpha = 1 + n / sum_{i >= k} ln(lambda_i / lambda_k)`` with ``xmin = lambda_k``,
``k = floor(M / xmin_pos)`` (the median for ``xmin_pos = 2``) of the ``M`` ascending eigenvalues;
it runs inside the jitted step (eigenvalues of ``W^T W``: on CPU a host callback to LAPACK on one
BLAS thread at the refresh steps only, elsewhere XLA's eigensolver; :func:`rmtkit.spectra.leaf_spectra`). ``"csn"``: rmtkit's
:func:`~rmtkit.fit_power_law` (the [CSN] scan of ``xmin``). Its public entry point validates and
buckets the spectrum on the host with NumPy, so it cannot take traced arrays: the transformation
calls it through :func:`jax.pure_callback` (LAPACK eigenvalues, then the fit), inside a
``lax.cond`` that runs only at the refresh steps. The two estimators see the same spectra
(``lambda = s^2``, not divided by ``N``; every estimator here is scale-free, so the choice does not
change ``alpha``).

References:
    [TB] Y. Zhou, T. Pang, K. Liu, C. H. Martin, M. W. Mahoney, Y. Yang, "Temperature Balancing,
        Layer-wise Weight Analysis, and Neural Network Training", NeurIPS 2023 (public code:
        github.com/YefanZhou/TempBalance).
    [AD] D. He, S. Tu, A. Jaiswal, L. Shen, G. Yuan, S. Liu, L. Yin, "AlphaDecay: Module-wise
        Weight Decay for Heavy-Tailed Balancing in LLMs", arXiv:2506.14562 (2025) (public code:
        github.com/hed-ucas/AlphaDecay).
    [CSN] A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in empirical data",
        SIAM Review 51(4), 661-703 (2009).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from rmtkit._safe import safe_div
from rmtkit.matrices import CONTROL_KINDS, CONTROL_MIN_EVALS, matrix_kind, path_name, stack_shape, too_few
from rmtkit.powerlaw import ESTIMATORS as _REGISTRY
from rmtkit.powerlaw import hill_median_alpha
from rmtkit.spectra import host_leaf_spectra, leaf_spectra

__all__ = [
    "DEFAULT_MIN_EVALS",
    "ESTIMATORS",
    "MAPS",
    "ExponentState",
    "alpha_decay",
    "exponent_factors",
    "hill_median_alpha",
    "layer_exponents",
    "leaf_path",
    "matrix_leaves",
    "temperature_balance",
]

#: Exponent estimators: the names of :data:`rmtkit.powerlaw.ESTIMATORS` (``"hill_median"``, ``"csn"``).
ESTIMATORS = tuple(_REGISTRY)
#: Maps from exponents to multipliers: ``"linear"`` (TempBalance's ``tb_linear_map``, AlphaDecay's
#: default) and ``"rank"`` (TempBalance's ``tb_step``).
MAPS = ("linear", "rank")
#: TempBalance's ``eigs_thresh``: matrices with fewer pooled eigenvalues are not balanced (:mod:`rmtkit.matrices`).
DEFAULT_MIN_EVALS = CONTROL_MIN_EVALS


class ExponentState(NamedTuple):
    """State of :func:`temperature_balance` and :func:`alpha_decay` (a pytree; save it like any optax state).

    Attributes:
        count: steps seen (int32 scalar); the exponents are refreshed when ``count % every == 0``.
        exponents: a tree like the parameters with one float32 scalar per leaf: the exponent of a
            balanced matrix, NaN for every other leaf (and for a matrix whose fit failed).
        factors: a tree like the parameters with the multiplier in force per leaf (1 where NaN).
    """

    count: jax.Array
    exponents: Any
    factors: Any


# ----------------------------------------------------------------------------------------------
# Leaves, spectra and exponents.
# ----------------------------------------------------------------------------------------------


def leaf_path(path: tuple) -> str:
    """A tree path as ``"fc1/kernel"`` (the names of its keys joined by ``/``), the form ``exclude`` matches."""
    return path_name(path, "/", drop_value=False)


def _skip_reason(path: str, shape: tuple[int, ...], min_evals: int, exclude: Sequence[str]) -> str | None:
    """Why a leaf is not balanced, or None when it is."""
    if any(fnmatch.fnmatchcase(path, pattern) for pattern in exclude):
        return "excluded by pattern"
    kind = matrix_kind(path, len(shape), CONTROL_KINDS)
    if kind is None:
        return f"rank {len(shape)}: not a matrix (only rank-2 kernels and rank-4 conv kernels are)"
    k, rows, cols = stack_shape(path, shape, kind, "flax")
    return too_few(k, min(rows, cols), min_evals, pooled=True)


def matrix_leaves(params: Any, *, min_evals: int = DEFAULT_MIN_EVALS, exclude: Sequence[str] = ()) -> dict[str, str]:
    """Every leaf's path and role: ``"balanced"`` or the reason it is left at factor 1.

    >>> import numpy as np
    >>> matrix_leaves({"fc": {"kernel": np.ones((784, 64)), "bias": np.ones(64)}})
    {'fc/bias': 'rank 1: not a matrix (only rank-2 kernels and rank-4 conv kernels are)', 'fc/kernel': 'balanced'}
    """
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    out = {}
    for path, leaf in leaves:
        name = leaf_path(path)
        out[name] = _skip_reason(name, tuple(np.shape(leaf)), min_evals, tuple(exclude)) or "balanced"
    return out


def _host_alphas(alpha, fit_kwargs: dict, *mats: np.ndarray) -> np.ndarray:
    """Host side of an estimator that is not traced (``"csn"``): LAPACK eigenvalues, then ``alpha`` per leaf."""
    out = np.full(len(mats), np.nan, np.float32)
    for i, ev in enumerate(host_leaf_spectra(*mats)):
        try:
            out[i] = alpha(ev, **fit_kwargs)
        except ValueError:  # a spectrum the fit refuses (or NaN weights): NaN, i.e. factor 1 for this leaf
            pass
    return out


def layer_exponents(
    params: Any,
    *,
    estimator: str = "hill_median",
    xmin_pos: int = 2,
    min_evals: int = DEFAULT_MIN_EVALS,
    exclude: Sequence[str] = (),
    fit_kwargs: dict | None = None,
) -> Any:
    """The exponent of every balanced matrix of ``params``: a tree like ``params`` of float32 scalars (NaN elsewhere).

    Traceable (``"csn"`` through :func:`jax.pure_callback`). See :func:`matrix_leaves` for the rule.

    Args:
        params: a parameter tree (Flax NNX ``nnx.State`` of arrays, Linen ``{"params": ...}``, any pytree).
        estimator: a name of :data:`ESTIMATORS` (``"csn"``: ``fit_power_law(**fit_kwargs)``, ``method="auto"``).
        xmin_pos: the Hill estimator's ``xmin`` sits at index ``M // xmin_pos`` of the ascending spectrum.
        min_evals: matrices with fewer pooled eigenvalues are not balanced.
        exclude: ``fnmatch`` patterns on leaf paths (``"conv1/*"``) left out.
        fit_kwargs: keyword arguments of :func:`rmtkit.fit_power_law` for ``"csn"``.
    """
    if estimator not in _REGISTRY:
        raise ValueError(f"estimator must be one of {tuple(_REGISTRY)}, got {estimator!r}")
    if not isinstance(xmin_pos, int) or xmin_pos < 1:
        raise ValueError(f"xmin_pos must be an int >= 1, got {xmin_pos!r}")
    exclude = tuple(exclude)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    balanced = [i for i, (path, leaf) in enumerate(leaves)
                if _skip_reason(leaf_path(path), tuple(jnp.shape(leaf)), min_evals, exclude) is None]
    alphas = [jnp.array(jnp.nan, jnp.float32)] * len(leaves)
    chosen = _REGISTRY[estimator]
    if chosen.traced:
        mats = []
        for i in balanced:
            leaf = jnp.asarray(leaves[i][1])
            mats.append(leaf.astype(jnp.promote_types(leaf.dtype, jnp.float32)))
        for i, ev in zip(balanced, leaf_spectra(mats) if mats else [], strict=True):
            alphas[i] = chosen.alpha(ev, xmin_pos).astype(jnp.float32)
    elif balanced:
        kwargs = dict(fit_kwargs or {})
        host = jax.pure_callback(
            lambda *mats: _host_alphas(chosen.alpha, kwargs, *mats),
            jax.ShapeDtypeStruct((len(balanced),), jnp.float32),
            *[leaves[i][1] for i in balanced],
        )
        for j, i in enumerate(balanced):
            alphas[i] = host[j]
    return jax.tree_util.tree_unflatten(treedef, alphas)


def exponent_factors(exponents: Any, lo: float, hi: float, map: str = "linear") -> Any:
    """Multipliers in ``[lo, hi]`` from exponents (a tree of scalars; NaN leaves get 1).

    ``"linear"`` ([TB] ``tb_linear_map``, [AD]): ``f = lo + (hi - lo) (alpha - alpha_min) / (alpha_max - alpha_min)``
    over the finite exponents, so the heaviest-tailed matrix gets ``lo`` and the lightest ``hi``; when all
    finite exponents are equal every one gets ``(lo + hi) / 2`` (the published ``np.interp`` over a
    zero-width range returns ``hi``, an artefact we do not copy). ``"rank"`` ([TB] ``tb_step``):
    ``f = lo + (hi - lo) r / n`` with ``r`` the rank ``0..n-1`` of ``alpha`` among the ``n`` finite
    exponents (ties in tree order), so the largest gets ``lo + (hi - lo)(n - 1)/n``, not ``hi``.
    Traceable.

    >>> f = exponent_factors({"a": 2.0, "b": 3.0, "c": 6.0, "d": float("nan")}, 0.5, 1.5)
    >>> {k: float(v) for k, v in f.items()}
    {'a': 0.5, 'b': 0.75, 'c': 1.5, 'd': 1.0}
    """
    if map not in MAPS:
        raise ValueError(f"map must be one of {MAPS}, got {map!r}")
    leaves, treedef = jax.tree_util.tree_flatten(exponents)
    if not leaves:
        return exponents
    a = jnp.stack([jnp.asarray(x, jnp.float32).reshape(()) for x in leaves])
    ok = jnp.isfinite(a)
    n = jnp.sum(ok)
    if map == "linear":
        amin = jnp.min(jnp.where(ok, a, jnp.inf))
        amax = jnp.max(jnp.where(ok, a, -jnp.inf))
        width = amax - amin
        t = jnp.where(width > 0, safe_div(a - amin, width, 0.5), 0.5)
    else:
        idx = jnp.arange(a.shape[0])
        below = (a[None, :] < a[:, None]) | ((a[None, :] == a[:, None]) & (idx[None, :] < idx[:, None]))
        rank = jnp.sum(below & ok[None, :], axis=1)
        t = safe_div(rank.astype(jnp.float32), n.astype(jnp.float32), 0.0)
    f = jnp.where(ok, lo + (hi - lo) * t, 1.0).astype(jnp.float32)
    return jax.tree_util.tree_unflatten(treedef, list(f))


# ----------------------------------------------------------------------------------------------
# The transformations.
# ----------------------------------------------------------------------------------------------


def _check(every: int, lo: float, hi: float, names: tuple[str, str], map: str, estimator: str) -> None:
    if not isinstance(every, int | np.integer) or every < 1:
        raise ValueError(f"every must be an int >= 1, got {every!r}")
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo <= hi):
        raise ValueError(f"need 0 <= {names[0]} <= {names[1]} (finite), got {lo}, {hi}")
    if map not in MAPS:
        raise ValueError(f"map must be one of {MAPS}, got {map!r}")
    if estimator not in _REGISTRY:
        raise ValueError(f"estimator must be one of {tuple(_REGISTRY)}, got {estimator!r}")


def _schedule(every: int, lo: float, hi: float, map: str, measure: Callable[[Any], Any]):
    """``init`` and ``refresh(state, params) -> state`` of the exponent state shared by both transformations."""

    def from_params(params):
        exps = measure(params)
        return exps, exponent_factors(exps, lo, hi, map)

    def init(params):
        exps, factors = from_params(params)
        return ExponentState(jnp.zeros((), jnp.int32), exps, factors)

    def refresh(state, params):
        if params is None:
            raise ValueError("this transformation needs params: call update(updates, state, params)")
        exps, factors = lax.cond(
            state.count % every == 0,
            lambda p: from_params(p),
            lambda p: (state.exponents, state.factors),
            params,
        )
        return ExponentState(state.count + 1, exps, factors)

    return init, refresh


def temperature_balance(
    every: int,
    *,
    s_min: float = 0.5,
    s_max: float = 1.5,
    map: str = "linear",
    estimator: str = "hill_median",
    xmin_pos: int = 2,
    min_evals: int = DEFAULT_MIN_EVALS,
    exclude: Sequence[str] = (),
    fit_kwargs: dict | None = None,
) -> optax.GradientTransformation:
    """TempBalance [TB]: each matrix's update times a factor in ``[s_min, s_max]`` mapped from its exponent.

    The exponents are computed from the parameters at the steps ``0, every, 2 every, ...`` (inside the
    jitted update) and held in between; [TB] refreshes them once per epoch. Place it where the
    learning rate acts on the update, e.g. ``optax.chain(optax.sgd(lr, momentum=0.9),
    temperature_balance(steps_per_epoch))`` (the factor then plays the per-layer learning rate
    ``f_l * lr`` of [TB]'s parameter groups). Leaves that are not balanced keep factor 1
    (:func:`matrix_leaves`). [TB]'s defaults: ``s_min=0.5, s_max=1.5``, ``map="linear"``,
    ``estimator="hill_median"``, ``min_evals=50``; [TB] also leaves out the first and the last layer
    (pass their paths in ``exclude``) and gives a BatchNorm layer its convolution's factor (not done here:
    normalisation parameters keep factor 1).

    Args:
        every: refresh period in steps (``K``; one epoch in [TB]).
        s_min, s_max: the factor range ([TB] ``lr_min_ratio``, ``lr_max_ratio``).
        map: ``"linear"`` or ``"rank"`` (:func:`exponent_factors`).
        estimator, xmin_pos, min_evals, exclude, fit_kwargs: see :func:`layer_exponents`.

    Returns:
        An ``optax.GradientTransformation`` whose state is :class:`ExponentState`; ``update`` needs ``params``.
    """
    _check(every, s_min, s_max, ("s_min", "s_max"), map, estimator)

    def measure(params):
        return layer_exponents(params, estimator=estimator, xmin_pos=xmin_pos, min_evals=min_evals,
                               exclude=exclude, fit_kwargs=fit_kwargs)

    init, refresh = _schedule(int(every), s_min, s_max, map, measure)

    def update(updates, state, params=None):
        state = refresh(state, params)
        updates = jax.tree.map(lambda u, f: u * f.astype(u.dtype), updates, state.factors)
        return updates, state

    return optax.GradientTransformation(init, update)


def alpha_decay(
    weight_decay: float,
    every: int,
    *,
    r_min: float = 2 / 3,
    r_max: float = 5.0,
    map: str = "linear",
    estimator: str = "hill_median",
    xmin_pos: int = 2,
    min_evals: int = DEFAULT_MIN_EVALS,
    exclude: Sequence[str] = (),
    fit_kwargs: dict | None = None,
) -> optax.GradientTransformation:
    """AlphaDecay [AD]: decoupled weight decay ``weight_decay * r_l`` per matrix, ``r_l`` in ``[r_min, r_max]`` from its exponent.

    Adds ``weight_decay * r_l * param`` to the update (like ``optax.add_decayed_weights``), so put it
    before the learning rate: ``optax.chain(optax.scale_by_adam(), alpha_decay(0.1, 500),
    optax.scale_by_learning_rate(lr))`` is [AD]'s AdamW. Heavier-tailed matrices (smaller ``alpha``)
    are decayed less. Leaves that are not balanced are decayed at ``weight_decay`` (``r = 1``), as the
    published code treats its untuned parameter group; wrap in ``optax.masked`` to leave some out.
    Defaults from [AD]'s published LLaMA scripts: ``r_min=2/3`` (0.6666), ``r_max=5``, linear map,
    Hill estimator at the median, refreshed every 500 steps there.

    Args:
        weight_decay: the base coefficient (AdamW's ``weight_decay``).
        every: refresh period in steps.
        r_min, r_max: the ratio range ([AD] ``wd_min_ratio``, ``wd_max_ratio``).
        map, estimator, xmin_pos, min_evals, exclude, fit_kwargs: as :func:`temperature_balance`.
    """
    _check(every, r_min, r_max, ("r_min", "r_max"), map, estimator)
    if not (np.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")

    def measure(params):
        return layer_exponents(params, estimator=estimator, xmin_pos=xmin_pos, min_evals=min_evals,
                               exclude=exclude, fit_kwargs=fit_kwargs)

    init, refresh = _schedule(int(every), r_min, r_max, map, measure)

    def update(updates, state, params=None):
        state = refresh(state, params)
        updates = jax.tree.map(lambda u, p, f: u + (weight_decay * f.astype(u.dtype)) * p,
                               updates, params, state.factors)
        return updates, state

    return optax.GradientTransformation(init, update)
