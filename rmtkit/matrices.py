"""Which tensors are weight matrices, what they are called, how they become stacks of matrices, and when too few.

The one rule shared by the analyzer (:func:`rmtkit.layers.extract_layers`), the checkpoint readers
(:func:`rmtkit.checkpoints.flatten_tree`) and the training controls (:func:`rmtkit.optim.matrix_leaves`,
and through it :mod:`rmtkit.prune`); docs/theory.md#spectra gives the why:

- a tensor of rank 2 is one matrix (``embedding`` when its name says so, else ``dense``);
- a tensor of rank 4 is a convolution kernel: ``kh * kw`` matrices ``c_in x c_out`` whose eigenvalues
  are pooled ([MPM-NC] "method (1)"). Flax stores ``(kh, kw, c_in, c_out)``, PyTorch ``(c_out, c_in, kh,
  kw)``; ``conv_layout="auto"`` tells them apart by where the small spatial axes are;
- a tensor of rank 3 is a Flax ``DenseGeneral`` attention kernel, reshaped to one matrix:
  ``(features, heads, head_dim)`` to ``features x (heads * head_dim)`` (query, key, value), or
  ``(heads, head_dim, features)`` to ``(heads * head_dim) x features`` (a name containing ``out``);
- any other rank (biases, norm scales, scalars) is not a matrix.

Callers differ where their outputs must: the analyzer reads checkpoints with any layout and names
tensors ``a.b.c``; the training controls read Flax parameter trees (``conv_layout="flax"``, no rank-3
kernels) and name leaves ``a/b/c``, the form their ``exclude`` patterns match. The minimum
(:func:`too_few`) counts the eigenvalues of one matrix, ``min(N, M)`` (the analyzer, at least
:data:`DEFAULT_MIN_EVALS`), or those pooled over a conv kernel's matrices, ``k min(N, M)`` (the
controls, at least :data:`CONTROL_MIN_EVALS`, TempBalance's ``eigs_thresh``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal, get_args

import numpy as np

__all__ = ["CONTROL_KINDS", "CONTROL_MIN_EVALS", "CONV_LAYOUTS", "DEFAULT_MIN_EVALS", "LAYER_TYPES", "ConvLayout",
           "LayerType", "as_matrices", "as_stack", "conv_layout_of", "matrix_kind", "path_name", "stack_shape",
           "too_few"]

LayerType = Literal["dense", "conv", "embedding", "dense_general"]
LAYER_TYPES: tuple[str, ...] = get_args(LayerType)
#: How a 4-D kernel is laid out: Flax ``(kh, kw, c_in, c_out)``, PyTorch ``(c_out, c_in, kh, kw)``, or told
#: apart by where its small axes are.
ConvLayout = Literal["auto", "flax", "torch"]
CONV_LAYOUTS: tuple[str, ...] = get_args(ConvLayout)

#: The analyzer's smallest ``min(N, M)``: 10, WeightWatcher 0.7's ``DEFAULT_MIN_EVALS``, so that classifier
#: heads (e.g. 256 x 10) get a row with numbers; a fit on so few eigenvalues is flagged in the ``warning``
#: column (tail of fewer than 10 points).
DEFAULT_MIN_EVALS = 10
#: The training controls' smallest pooled spectrum: TempBalance's ``eigs_thresh``, 50.
CONTROL_MIN_EVALS = 50


def _key_name(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def path_name(path: Iterable[Any], sep: str = ".", drop_value: bool = True) -> str:
    """A JAX key path as a name: each key's ``key``, ``name`` or ``idx`` joined by ``sep``.

    ``drop_value``: leave out a last key ``value`` or ``raw_value`` (what an NNX ``Variable`` adds to the
    path of its array), as checkpoint names do; the training controls keep it (``sep="/"``,
    ``drop_value=False``), as their ``exclude`` patterns have always seen it.

    >>> from jax.tree_util import DictKey
    >>> path_name((DictKey("fc1"), DictKey("kernel"))), path_name((DictKey("fc1"), DictKey("kernel")), "/")
    ('fc1.kernel', 'fc1/kernel')
    """
    parts = [_key_name(k) for k in path]
    if drop_value and parts and parts[-1] in ("value", "raw_value"):
        parts = parts[:-1]
    return sep.join(parts)


#: The kinds the training controls balance: rank-2 kernels and Flax rank-4 conv kernels (no ``DenseGeneral``).
CONTROL_KINDS = ("dense", "embedding", "conv")


def matrix_kind(name: str, ndim: int, kinds: Iterable[str] = LAYER_TYPES) -> str | None:
    """The kind of matrix a tensor of rank ``ndim`` named ``name`` holds, or None (not a matrix, or not one of ``kinds``)."""
    kind = {2: "embedding" if "embed" in name.lower() else "dense", 3: "dense_general", 4: "conv"}.get(ndim)
    return kind if kind in kinds else None


def conv_layout_of(shape: tuple[int, ...], conv_layout: str) -> str:
    """``"flax"`` or ``"torch"``: ``conv_layout`` itself, or with ``"auto"`` the one whose last two axes are larger."""
    if conv_layout == "auto":
        return "torch" if shape[2] * shape[3] < shape[0] * shape[1] else "flax"
    if conv_layout not in ("flax", "torch"):
        raise ValueError(f"conv_layout must be 'auto', 'flax' or 'torch', got {conv_layout!r}")
    return conv_layout


def as_stack(name: str, a: Any, kind: str, conv_layout: str) -> Any:
    """The ``(k, rows, cols)`` matrices of tensor ``a`` (NumPy or JAX), as stored: not yet turned to ``N >= M``."""
    shape = a.shape
    if kind in ("dense", "embedding"):
        return a[None]
    if kind == "dense_general":
        is_out = re.search(r"(^|[._/])out", name.lower()) is not None
        return a.reshape(shape[0] * shape[1], shape[2])[None] if is_out else a.reshape(shape[0], shape[1] * shape[2])[None]
    if conv_layout_of(shape, conv_layout) == "torch":  # (c_out, c_in, kh, kw) -> (kh * kw, c_in, c_out)
        return np.moveaxis(np.asarray(a).reshape(shape[0], shape[1], -1), -1, 0).swapaxes(1, 2)
    return a.reshape(shape[0] * shape[1], shape[2], shape[3])  # Flax (kh, kw, c_in, c_out) -> (kh * kw, c_in, c_out)


def stack_shape(name: str, shape: tuple[int, ...], kind: str, conv_layout: str) -> tuple[int, int, int]:
    """``(k, rows, cols)`` of :func:`as_stack` for a tensor of this shape, without its data (a zero-strided stand-in)."""
    return tuple(as_stack(name, np.broadcast_to(np.zeros((), np.float32), shape), kind, conv_layout).shape)


def as_matrices(name: str, a: Any, kind: str, conv_layout: str) -> Any:
    """:func:`as_stack` with each matrix turned so that ``N >= M``: the ``(k, N, M)`` stack whose ``W^T W`` is analysed."""
    mats = as_stack(name, a, kind, conv_layout)
    return mats.swapaxes(-1, -2) if mats.shape[-2] < mats.shape[-1] else mats


def too_few(k: int, m: int, min_evals: int, *, pooled: bool = False) -> str | None:
    """Why ``k`` matrices of ``min(N, M) = m`` are too small to analyse, or None.

    ``pooled=False`` counts one matrix's eigenvalues (the analyzer), ``pooled=True`` the ``k m`` of a conv
    kernel's matrices together (the training controls).
    """
    if pooled:
        return f"{k * m} pooled eigenvalues < min_evals = {min_evals}" if k * m < min_evals else None
    return f"too small: min(N, M) = {m} < min_evals = {min_evals}" if m < min_evals else None
