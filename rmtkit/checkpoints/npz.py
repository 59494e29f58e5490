"""NumPy files: ``.npz`` (every array, by its name) and ``.npy`` (one array, named by the file's stem)."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from rmtkit.checkpoints.validation import CheckpointError, open_regular

#: File suffixes this module reads.
SUFFIXES = (".npz", ".npy")


def read(path: Path) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` / ``.npy`` file, read now (a truncated member fails here, naming it)."""
    with open_regular(path) as f:  # a FIFO named .npz would block np.load forever
        return _read_open(path, f, path.suffix.lower())


def read_folder(path: Path) -> None:
    """NumPy files are not looked for in a model folder."""
    return None


def _read_open(path: Path, f, suffix: str) -> dict[str, np.ndarray]:
    errors = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)
    if suffix == ".npy":
        try:
            return {path.stem: np.load(f, allow_pickle=False)}
        except errors as err:
            raise CheckpointError(f"{path}: cannot read .npy ({type(err).__name__}: {err})") from None
    try:
        z = np.load(f, allow_pickle=False)
    except errors as err:
        raise CheckpointError(f"{path}: cannot read .npz ({type(err).__name__}: {err})") from None
    out = {}
    with z:
        for k in z.files:
            try:
                out[k] = z[k]
            except errors as err:
                raise CheckpointError(f"{path}: array {k!r} cannot be read, the file is truncated or corrupt "
                                      f"({type(err).__name__}: {err})") from None
    return out
