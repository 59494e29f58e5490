"""PyTorch weights: state-dict files (``.bin``, ``.pt``, ``.pth``, ``.ckpt``) and live ``torch.nn.Module`` s.

A live module (a Hugging Face ``PreTrainedModel`` included) gives its ``state_dict()``: parameters
and persistent buffers, each a :class:`TorchTensor` read as NumPy (detached, copied to the CPU, one
tensor at a time) only when its layer is analysed; bfloat16 and float8 keep their precision
(the same bits viewed as ``ml_dtypes``). PyTorch stores a convolution kernel ``(c_out, c_in, kh,
kw)``: a :class:`TorchTensor` says so (``conv_layout = "torch"``), so ``conv_layout="auto"`` reads it
that way whatever its shape.

torch is imported only when such a file is read or such an object is given: :func:`is_module` and
:func:`is_tensor` look at the classes' names, without importing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import ml_dtypes
import numpy as np

from rmtkit.checkpoints.lazy import LazyArray, UnsupportedTensor
from rmtkit.checkpoints.pytree import flatten_tree
from rmtkit.checkpoints.validation import CheckpointError, open_regular

#: File suffixes this module reads.
SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
#: The file names a model folder may hold its PyTorch weights in, in the order they are looked for.
FOLDER_FILES = ("pytorch_model.bin", "model.pt", "model.pth")
#: torch dtype -> the NumPy dtype that holds it.
DTYPES = {
    "torch.float64": np.float64, "torch.float32": np.float32, "torch.float16": np.float16,
    "torch.bfloat16": ml_dtypes.bfloat16, "torch.float8_e4m3fn": ml_dtypes.float8_e4m3fn,
    "torch.float8_e5m2": ml_dtypes.float8_e5m2, "torch.int64": np.int64, "torch.int32": np.int32,
    "torch.int16": np.int16, "torch.int8": np.int8, "torch.uint8": np.uint8, "torch.bool": np.bool_,
    "torch.complex64": np.complex64, "torch.complex128": np.complex128,
}
#: dtypes NumPy lacks: read as an integer tensor of the same width, whose bits are then viewed as ``ml_dtypes``.
_BITS = {"torch.bfloat16": "int16", "torch.float8_e4m3fn": "uint8", "torch.float8_e5m2": "uint8"}


def _has_class(obj: Any, module: str, name: str) -> bool:
    return any(c.__name__ == name and c.__module__ == module for c in type(obj).__mro__)


def is_module(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module`` (a Hugging Face ``PreTrainedModel`` is one), told without importing torch."""
    return _has_class(obj, "torch.nn.modules.module", "Module") and callable(getattr(obj, "state_dict", None))


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.Tensor`` (an ``nn.Parameter`` is one), told without importing torch."""
    return _has_class(obj, "torch", "Tensor")


@dataclass(frozen=True, eq=False)
class TorchTensor(LazyArray):
    """A PyTorch tensor read as a NumPy array only when asked for: detached, on the CPU, a copy (the model is never written)."""

    tensor: Any
    conv_layout: ClassVar[str] = "torch"  # (c_out, c_in, kh, kw), whatever the shape says

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.tensor.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(DTYPES[str(self.tensor.dtype)])

    def read(self) -> np.ndarray:
        import torch  # noqa: PLC0415  (already imported by whoever made the tensor)

        t = self.tensor.detach().to("cpu").contiguous()
        code = str(t.dtype)
        if code in _BITS:
            return t.view(getattr(torch, _BITS[code])).numpy().view(self.dtype).copy()
        return t.numpy().copy()


def _wrap(t: Any) -> Any:
    """A :class:`TorchTensor`, or an :class:`UnsupportedTensor` saying why its data cannot be read."""
    shape, code = tuple(int(s) for s in t.shape), str(t.dtype)
    if getattr(t, "is_meta", False):
        return UnsupportedTensor(shape, code, "on the meta device: the module holds no weights here (load them first)")
    if getattr(t, "is_sparse", False) or getattr(t, "is_quantized", False):
        return UnsupportedTensor(shape, code, f"{'sparse' if getattr(t, 'is_sparse', False) else 'quantized'} "
                                              "torch tensor: not read")
    if code not in DTYPES:
        return UnsupportedTensor(shape, code, f"{code} tensor: no NumPy dtype holds it")
    return TorchTensor(t)


def from_torch(weights: Mapping[str, Any]) -> dict[str, Any]:
    """``weights`` with every torch tensor as a :class:`TorchTensor` (the others unchanged)."""
    return {name: _wrap(v) if is_tensor(v) else v for name, v in weights.items()}


def read_module(module: Any) -> dict[str, Any]:
    """Every tensor of a live module's ``state_dict()`` (parameters and persistent buffers), by its name there.

    Tied weights (an output layer sharing the embedding) appear under each of their names, as in the
    state dict and in the files ``torch.save`` writes of it.
    """
    try:
        state = module.state_dict()
    except Exception as err:  # a module whose state_dict fails (a hook, a wrapper): say which and why
        raise CheckpointError(f"cannot read the state_dict() of a {type(module).__name__} "
                              f"({type(err).__name__}: {err})") from None
    weights = {str(name): _wrap(v) if is_tensor(v) else  # in the module's order
               UnsupportedTensor((), type(v).__name__, "not a tensor (a module's extra state)") for name, v in state.items()}
    if not weights:
        raise CheckpointError(f"the {type(module).__name__} has no parameters or buffers")
    return weights


def read(path: Path) -> dict[str, Any]:
    """Every tensor of a PyTorch state dict (``state_dict`` inside a training checkpoint), as :class:`TorchTensor` s."""
    open_regular(path).close()
    try:
        import torch  # noqa: PLC0415  (optional: only for PyTorch checkpoints)
    except ImportError:
        raise CheckpointError(f"{path}: a PyTorch checkpoint needs torch, which is not installed "
                              "(convert it to .safetensors, or pip install torch)") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise CheckpointError(f"{path}: cannot read PyTorch checkpoint ({type(err).__name__}: {err})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    return from_torch(flatten_tree(state))


def read_folder(path: Path) -> dict[str, Any] | None:
    """The first of :data:`FOLDER_FILES` in a model folder, or None."""
    for name in FOLDER_FILES:
        if (path / name).is_file():
            return read(path / name)
    return None
