"""From named tensors to the weight matrices the theory talks about (docs/theory.md#spectra): the analyzer's selection.

Which tensors are matrices, how they are reshaped and when they are too small is the rule of
:mod:`rmtkit.matrices` (dense and embedding kernels one matrix each, conv kernels ``kh * kw``
matrices with pooled eigenvalues, ``DenseGeneral`` attention kernels reshaped to one matrix), shared
with the training controls; this module applies it to a checkpoint's named tensors, with the
analyzer's filters (names, types, ``min_evals`` and ``max_evals`` on ``min(N, M)``).

Every tensor not analysed is returned as a :class:`Skipped` with the reason: nothing is dropped silently.

Tensors of a checkpoint file stay on disk (:class:`rmtkit.checkpoints.LazyTensor`, or any
:class:`rmtkit.checkpoints.LazyArray`): a layer's ``matrices`` are
then a :class:`LazyMatrices` whose shape is known at once and whose data are read, reshaped and
handed over only when converted to an array, so a caller that works one layer at a time holds one
layer in memory.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmtkit.checkpoints.lazy import LazyArray
from rmtkit.matrices import (  # noqa: F401 (re-exported: the names this module has always had)
    CONV_LAYOUTS,
    DEFAULT_MIN_EVALS,
    LAYER_TYPES,
    ConvLayout,
    LayerType,
    as_matrices,
    matrix_kind,
    stack_shape,
    too_few,
)


@dataclass(frozen=True)
class Layer:
    """One analysable tensor: ``matrices`` has shape ``(k, N, M)`` with ``N >= M`` (``k > 1`` for conv)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    dtype: str
    matrices: Any  # (k, N, M) array, or a LazyMatrices read from disk by np.asarray

    @property
    def n(self) -> int:
        return int(self.matrices.shape[-2])

    @property
    def m(self) -> int:
        return int(self.matrices.shape[-1])

    @property
    def num_evals(self) -> int:
        return int(self.matrices.shape[0] * self.m)


