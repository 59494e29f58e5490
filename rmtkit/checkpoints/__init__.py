"""Weights in: every way a model reaches the analyzer, flattened to ``{name: array}``.

Sources: a Flax NNX module or its state, a Flax Linen params pytree, a (nested) dict of arrays
(:mod:`~rmtkit.checkpoints.pytree`); a ``.safetensors`` file or a Hugging Face style directory,
single or sharded with its index (:mod:`~rmtkit.checkpoints.safetensors`); a ``.npz`` / ``.npy``
(:mod:`~rmtkit.checkpoints.npz`); a PyTorch state-dict file, a live ``torch.nn.Module`` (a Hugging
Face ``PreTrainedModel`` included) or a dict of torch tensors, only when torch happens to be installed
(:mod:`~rmtkit.checkpoints.pytorch`; torch is never imported otherwise).
Safetensors tensors come as :class:`LazyTensor` s: the header is read at once, each tensor's bytes
only when it is asked for, so a model larger than the machine's memory is analysed one tensor at
a time.

A file format is one module here with ``SUFFIXES``, ``read(path)`` and ``read_folder(path)``
(None when a model folder holds none of it), listed in :data:`FORMATS`; docs/architecture.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rmtkit.checkpoints import npz, pytorch, safetensors
from rmtkit.checkpoints.hub import is_model_id, snapshot_of
from rmtkit.checkpoints.lazy import LazyArray, LazyTensor, UnsupportedTensor
from rmtkit.checkpoints.pytree import flatten_tree, read_model
from rmtkit.checkpoints.safetensors import read_safetensors, write_safetensors
from rmtkit.checkpoints.validation import CheckpointError

__all__ = ["FORMATS", "READERS", "CheckpointError", "LazyArray", "LazyTensor", "UnsupportedTensor", "flatten_tree",
           "load_weights", "read_safetensors", "write_safetensors"]

#: The file formats, in the order a model folder is searched for them.
FORMATS = (safetensors, pytorch, npz)
#: File suffix -> the reader of that format.
READERS = {suffix: fmt.read for fmt in FORMATS for suffix in fmt.SUFFIXES}


def _read_file(path: Path) -> dict[str, Any]:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise CheckpointError(f"{path}: unknown checkpoint format {path.suffix.lower()!r} (use .safetensors, .npz, "
                              "a HF directory, or a PyTorch .bin/.pt with torch installed)")
    return reader(path)


def _read_folder(path: Path) -> dict[str, Any]:
    for fmt in FORMATS:
        found = fmt.read_folder(path)
        if found is not None:
            return found
    raise CheckpointError(f"{path}: no *.safetensors (or index) and no pytorch_model.bin in this directory")


def load_weights(source: Any) -> dict[str, Any]:
    """Every tensor of ``source`` as a flat ``{name: array}`` (:class:`LazyTensor` s for safetensors files).

    Args:
        source: a path (``.safetensors``, ``.npz``, a HF directory, a PyTorch file), a model id
            ``org/name`` present in the local Hugging Face hub cache (:mod:`~rmtkit.checkpoints.hub`;
            nothing is downloaded), a Flax NNX
            module (its ``nnx.Param`` state is taken), an NNX state, a Linen params pytree, a
            ``torch.nn.Module`` or Hugging Face ``PreTrainedModel`` (its ``state_dict()``, as
            :class:`~rmtkit.checkpoints.pytorch.TorchTensor` s read one at a time), or a (nested) dict
            of arrays or torch tensors.

    Raises:
        CheckpointError: the path does not exist or cannot be read (the message says why).
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            if not path.exists() and is_model_id(os.fspath(source)):  # org/name: a model of the local hub cache
                path = snapshot_of(os.fspath(source))
            if not path.exists():
                raise CheckpointError(f"{path}: no such file or directory")
            return _read_folder(path) if path.is_dir() else _read_file(path)
        except OSError as err:  # a name too long, a permission denied on a folder: say so, with the path
            raise CheckpointError(f"{path}: cannot read ({err.strerror or err})") from None
    if pytorch.is_module(source):
        return pytorch.read_module(source)
    return pytorch.from_torch(read_model(source))  # a state dict given in memory: its torch tensors wrapped
