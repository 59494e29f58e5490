"""What a spectrum can tell: the resolution of eigenvalues at the precision of the stored weights and of the eigensolver.

A fit is only as good as the digits it reads. Two sources of error limit which eigenvalues of
``W^T W`` are told apart:

- the **storage** of ``W``: rounding every entry to a dtype of machine epsilon ``eps_s`` (float32,
  bfloat16, float16, float8) is a perturbation ``E`` of ``W``. Its entries are at most ``eps_s / 2``
  relative and behave as independent noise, so ``||E||_2 ~ eps_s rms(W) (sqrt(N) + sqrt(M)) / sqrt(12)``
  (Bai-Yin edge of a noise matrix). Weyl's inequality moves every singular value by at most
  ``||E||_2``; in units of ``s_max``

      r_storage = eps_s sqrt(mean(lambda) / lambda_max) (1 + sqrt(M / N)),

  which keeps a margin of about 4 (measured: orthogonal 400 x 200, 200 x 200, 1000 x 100 and
  3000 x 1000 matrices rounded to float32, bfloat16 and float16 spread their singular values by
  0.14-0.30 of it);
- the **eigensolver** on the Gram matrix: ``eigvalsh(W^T W)`` leaves an absolute error of about
  ``M eps_c lambda_max`` on every eigenvalue (``eps_c`` of the compute dtype), i.e. singular values
  below ``sqrt(M eps_c) s_max`` are not resolved (:func:`rmtkit.metrics.gram_rtol`).

From these: a spectrum whose singular values all agree within the resolution is **degenerate**
(an orthogonal matrix: nothing to fit); eigenvalues below the resolution are **null** (set to 0:
the fits use the non-null part); eigenvalues that differ by less than the eigensolver's round-off,
or whose singular values differ by less than ``r_storage s_max`` (where the storage resolves the mean
spacing ``s_max / M`` a hundred times over: float32 and wider), are **ties** and are merged
(singular values 1..10 each repeated 20 times must give the power law of the exact values, not
alpha ~ 1e15 fitted on the round-off between copies; stored in float32, 1..8 each 30 times, the
rounding spreads the top copies far beyond the eigensolver's round-off, and only the storage
rule merges them).
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

#: Ties and degeneracy at the eigensolver's precision: values within ``TIE_FACTOR * M eps_c lambda_max``
#: are equal (the measured round-off of ``eigvalsh(W^T W)`` on tied values stays below ``M eps_c lambda_max``).
TIE_FACTOR = 8


def machine_epsilon(dtype) -> float:
    """Machine epsilon of a float dtype by name or dtype (bfloat16 and float8 included); float64's for anything else."""
    try:
        return float(ml_dtypes.finfo(np.dtype(dtype)).eps)
    except (TypeError, ValueError):
        return float(np.finfo(np.float64).eps)


def storage_rtol(evals: np.ndarray, n: int, m: int, storage_dtype) -> float:
    """``r_storage``: singular values closer than this fraction of ``s_max`` are not resolved by the stored ``W``.

    Args:
        evals: ``(L,)`` eigenvalues of ``W^T W`` (either convention; only ratios are used), ``L = k M`` for
            ``k`` pooled ``N x M`` matrices.
        n, m: the shape of one matrix, ``N >= M``.
        storage_dtype: dtype the weights were stored in.
    """
    top = float(np.max(evals))
    if not top > 0:
        return 0.0
    return machine_epsilon(storage_dtype) * float(np.sqrt(np.mean(evals) / top)) * (1 + np.sqrt(m / n))


def solver_rtol(num_evals: int, n: int, m: int, compute_dtype) -> float:
    """Singular-value ratio the Gram eigensolver resolves: ``max(max(N, M) eps_c, sqrt(num_evals eps_c))``.

    The same tolerance as :func:`rmtkit.metrics.gram_rtol`, in host floats.
    """
    eps = machine_epsilon(compute_dtype)
    return max(max(n, m) * eps, float(np.sqrt(num_evals * eps)))


