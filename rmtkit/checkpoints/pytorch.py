"""PyTorch state-dict files (``.bin``, ``.pt``, ``.pth``, ``.ckpt``), read only when torch happens to be installed.

torch is imported here and nowhere else, and only when such a file is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rmtkit.checkpoints.pytree import flatten_tree
from rmtkit.checkpoints.validation import CheckpointError, open_regular

#: File suffixes this module reads.
SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
#: The file names a model folder may hold its PyTorch weights in, in the order they are looked for.
FOLDER_FILES = ("pytorch_model.bin", "model.pt", "model.pth")


def read(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a PyTorch state dict (``state_dict`` inside a training checkpoint), bfloat16 as float32."""
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
    out = {}
    for k, v in flatten_tree(state).items():
        out[k] = v.detach().float().numpy() if v.dtype == torch.bfloat16 else v.detach().numpy()
    return out


def read_folder(path: Path) -> dict[str, np.ndarray] | None:
    """The first of :data:`FOLDER_FILES` in a model folder, or None."""
    for name in FOLDER_FILES:
        if (path / name).is_file():
            return read(path / name)
    return None