@dataclass(frozen=True)
class Skipped:
    """A tensor that was not analysed, and why."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    reason: str


def _matches(name: str, patterns: Iterable[str]) -> bool:
    """Glob (``encoder.*.dense``) or regular expression (``re:^encoder``) match."""
    for p in patterns:
        if p.startswith("re:"):
            if re.search(p[3:], name):
                return True
        elif fnmatch.fnmatchcase(name, p) or p in name:
            return True
    return False


class LazyMatrices:
    """A layer's ``(k, N, M)`` matrices, read from the checkpoint by ``np.asarray`` (each time: nothing is kept).

    ``shape``, ``size``, ``ndim`` and ``dtype`` need no read; ``reads`` counts the reads (tests use it).
    """

    def __init__(self, name: str, tensor: Any, kind: str, conv_layout: str):
        self.name, self.tensor, self.kind, self.conv_layout = name, tensor, kind, conv_layout
        k, rows, cols = stack_shape(name, tuple(tensor.shape), kind, conv_layout)  # no read
        self.shape = (k, max(rows, cols), min(rows, cols))
        self.dtype = np.dtype(tensor.dtype)
        self.reads = 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __array__(self, dtype=None, copy=None):
        self.reads += 1
        mats = as_matrices(self.name, np.asarray(self.tensor), self.kind, self.conv_layout)
        return mats if dtype is None else mats.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"LazyMatrices({self.name!r}, shape={self.shape}, dtype={self.dtype})"


def extract_layers(
    weights: Mapping[str, Any],
    *,
    layers: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    min_evals: int = DEFAULT_MIN_EVALS,
    max_evals: int | None = None,
    conv_layout: str = "auto",
) -> tuple[list[Layer], list[Skipped]]:
    """Split named tensors into analysable :class:`Layer` s and :class:`Skipped` ones (with reasons).

    Args:
        weights: ``{name: array}`` (see :func:`rmtkit.checkpoints.load_weights`).
        layers: keep only names matching one of these globs / substrings / ``re:`` regexes.
        exclude: drop names matching any of these.
        types: keep only these kinds (``dense``, ``conv``, ``embedding``, ``dense_general``).
        min_evals, max_evals: bounds on ``min(N, M)``, the eigenvalues per matrix.
        conv_layout: ``auto``, ``flax`` (kh, kw, c_in, c_out) or ``torch`` (c_out, c_in, kh, kw). ``auto``
            takes the layout of tensors that know theirs (``torch`` for a PyTorch module or file:
            :class:`rmtkit.checkpoints.pytorch.TorchTensor`), and tells the others apart by shape.
    """
    if isinstance(min_evals, bool) or not isinstance(min_evals, int | np.integer) or min_evals < 0:
        raise ValueError(f"min_evals must be an integer >= 0, got {min_evals!r}")
    if max_evals is not None and (isinstance(max_evals, bool) or not isinstance(max_evals, int | np.integer)
                                  or max_evals < max(min_evals, 1)):
        raise ValueError(f"max_evals must be an integer >= max(min_evals, 1), got {max_evals!r}")
    if conv_layout not in CONV_LAYOUTS:
        raise ValueError(f"conv_layout must be 'auto', 'flax' or 'torch', got {conv_layout!r}")
    for pattern in [*(layers or ()), *(exclude or ())]:
        if pattern.startswith("re:"):
            try:
                re.compile(pattern[3:])
            except re.error as err:
                raise ValueError(f"bad regular expression {pattern!r}: {err}") from None
    if types is not None:
        types = set(types)
        unknown = types - set(LAYER_TYPES)
        if unknown:
            raise ValueError(f"unknown layer types {sorted(unknown)}; choose from {LAYER_TYPES}")
    keep, skipped = [], []
    for name, a in weights.items():
        shape = tuple(int(s) for s in np.shape(a))
        dtype = str(a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype)  # (a getattr default would read a lazy tensor)

        def skip(reason: str, name=name, shape=shape, dtype=dtype) -> None:
            skipped.append(Skipped(name, shape, dtype, reason))

        reason = getattr(a, "reason", None)  # a checkpoints.UnsupportedTensor: listed, but its data cannot be held
        if isinstance(reason, str):
            skip(reason)
            continue
        if layers is not None and not _matches(name, layers):
            skip("filtered: name does not match --layers")
            continue
        if exclude is not None and _matches(name, exclude):
            skip("filtered: name matches --exclude")
            continue
        kind = matrix_kind(name, len(shape))
        if kind is None:
            skip(f"{len(shape)}-D tensor (bias, norm or scalar): not a weight matrix" if len(shape) < 2
                 else f"{len(shape)}-D tensor: unsupported layout")
            continue
        if not (np.issubdtype(np.dtype(dtype), np.floating) or dtype in ("bfloat16", "float8_e4m3fn", "float8_e5m2")):
            skip(f"{dtype} tensor: not a float weight")
            continue
        if types is not None and kind not in types:
            skip(f"filtered: type {kind} not in --types")
            continue
        if 0 in shape:
            skip(f"empty tensor (shape {shape}): no eigenvalues")
            continue
        if isinstance(a, LazyArray):  # "auto": the source's own layout where it knows it (PyTorch tensors)
            mats = LazyMatrices(name, a, kind, a.conv_layout if conv_layout == "auto" else conv_layout)
        else:
            mats = as_matrices(name, a, kind, conv_layout)
        m = int(mats.shape[-1])
        if (why := too_few(int(mats.shape[0]), m, min_evals)) is not None:
            skip(why)
            continue
        if max_evals is not None and m > max_evals:
            skip(f"too large: min(N, M) = {m} > max_evals = {max_evals}")
            continue
        keep.append(Layer(name, kind, shape, dtype, mats))
    return keep, skipped