@dataclass(frozen=True)
class ResolvedSpectrum:
    """A spectrum reduced to what its data resolve (:func:`resolve_spectrum`).

    Attributes:
        evals: ``(L,)`` ascending; null eigenvalues set to exactly 0, ties replaced by their mean.
        num_null: eigenvalues below the resolution (at the start of ``evals``).
        num_tied: eigenvalues moved to merge ties (0 when none).
        degenerate: the non-null singular values all agree within the resolution.
        rtol: singular-value ratio (of ``s_max``) below which an eigenvalue is null.
        storage_rtol: the part of ``rtol`` due to the stored dtype (``r_storage``).
        tie_rtol: eigenvalues closer than this fraction of ``lambda_max`` are ties (eigensolver round-off).
        spread: ``1 - s_min / s_max`` over the non-null part (0 when fewer than 2 values).
    """

    evals: np.ndarray
    num_null: int
    num_tied: int
    degenerate: bool
    rtol: float
    storage_rtol: float
    tie_rtol: float
    spread: float

    @property
    def num_nonnull(self) -> int:
        return int(self.evals.size - self.num_null)


#: The storage tie rule applies when ``r_storage M`` is below this (see :func:`resolve_spectrum`).
STORAGE_TIE_SPACING = 0.01


def merge_ties(x: np.ndarray, tol: float, by: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Replace every run of ascending ``x`` that spans at most ``tol`` by its mean; return it and the values moved.

    Runs start at their smallest value and take every next value within ``tol`` of that start, so a
    run never spans more than ``tol`` however densely the values lie. ``by`` (ascending, like ``x``):
    runs are measured on ``by`` instead (e.g. the singular values of eigenvalues ``x``), means taken on ``x``.
    """
    key = x if by is None else by
    if x.size < 2 or not tol > 0:
        return x, 0
    close = np.diff(key) <= tol
    if not close.any():
        return x, 0
    out, moved, i = x.copy(), 0, 0
    for start in np.flatnonzero(close):  # key[start + 1] - key[start] <= tol
        if start < i:
            continue
        end = start
        while end + 1 < x.size and key[end + 1] - key[start] <= tol:
            end += 1
        out[start : end + 1] = x[start : end + 1].mean()
        moved += int(np.count_nonzero(x[start : end + 1] != out[start]))
        i = end + 1
    return out, moved


def resolve_spectrum(evals: np.ndarray, *, n: int, m: int, storage_dtype, compute_dtype) -> ResolvedSpectrum:
    """Nulls, ties and degeneracy of one spectrum at the precision of the stored weights and of the eigensolver.

    Args:
        evals: ``(L,)`` ascending non-negative eigenvalues with ``max > 0`` (``L = k M``, ``k`` pooled matrices).
        n, m: shape of one matrix, ``N >= M``.
        storage_dtype: dtype ``W`` was stored in (e.g. ``"float32"``, ``"bfloat16"``).
        compute_dtype: dtype of the eigensolver.

    Returns:
        :class:`ResolvedSpectrum`.
    """
    x = np.asarray(evals, dtype=np.result_type(evals, np.float32))
    top = float(x[-1])
    r_store = storage_rtol(x, n, m, storage_dtype)
    rtol = max(solver_rtol(x.size, n, m, compute_dtype), r_store)
    null = np.sqrt(np.clip(x / top, 0, None)) <= rtol
    num_null = int(null.sum())
    x = np.where(null, 0, x)
    nonnull = x[num_null:]
    tie_tol = TIE_FACTOR * x.size * machine_epsilon(compute_dtype) * top
    # Ties at the stored precision: rounding W moves every singular value by at most r_storage s_max
    # (Weyl), so singular values closer than that are not told apart by the stored weights. Judged on
    # the singular values (the perturbation is the same there at every position, the top included).
    # Only where the storage resolves the spectrum's mean spacing (s_max / M) a hundred times over
    # (r_storage M < 0.01: float32 and wider): in bf16 or float16 the rounding is coarser than the
    # spacing of distinct singular values, the rule would merge them, and the stored matrix is
    # analysed as it is (its spectrum equals that of its float64 copy).
    storage_ties = r_store * x.size < STORAGE_TIE_SPACING
    merged = merge_ties(nonnull, r_store, by=np.sqrt(nonnull / top))[0] if storage_ties else nonnull
    merged, _ = merge_ties(merged, tie_tol)
    moved = int(np.count_nonzero(merged != nonnull))
    x = np.concatenate([x[:num_null], merged])
    spread = float(1 - np.sqrt(nonnull[0] / top)) if nonnull.size > 1 else 0.0
    degenerate = nonnull.size > 1 and (spread <= r_store or top - nonnull[0] <= tie_tol)
    return ResolvedSpectrum(x, num_null, moved, bool(degenerate), rtol, r_store, tie_tol / top, spread)
