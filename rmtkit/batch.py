"""One batch convention for every batched function of rmtkit.

A batch of spectra is a padded ``(B, L)`` array ``evals``: row ``i`` holds one spectrum in its first
``lengths[i]`` entries, padding after (its value is ignored). Every batched function takes the spectrum
as its first argument, named ``evals``, and the valid entries as the keyword ``lengths=`` (``(B,)``
counts) or, equivalently, ``mask=`` (``(B, L)`` booleans, true on valid entries); neither means every
entry is valid. A 1-D ``(L,)`` spectrum is a batch of one where a function accepts it.

>>> import numpy as np
>>> evals, lengths = pad_spectra([np.array([1.0, 2.0, 3.0]), np.array([4.0])])
>>> evals.tolist(), lengths.tolist()
([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]], [3, 1])
>>> valid_mask(evals.shape, lengths=lengths).tolist()
[[True, True, True], [True, False, False]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def as_float(x: ArrayLike) -> np.ndarray:
    """``x`` as a NumPy array, cast to the default float type if it is not floating already."""
    arr = np.asarray(x)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(float)


def pad_spectra(
    spectra: Sequence[ArrayLike], *, width: int | None = None, dtype=None, fill: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Stack 1-D spectra of different lengths into ``(evals, lengths)``.

    Args:
        spectra: 1-D arrays (eigenvalues), one per row.
        width: the padded length ``L`` (default: the longest spectrum). A fixed width lets
            batches of different spectra share one compiled program.
        dtype: dtype of ``evals`` (default: the common float type of the inputs).
        fill: value of the padding entries.

    Returns:
        ``evals`` ``(B, L)`` and ``lengths`` ``(B,)`` (int64).
    """
    arrays = [as_float(s) for s in spectra]
    if not arrays:
        raise ValueError("pad_spectra needs at least one spectrum")
    bad = [i for i, a in enumerate(arrays) if a.ndim != 1]
    if bad:
        raise ValueError(f"spectra must be 1-D arrays; entry {bad[0]} has shape {arrays[bad[0]].shape}")
    lengths = np.array([a.size for a in arrays], dtype=np.int64)
    longest = int(lengths.max())
    width = longest if width is None else int(width)
    if width < longest:
        raise ValueError(f"width={width} is shorter than the longest spectrum ({longest})")
    dtype = np.result_type(*arrays) if dtype is None else np.dtype(dtype)
    out = np.full((len(arrays), width), fill, dtype)
    for i, a in enumerate(arrays):
        out[i, : a.size] = a
    return out, lengths


def valid_mask(shape: tuple[int, int], *, lengths: ArrayLike | None = None, mask: ArrayLike | None = None) -> np.ndarray:
    """The ``(B, L)`` boolean mask of valid entries of a padded batch, from ``lengths`` or ``mask``.

    Raises:
        ValueError: both are given, or either does not match ``shape``, or a length is outside ``[0, L]``.
    """
    rows, width = shape
    if mask is not None and lengths is not None:
        raise ValueError("give lengths= or mask=, not both")
    if mask is not None:
        m = np.asarray(mask, bool)
        if m.shape != (rows, width):
            raise ValueError(f"mask must have the shape of evals {(rows, width)}, got {m.shape}")
        return m
    if lengths is None:
        return np.ones((rows, width), bool)
    return np.arange(width)[None, :] < batch_lengths(shape, lengths)[:, None]


def batch_lengths(shape: tuple[int, int], lengths: ArrayLike | None = None, mask: ArrayLike | None = None) -> np.ndarray:
    """``(B,)`` valid counts of a padded batch from ``lengths`` or a prefix ``mask`` (all valid if neither).

    Raises:
        ValueError: as :func:`valid_mask`, and if ``mask`` is not a prefix (valid entries first) in every row.
    """
    rows, width = shape
    if mask is not None:
        m = valid_mask(shape, mask=mask, lengths=lengths)
        counts = m.sum(axis=1)
        if not np.array_equal(m, np.arange(width)[None, :] < counts[:, None]):
            raise ValueError("mask must mark the leading entries of each row (padding at the end)")
        return counts.astype(np.int64)
    if lengths is None:
        return np.full(rows, width, np.int64)
    lens = np.asarray(lengths)
    if lens.shape != (rows,):
        raise ValueError(f"lengths must have shape ({rows},), got {lens.shape}")
    if not np.issubdtype(lens.dtype, np.integer):
        if not np.all(np.isfinite(lens)) or np.any(lens != np.round(lens)):
            raise ValueError(f"lengths must be integers, got {lens}")
    lens = lens.astype(np.int64)
    if np.any(lens < 0) or np.any(lens > width):
        raise ValueError(f"lengths must lie in [0, {width}], got {lens}")
    return lens
