"""Magnitude pruning of a parameter tree, with layer-wise sparsities allocated from power-law exponents.

Three allocations of one overall sparsity ``S`` over the prunable matrices (docs/theory.md#control):

- ``"alpha"``: AlphaPruning [AP]: layers with larger exponents (lighter tails, less trained
  structure) are pruned more. Raw ratios ``r_l = (1 - eps) + 2 eps (alpha_l - alpha_min) /
  (alpha_max - alpha_min)`` are scaled by one constant so that the parameter-weighted mean
  sparsity is ``S``: ``s_l = S r_l sum_l n_l / sum_l n_l r_l``;
- ``"uniform"``: ``s_l = S`` in every layer;
- ``"global"``: one magnitude threshold over all prunable entries together.

Within a layer the ``k_l`` entries of smallest ``|w|`` are set to 0 (ties by position). Counts are
whole numbers chosen so that the total pruned is exactly ``round(S * sum_l n_l)``: the per-layer
targets ``s_l n_l`` are floored and the remainder goes to the largest fractional parts. A layer whose
AlphaPruning target exceeds ``max_sparsity`` is held there and the others are rescaled so that the
total stays ``S`` (the published code does not cap; with ``eps <= 0.3`` and ``S <= 0.9`` on the models
here the cap is rarely reached, and :class:`PruneResult` reports the sparsities used).

Prunable leaves are the balanced matrices of :func:`rmtkit.optim.matrix_leaves` (rank-2 kernels and
rank-4 Flax conv kernels with at least ``min_evals`` pooled eigenvalues, not excluded); everything
else (biases, normalisation, small first/last layers) stays dense.

References:
    [AP] H. Lu, Y. Zhou, S. Liu, Z. Wang, M. W. Mahoney, Y. Yang, "AlphaPruning: Using Heavy-Tailed
        Self Regularization Theory for Improved Layer-wise Pruning of Large Language Models",
        NeurIPS 2024 (public code: github.com/haiquanlu/AlphaPruning).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from rmtkit.optim import DEFAULT_MIN_EVALS, layer_exponents, leaf_path, matrix_leaves

__all__ = ["ALLOCATIONS", "PruneResult", "alpha_sparsities", "exact_counts", "prune_magnitude"]

ALLOCATIONS = ("alpha", "uniform", "global")


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune_magnitude` did.

    Attributes:
        params: the pruned tree (same structure; NumPy leaves).
        masks: ``{path: bool array}``, True where an entry was kept, for each prunable leaf.
        sparsity: ``{path: fraction pruned}`` per prunable leaf.
        exponents: ``{path: alpha}`` used by ``"alpha"`` (empty otherwise).
        overall: pruned entries / prunable entries (equals ``round(S * total) / total``).
        skipped: ``{path: reason}`` for every leaf left dense.
    """

    params: Any
    masks: dict[str, np.ndarray]
    sparsity: dict[str, float]
    exponents: dict[str, float]
    overall: float
    skipped: dict[str, str]


def alpha_sparsities(
    exponents: Mapping[str, float],
    sizes: Mapping[str, int],
    sparsity: float,
    *,
    epsilon: float = 0.3,
    max_sparsity: float = 1.0,
) -> dict[str, float]:
    """AlphaPruning's layer-wise sparsities [AP]: the linear map of exponents, scaled to the overall ``sparsity``.

    ``r_l = (1 - epsilon) + 2 epsilon (alpha_l - alpha_min) / (alpha_max - alpha_min)`` (all 1 when
    the exponents are equal), ``s_l = c r_l`` with ``c`` such that ``sum n_l s_l = sparsity * sum n_l``.
    A layer without a finite exponent (its fit failed: an all-zero matrix, NaN weights) gets ``r_l = 1``,
    the factor 1 the optax transforms give such a leaf; the map runs over the finite exponents.
    Layers whose ``s_l`` would exceed ``max_sparsity`` are set to it and ``c`` is solved again over the others.

    >>> s = alpha_sparsities({"a": 2.0, "b": 4.0}, {"a": 100, "b": 100}, 0.5, epsilon=0.2)
    >>> {k: round(v, 6) for k, v in s.items()}
    {'a': 0.4, 'b': 0.6}
    """
    names = list(exponents)
    if set(names) != set(sizes):
        raise ValueError(f"exponents and sizes must name the same layers, got {sorted(names)} and {sorted(sizes)}")
    if not names:
        raise ValueError("no layers to allocate")
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if not 0 <= epsilon < 1:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
    if not sparsity <= max_sparsity <= 1:
        raise ValueError(f"max_sparsity must be in [sparsity, 1], got {max_sparsity}")
    a = np.array([float(exponents[k]) for k in names])
    finite = np.isfinite(a)  # a leaf whose fit failed (all-zero, NaN weights) gets ratio 1, as the optax transforms
    n = np.array([float(sizes[k]) for k in names])
    lo, hi = (a[finite].min(), a[finite].max()) if finite.any() else (0.0, 0.0)
    width = hi - lo
    with np.errstate(invalid="ignore"):
        t = (a - lo) / width if width > 0 else np.full_like(a, 0.5)
    r = np.where(finite, (1 - epsilon) + 2 * epsilon * t, 1.0)
    capped = np.zeros(len(names), bool)
    s = np.zeros(len(names))
    for _ in range(len(names)):  # each pass caps at least one more layer or ends
        budget = sparsity * n.sum() - max_sparsity * n[capped].sum()
        free = ~capped
        s = np.where(capped, max_sparsity, r * budget / np.sum(n[free] * r[free]))
        over = free & (s > max_sparsity)
        if not over.any():
            break
        capped |= over
    return dict(zip(names, s.tolist(), strict=True))


