"""Tensors known by shape and dtype whose data are read only when asked for.

:func:`rmtkit.checkpoints.load_weights` returns a :class:`LazyTensor` for each tensor of a
safetensors file, so a model larger than the machine's memory is analysed one tensor at a time;
:class:`UnsupportedTensor` is a tensor listed in a checkpoint whose data rmtkit cannot hold (a
skipped row, with why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from rmtkit.checkpoints.validation import CheckpointError, open_regular

#: Largest single read: tensors and files over 4 GB are read whole, in pieces of this size.
READ_CHUNK = 2**30


@dataclass(frozen=True)
class UnsupportedTensor:
    """A tensor listed in a checkpoint whose data rmtkit cannot hold (e.g. a sub-byte dtype): a skipped row, with why."""

    shape: tuple[int, ...]
    dtype: str
    reason: str

    @property
    def ndim(self) -> int:
        return len(self.shape)


class LazyArray:
    """An array known by its ``shape`` and ``dtype`` whose data are produced only by :meth:`read` / ``np.asarray``.

    :func:`rmtkit.layers.extract_layers` keeps such tensors lazy (a layer is read when it is
    analysed, and dropped after); subclasses: :class:`LazyTensor`, :class:`rmtkit.compare.WeightDelta`,
    :class:`rmtkit.checkpoints.pytorch.TorchTensor`.

    ``conv_layout``: how a 4-D kernel of this source is laid out (``"torch"`` for PyTorch tensors), or
    ``"auto"``: told apart by its shape (:func:`rmtkit.matrices.conv_layout_of`); the analyzer's
    ``conv_layout="auto"`` takes it.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    conv_layout: ClassVar[str] = "auto"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def read(self) -> np.ndarray:
        raise NotImplementedError

    def __array__(self, dtype=None, copy=None):
        a = self.read()
        return a if dtype is None else a.astype(dtype, copy=False)


@dataclass(frozen=True)
class LazyTensor(LazyArray):
    """A tensor of a checkpoint file that is read only when converted to an array.

    ``np.asarray(t)`` (or :meth:`read`) reads its ``nbytes`` at ``offset`` into a fresh array;
    nothing stays mapped or cached, so the memory is returned as soon as the caller drops the
    array. Reads go in chunks of at most 1 GiB, so tensors and files over 4 GB are read whole.
    """

    path: Path
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype

    def read(self) -> np.ndarray:
        """The tensor's data as a new (writable) array; raises :class:`CheckpointError` if the file changed."""
        out = np.empty(self.shape, self.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8)) if out.size else memoryview(b"")
        with open_regular(self.path) as f:
            f.seek(self.offset)
            done = 0
            while done < len(view):
                n = f.readinto(view[done:done + READ_CHUNK])
                if not n:
                    raise CheckpointError(f"{self.path}: file ended {len(view) - done} bytes early while reading a "
                                          "tensor (it was changed or truncated after its header was read)")
                done += n
        return out
