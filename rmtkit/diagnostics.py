"""Further per-layer diagnostics: SETOL's det X = 1 condition, eigenvector localization, correlation traps.

Definitions in docs/theory.md#comparisons and #det-x, #further-diagnostics:

- :func:`detx`: the ERG condition of SETOL (Martin & Hinrichs 2025): the number of largest
  eigenvalues of the trace-normalised ``X`` whose log-determinant sums to zero, and how far the
  eigenvalue where that tail starts lies from the power-law ``xmin``;
- :func:`localization`: participation ratios of the top eigenvectors of ``W^T W`` against a
  uniformly random unit vector's;
- :func:`correlation_traps`: singular values of the elementwise-shuffled ``W`` above its
  Marchenko-Pastur edge (plus Tracy-Widom margin), each mapped back to the entry of ``W`` that makes it
  ([MM-JMLR] §6 on randomized layers; seeded, reproducible).

:func:`layer_extras` gives the ``vectors`` / ``traps`` columns of one layer (what ``analyze(vectors=True,
traps=True)`` adds); :func:`rmtkit.extra.analyze_extra` computes them for every layer of a model.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from rmtkit.columns import VECTOR_COLUMNS
from rmtkit.marchenko_pastur import tracy_widom_scale


class DetX(NamedTuple):
    """The det X = 1 tail: ``num`` eigenvalues from ``lam`` up; ``gap = log10(xmin / lam)`` when ``xmin`` was given."""

    num: int
    lam: float
    gap: float


def detx(evals: Any, xmin: float | None = None) -> DetX:
    """SETOL's ERG condition det X = 1 on one spectrum (Martin & Hinrichs 2025; docs/theory.md#det-x).

    The eigenvalues are scaled to mean 1 (``M lambda / sum(lambda)``, so that ``det X`` is measured
    against the identity); with them sorted largest first, ``num`` is the smallest ``k`` at which the
    partial log-determinant ``sum_{i <= k} log lambda_(i)`` is no longer positive: the tail whose
    determinant has come back down to 1. ``lam`` is the smallest eigenvalue of that tail, in the
    input's units.

    Args:
        evals: ``(M,)`` eigenvalues of ``W^T W`` (any convention; zeros allowed).
        xmin: the power-law fit's ``xmin`` (same units), for ``gap = log10(xmin) - log10(lam)``:
            0 when the two tails start at the same eigenvalue, > 0 when the det X = 1 tail is longer.

    Returns:
        :class:`DetX`; ``num = 0`` and NaN numbers when all eigenvalues are equal (det X = 1 for any k).
    """
    ev = np.sort(np.asarray(evals, np.float64).ravel())[::-1]
    total = ev.sum()
    if ev.size == 0 or total <= 0 or ev[0] == ev[-1]:
        return DetX(0, float("nan"), float("nan"))
    with np.errstate(divide="ignore"):
        partial = np.cumsum(np.log(ev * (ev.size / total)))
    k = int(np.argmax(partial <= 0)) + 1  # exists: by Jensen, the full sum is <= 0 unless all are equal
    lam = float(ev[k - 1])
    gap = float(np.log10(xmin) - np.log10(lam)) if xmin is not None and np.isfinite(xmin) and xmin > 0 and lam > 0 \
        else float("nan")
    return DetX(k, lam, gap)


def participation_ratio(vectors: Any) -> np.ndarray:
    """``(sum_i v_i^2)^2 / sum_i v_i^4`` per column: ~1 for a vector on one coordinate, ``M`` for a flat one."""
    v = np.asarray(vectors, np.float64)
    return (v**2).sum(0) ** 2 / (v**4).sum(0)


def localization(w: Any, k: int = 10) -> tuple[float, float, float]:
    """Participation ratio of the top-``k`` eigenvectors of ``W^T W`` against a random unit vector's.

    A uniformly random unit vector in ``R^M`` has ``E[sum v_i^4] = 3 / (M + 2)``, so its
    participation ratio is about ``(M + 2) / 3``. Returns ``(mean PR of the top k, (M + 2) / 3,
    their ratio)``: a ratio near 1 is delocalized like noise; well below 1, the leading directions
    sit on a few input coordinates.

    Args:
        w: ``(N, M)`` or ``(k, N, M)`` matrices with ``N >= M`` (conv slices are pooled: the top
            ``k`` of every slice).
        k: eigenvectors per matrix (at most ``M``).
    """
    mats = np.asarray(w, np.float64)
    mats = mats.reshape((-1,) + mats.shape[-2:])
    prs = []
    for x in mats:
        _, vecs = np.linalg.eigh(x.T @ x)
        prs.append(participation_ratio(vecs[:, -min(k, x.shape[1]):]))
    m = mats.shape[-1]
    pr, random = float(np.mean(np.concatenate(prs))), (m + 2) / 3
    return pr, random, pr / random


@dataclass(frozen=True)
class Trap:
    """One correlation trap: the singular value ``s`` of the shuffled matrix, its edge, and the entry it maps back to.

    ``entry`` indexes the original tensor (for a 2-D tensor its ``(row, col)``; else the ``(slice,
    row, col)`` of the layer's ``(k, N, M)`` matrices); ``value`` is ``W`` there.
    """

    s: float
    edge: float
    entry: tuple[int, ...]
    value: float


def correlation_traps(w: Any, *, seed: int, margin: float = 3.0, transposed: bool = False) -> list[Trap]:
    """Rank-1 outliers of the elementwise-shuffled ``W``, mapped back to the entry of ``W`` behind each.

    Shuffling the entries of ``W`` (a permutation drawn from ``numpy.random.default_rng(seed)``)
    destroys every correlation between rows and columns; what is left is an i.i.d. matrix whose
    singular values squared, over ``N``, follow the MP law with ``sigma^2`` the entries' variance
    (mean removed) and edge ``l+ = sigma^2 (1 + 1/sqrt(q))^2``. A singular value ``s`` with
    ``s^2 / N > l+ + margin * Delta_TW`` (Tracy-Widom scale) cannot come from such a matrix: it is
    carried by a few very large entries. Its singular vectors are then concentrated; the entry
    ``(argmax |u|, argmax |v|)`` of the shuffled matrix is mapped back through the permutation.

    Args:
        w: ``(N, M)`` or ``(k, N, M)`` with ``N >= M``; slices are shuffled separately.
        seed: the shuffle's seed (explicit: the same seed gives the same traps).
        margin: Tracy-Widom scales above the edge.
        transposed: ``w`` is the stored 2-D tensor transposed (then entries are given as ``(col, row)``
            of ``w``, i.e. the stored tensor's ``(row, col)``).

    Returns:
        The traps, largest ``s`` first.
    """
    mats = np.asarray(w, np.float64)
    single = mats.ndim == 2
    mats = mats.reshape((-1,) + mats.shape[-2:])
    rng = np.random.default_rng(seed)
    n, m = mats.shape[-2:]
    q = n / m
    found = []
    for k, x in enumerate(mats):
        perm = rng.permutation(x.size)
        shuffled = x.reshape(-1)[perm].reshape(n, m)
        centred = shuffled - shuffled.mean()
        var = centred.var()
        if var == 0:
            continue
        edge = var * (1 + 1 / np.sqrt(q)) ** 2 + margin * float(tracy_widom_scale(q, m, np.sqrt(var)))
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
        for i in np.flatnonzero(s**2 / n > edge):
            r, c = int(np.argmax(np.abs(u[:, i]))), int(np.argmax(np.abs(vt[i])))
            row, col = divmod(int(perm[r * m + c]), m)
            entry = (col, row) if transposed else (row, col)
            found.append(Trap(float(s[i]), float(np.sqrt(edge * n)), entry if single else (k, *entry),
                              float(x[row, col])))
    return sorted(found, key=lambda t: -t.s)


def name_hash(name: str) -> int:
    """A stable 32-bit hash of a layer's name (any string, lone surrogates included): its randomness key."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass"))


#: The seeds ``randomize`` and ``traps`` accept: a 64-bit signed integer (what ``jax.random.key`` takes).
SEED_RANGE = (-(2**63), 2**63 - 1)


def check_seed(seed: int) -> int:
    """``seed`` when it is an integer in :data:`SEED_RANGE`, else a ValueError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise ValueError(f"seed must be an integer from {SEED_RANGE[0]} to {SEED_RANGE[1]}, got {seed!r}")
    return int(seed)


def layer_seed(seed: int, name: str) -> int:
    """The seed of one layer's shuffles: ``seed`` and :func:`name_hash`, so a layer's traps do not depend on
    which other layers were selected, nor on their order."""
    return (int(seed) * 1_000_003 + name_hash(name)) % 2**63


def layer_extras(layer: Any, *, vectors: bool, seed: int | None, k: int = 10) -> dict[str, Any]:
    """The ``vectors`` columns (when asked) and the ``traps`` columns (when ``seed`` is given) of one layer.

    ``layer`` is a :class:`rmtkit.layers.Layer`; its matrices are read here in float64, one layer in memory.
    """
    w = np.asarray(layer.matrices, np.float64)
    row: dict[str, Any] = {}
    if vectors:
        row.update(zip(VECTOR_COLUMNS, localization(w, k), strict=True))
    if seed is not None:
        transposed = len(layer.shape) == 2 and layer.shape[0] < layer.shape[1]
        found = correlation_traps(w[0] if len(layer.shape) == 2 else w, seed=seed, transposed=transposed)
        row["traps"] = len(found)
        row["trap_entries"] = "; ".join(",".join(map(str, t.entry)) for t in found) or None
    return row