def exact_counts(sparsities: Mapping[str, float], sizes: Mapping[str, int], sparsity: float) -> dict[str, int]:
    """Whole numbers of entries to prune per layer, summing to exactly ``round(sparsity * sum(sizes))``.

    Floors of ``s_l n_l``, then one more for the layers with the largest fractional parts (ties in
    order) until the total is reached; no layer gets more than its size.

    >>> exact_counts({"a": 0.5, "b": 0.5}, {"a": 3, "b": 3}, 0.5)
    {'a': 2, 'b': 1}
    """
    names = list(sizes)
    n = np.array([int(sizes[k]) for k in names])
    target = np.array([float(sparsities[k]) for k in names]) * n
    counts = np.minimum(np.floor(target + 1e-9).astype(np.int64), n)
    want = int(round(sparsity * n.sum()))
    missing = want - int(counts.sum())
    if missing < 0:
        raise ValueError(f"the layer sparsities prune {counts.sum()} entries, more than {want}")
    order = np.argsort(-(target - counts), kind="stable")
    for i in order:
        if missing == 0:
            break
        if counts[i] < n[i]:
            counts[i] += 1
            missing -= 1
    if missing:
        raise ValueError(f"cannot prune {want} of {n.sum()} entries")
    return dict(zip(names, counts.tolist(), strict=True))


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` smallest entries of a flat array (ties by position)."""
    keep = np.ones(values.size, bool)
    if k:
        keep[np.argsort(values, kind="stable")[:k]] = False
    return keep


def prune_magnitude(
    params: Any,
    sparsity: float,
    *,
    allocation: str = "alpha",
    exponents: Mapping[str, float] | None = None,
    epsilon: float = 0.3,
    max_sparsity: float = 1.0,
    estimator: str = "hill_median",
    min_evals: int = DEFAULT_MIN_EVALS,
    exclude: Sequence[str] = (),
) -> PruneResult:
    """Set the smallest-magnitude entries of the prunable matrices to 0, ``sparsity`` of them overall.

    Args:
        params: a parameter tree (Flax NNX state of arrays, Linen params, any pytree of arrays).
        sparsity: the fraction of prunable entries to remove, in ``[0, 1)``.
        allocation: ``"alpha"`` (AlphaPruning), ``"uniform"`` or ``"global"`` (module docstring).
        exponents: ``{path: alpha}`` for ``"alpha"``; by default computed with ``estimator``
            (:func:`rmtkit.optim.layer_exponents`; AlphaPruning's own default metric places ``xmin``
            at the ESD's peak, which rmtkit does not implement).
        epsilon: AlphaPruning's range parameter (its default 0.3).
        max_sparsity: cap on a layer's sparsity under ``"alpha"``.
        estimator, min_evals, exclude: which leaves are prunable and how exponents are fitted.

    Returns:
        :class:`PruneResult`.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}")
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    roles = matrix_leaves(params, min_evals=min_evals, exclude=exclude)
    prunable = [k for k, v in roles.items() if v == "balanced"]
    if not prunable:
        raise ValueError("no prunable matrix in params (see rmtkit.optim.matrix_leaves)")
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    arrays = {leaf_path(p): np.asarray(x) for p, x in leaves}
    sizes = {k: arrays[k].size for k in prunable}
    used: dict[str, float] = {}
    if allocation == "global":
        flat = np.concatenate([np.abs(arrays[k]).reshape(-1) for k in prunable])
        keep = _smallest(flat, int(round(sparsity * flat.size)))
        bounds = np.cumsum([0] + [sizes[k] for k in prunable])
        masks = {k: keep[bounds[i]:bounds[i + 1]].reshape(arrays[k].shape) for i, k in enumerate(prunable)}
    else:
        if allocation == "alpha":
            if exponents is None:
                fitted = layer_exponents(params, estimator=estimator, min_evals=min_evals, exclude=exclude)
                exponents = {leaf_path(p): float(x) for p, x in jax.tree_util.tree_flatten_with_path(fitted)[0]}
            used = {k: float(exponents[k]) for k in prunable}
            target = alpha_sparsities(used, sizes, sparsity, epsilon=epsilon, max_sparsity=max_sparsity)
        else:
            target = dict.fromkeys(prunable, sparsity)
        counts = exact_counts(target, sizes, sparsity)
        masks = {k: _smallest(np.abs(arrays[k]).reshape(-1), counts[k]).reshape(arrays[k].shape) for k in prunable}
    pruned = [np.where(masks[leaf_path(p)], arrays[leaf_path(p)], 0).astype(arrays[leaf_path(p)].dtype)
              if leaf_path(p) in masks else arrays[leaf_path(p)] for p, _ in leaves]
    removed = sum(int((~m).sum()) for m in masks.values())
    return PruneResult(
        params=jax.tree_util.tree_unflatten(treedef, pruned),
        masks=masks,
        sparsity={k: float((~m).sum() / m.size) for k, m in masks.items()},
        exponents=used,
        overall=removed / sum(sizes.values()),
        skipped={k: v for k, v in roles.items() if v != "balanced"},
    )
