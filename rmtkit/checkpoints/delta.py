"""``W - W_base``: the change of every tensor of a fine-tuned model from its base, read lazily.

:func:`rmtkit.analyze` with ``base=`` analyses these differences (a table of differences, without training
verdicts: a change of weights is not a trained layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rmtkit.checkpoints import load_weights
from rmtkit.checkpoints.lazy import LazyArray, UnsupportedTensor


@dataclass(frozen=True, eq=False)
class WeightDelta(LazyArray):
    """``W - W_base`` of one tensor, computed (in float32 or wider) only when read."""

    tuned: Any
    base: Any

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in np.shape(self.tuned))

    @property
    def dtype(self) -> np.dtype:
        return np.promote_types(np.dtype(self.tuned.dtype) if np.dtype(self.tuned.dtype).itemsize >= 4
                                else np.float32, np.float32)

    @property
    def conv_layout(self) -> str:  # the layout of the tuned model's tensor (PyTorch: "torch")
        return getattr(self.tuned, "conv_layout", "auto")

    def read(self) -> np.ndarray:
        return np.asarray(self.tuned, self.dtype) - np.asarray(self.base, self.dtype)


def weight_delta(model: Any, base: Any) -> dict[str, Any]:
    """``{name: W - W_base}`` (lazy :class:`WeightDelta` s) of the tensors of ``model``.

    A tensor absent from ``base`` or of another shape there is kept as an
    :class:`rmtkit.checkpoints.UnsupportedTensor` (a skipped row saying why); tensors of ``base`` alone are
    ignored.
    """
    tuned, reference = load_weights(model), load_weights(base)
    out: dict[str, Any] = {}
    for name, w in tuned.items():
        shape = tuple(int(s) for s in np.shape(w))
        dtype = str(w.dtype) if hasattr(w, "dtype") else "unknown"
        if isinstance(w, UnsupportedTensor):
            out[name] = w
        elif name not in reference:
            out[name] = UnsupportedTensor(shape, dtype, "not in the base model: no delta")
        elif tuple(np.shape(reference[name])) != shape:
            out[name] = UnsupportedTensor(shape, dtype, f"shape {tuple(np.shape(reference[name]))} in the base "
                                                           f"model: no delta")
        elif not np.issubdtype(np.dtype(w.dtype), np.floating) and str(w.dtype) not in (
                "bfloat16", "float8_e4m3fn", "float8_e5m2"):
            out[name] = w  # integer buffers: skipped by the layer selection with its usual reason
        else:
            out[name] = WeightDelta(w, reference[name])
    return out
