"""Fashion-MNIST from the idx files of the Debian package ``dataset-fashion-mnist`` (no downloads, ever).

The files are looked up in ``$RMTKIT_DATA_DIR`` if set, else in the package's install folder
``/usr/share/datasets/fashion-mnist``; plain or gzipped idx files both work.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: idx type codes (LeCun's format): 0x08 unsigned byte ... 0x0E double.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetMissingError(FileNotFoundError):
    """The data set is not installed; the message says how to get it."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one idx file (optionally ``.gz``) into a NumPy array of its declared shape and type."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an idx file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown idx data type 0x{code:02x}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"{path}: header says {shape} ({expected} bytes) but the file has {len(raw) - offset}")
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def fashion_mnist_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the four Fashion-MNIST idx files, or :class:`DatasetMissingError` saying how to install them."""
    candidates = [Path(data_dir)] if data_dir else []
    if not candidates and os.environ.get("RMTKIT_DATA_DIR"):
        candidates.append(Path(os.environ["RMTKIT_DATA_DIR"]))
    candidates = candidates or [DEFAULT_DIR]
    for folder in candidates:
        if all(_find(folder, name) for pair in _FILES.values() for name in pair):
            return folder
    raise DatasetMissingError(
        f"Fashion-MNIST not found in {', '.join(map(str, candidates))}. Install the Debian package "
        f"'{DEBIAN_PACKAGE}' (sudo apt-get install {DEBIAN_PACKAGE}; `make demo` does it when run as root), "
        "or set RMTKIT_DATA_DIR to a folder with the idx files."
    )


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


class Split(NamedTuple):
    images: np.ndarray  # (n, 28, 28) uint8
    labels: np.ndarray  # (n,) uint8


def load_fashion_mnist(split: str = "train", data_dir: str | os.PathLike | None = None) -> Split:
    """Load the ``"train"`` (60,000) or ``"test"`` (10,000) split as raw uint8 images and labels."""
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}, got {split!r}")
    folder = fashion_mnist_dir(data_dir)
    images, labels = (read_idx(_find(folder, name)) for name in _FILES[split])
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels in the {split} split")
    return Split(images, labels)
