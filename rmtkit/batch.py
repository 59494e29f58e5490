"""One batch convention for every batched function of rmtkit.

A batch of spectra is a padded ``(B, L)`` array ``evals``: row ``i`` holds one spectrum in its first
``lengths[i]`` entries, padding after (its value is ignored). Every batched function takes the spectrum
as its first argument, named ``evals``, and the valid entries as the keyword ``lengths=`` (``(B,)``
counts) or, equivalently, ``mask=`` (``(B, L)`` booleans, true on valid entries); neither means every
entry is valid. A 1-D ``(L,)`` spectrum is a batch of one where a function accepts it; the fits
take a 1-D spectrum whole and refuse ``lengths=``/``mask=`` with it (:func:`reject_batch_arguments`).

The masks are NumPy arrays for concrete inputs (checked: shapes, integer lengths in ``[0, L]``) and
JAX arrays when ``lengths`` or ``mask`` is traced (inside ``jit``/``vmap``; shapes checked only), so
that jitted callers stay jitted. ``as_float`` is the one cast to a float dtype, for NumPy or JAX.

>>> import numpy as np
>>> evals, lengths = pad_spectra([np.array([1.0, 2.0, 3.0]), np.array([4.0])])
>>> evals.tolist(), lengths.tolist()
([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]], [3, 1])
>>> valid_mask(evals.shape, lengths=lengths).tolist()
[[True, True, True], [True, False, False]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike


def as_float(x: ArrayLike, xp=np):
    """``x`` as an array of ``xp`` (``numpy`` or ``jax.numpy``), cast to ``xp``'s default float if not floating.

    Floating inputs keep their dtype; integers and booleans become float64 in NumPy, and in JAX the
    default float (float64 under ``jax_enable_x64``, else float32).
    """
    arr = xp.asarray(x)
    return arr if xp.issubdtype(arr.dtype, xp.floating) else arr.astype(xp.result_type(float))


def staged(x: ArrayLike):
    """``as_float(x, jnp)``, except that a floating NumPy array JAX would keep as it is stays on the host.

    A compiled fit takes it as it is; ``jnp.asarray`` would first run a small program of its own (a
    few ms each, tens of ms the first time in a process).
    """
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and (
            x.dtype != np.float64 or jax.config.jax_enable_x64):
        return x
    return as_float(x, jnp)


def _traced(*arrays) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in arrays)


def reject_batch_arguments(lengths: ArrayLike | None, mask: ArrayLike | None) -> None:
    """Refuse ``lengths=``/``mask=`` given with a 1-D spectrum (which is used whole)."""
    if lengths is not None or mask is not None:
        raise ValueError("lengths= and mask= are for batched (2-D) evals; a 1-D spectrum is used whole")


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


def valid_mask(shape: tuple[int, int], *, lengths: ArrayLike | None = None, mask: ArrayLike | None = None):
    """The ``(B, L)`` boolean mask of valid entries of a padded batch, from ``lengths`` or ``mask``.

    ``mask`` may mark any entries (the fits sort each row); a JAX array when either input is traced.

    Raises:
        ValueError: both are given, or either does not match ``shape``, or a length is outside ``[0, L]``.
    """
    rows, width = shape
    if mask is not None and lengths is not None:
        raise ValueError("give either mask or lengths, not both")
    if mask is not None:
        m = jnp.asarray(mask, bool) if _traced(mask) else np.asarray(mask, bool)
        if m.shape != (rows, width):
            raise ValueError(f"mask shape {m.shape} does not match evals shape {(rows, width)}")
        return m
    if lengths is None:
        return np.ones((rows, width), bool)
    if _traced(lengths):
        return jnp.arange(width)[None, :] < _traced_lengths(shape, lengths)[:, None]
    return np.arange(width)[None, :] < batch_lengths(shape, lengths)[:, None]


def _traced_lengths(shape: tuple[int, int], lengths) -> jax.Array:
    lens = jnp.asarray(lengths)
    if lens.shape != (shape[0],):
        raise ValueError(f"lengths must have shape ({shape[0]},), got {lens.shape}")
    return lens


def batch_lengths(shape: tuple[int, int], lengths: ArrayLike | None = None, mask: ArrayLike | None = None):
    """``(B,)`` valid counts of a padded batch from ``lengths`` or a prefix ``mask`` (all valid if neither).

    A JAX array (unchecked values) when either input is traced.

    Raises:
        ValueError: as :func:`valid_mask`, and if ``mask`` is not a prefix (valid entries first) in every row.
    """
    rows, width = shape
    if mask is not None:
        m = valid_mask(shape, mask=mask, lengths=lengths)
        if isinstance(m, jax.Array):
            return m.sum(axis=1)
        counts = m.sum(axis=1)
        if not np.array_equal(m, np.arange(width)[None, :] < counts[:, None]):
            raise ValueError("mask must mark the leading entries of each row (padding at the end)")
        return counts.astype(np.int64)
    if lengths is None:
        return np.full(rows, width, np.int64)
    if _traced(lengths):
        return _traced_lengths(shape, lengths)
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


def fill_padding(evals: ArrayLike, fill: float = 0.0, *, lengths: ArrayLike | None = None,
                 mask: ArrayLike | None = None) -> jax.Array:
    """``evals`` ``(..., L)`` as a float JAX array, every entry outside ``lengths``/``mask`` set to ``fill``.

    ``lengths`` has the batch shape ``evals.shape[:-1]``, ``mask`` that of ``evals``; neither: ``evals``
    unchanged. Traceable, for functions that run inside ``jit`` (the metrics).
    """
    ev = as_float(evals, jnp)
    if lengths is None and mask is None:
        return ev
    if lengths is not None and np.shape(lengths) != ev.shape[:-1]:
        raise ValueError(f"lengths must have shape {ev.shape[:-1]}, got {np.shape(lengths)}")
    if mask is not None and np.shape(mask) != ev.shape:
        raise ValueError(f"mask shape {np.shape(mask)} does not match evals shape {ev.shape}")
    shape = (math.prod(ev.shape[:-1]), ev.shape[-1])

    def flat(a, new_shape):
        return None if a is None else (jnp if _traced(a) else np).reshape(a, new_shape)

    valid = valid_mask(shape, lengths=flat(lengths, shape[:1]), mask=flat(mask, shape))
    return jnp.where(jnp.reshape(jnp.asarray(valid), ev.shape), ev, jnp.asarray(fill, ev.dtype))


def fit_by_width(fit, evals: np.ndarray, lengths: np.ndarray, *, min_width: int = 64, **kwargs):
    """``fit(evals, lengths=lengths, **kwargs)``, made per group of rows padded to a common width.

    A batched fit pads every row to the longest: one long spectrum (the FARMS ESD of an embedding matrix holds
    ~300,000 eigenvalues where the other layers' hold 10,000) makes every row cost as much as it. Here rows are
    grouped by the next power of two of their length (at least ``min_width``, at most the batch's width), so a
    row is padded less than 2x and few shapes are compiled. ``fit`` returns a NamedTuple of ``(B,)`` fields; the
    result has the batch's row order. A row's fit does not depend on its padding.
    """
    lengths = np.asarray(lengths)
    width = evals.shape[1]
    bucket = np.minimum(np.maximum(min_width, 2 ** np.ceil(np.log2(np.maximum(lengths, 1)))), width).astype(np.int64)
    widths = np.unique(bucket)
    if len(widths) == 1:
        return fit(evals[:, : widths[0]], lengths=lengths, **kwargs)
    parts = [(np.flatnonzero(bucket == w), fit(evals[bucket == w, :w], lengths=lengths[bucket == w], **kwargs))
             for w in widths]
    fields = []
    for k in range(len(parts[0][1])):
        first = np.asarray(parts[0][1][k])
        out = np.empty((len(lengths),) + first.shape[1:], first.dtype)
        for rows, part in parts:
            out[rows] = np.asarray(part[k])
        fields.append(out)
    return type(parts[0][1])(*fields)


def to_host(fit):
    """A batched fit (a NamedTuple of arrays) with every field a NumPy array: read on the host, never traced again."""
    return type(fit)(*(np.asarray(v) for v in fit))


def host_scalar(v):
    """One entry of a batched field as a Python number, None for NaN (a table cell)."""
    v = np.asarray(v).item()
    return None if isinstance(v, float) and np.isnan(v) else v
