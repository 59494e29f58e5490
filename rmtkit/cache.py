"""A folder of eigenvalues, so that re-analysing a checkpoint with other fit options skips the eigensolver.

The eigenvalues of a layer depend on its weights and on three options only: ``normalize`` (the
convention), ``precision`` and ``conv_layout``; the fits (``pl_method``, ``pl_xmax``, ...) start
from them. :func:`cached_spectra` looks each layer up before computing and stores what it
computed, keyed by

- for a tensor of a checkpoint file (:class:`rmtkit.checkpoints.LazyTensor`): the file's resolved path, size
  and SHA-256 of its bytes (:func:`rmtkit.checkpoints.identity.file_digest`; never the size and
  modification time alone: a same-size rewrite with its time restored is another checkpoint) and
  the tensor's name, offset, shape and dtype. One ``.npz`` per checkpoint file and option set holds
  its layers; when the file's content differs from the one recorded, every entry of that file is
  dropped and rewritten (a changed checkpoint never serves stale eigenvalues);
- for arrays in memory (a Flax model, a dict, a ``.npz``): a SHA-256 of the bytes, shape and dtype,
  one ``.npy`` per layer.

Entries are written atomically (:func:`rmtkit.atomic.write_atomically`); a corrupt or unreadable entry,
one that is not a regular file (a FIFO is never opened) and one that cannot be the layer's spectrum
(:func:`usable`: another length, 2-D, empty, NaN) is a miss, recomputed and overwritten; an entry that
cannot be written (a folder in its place, a full disk) is left out with a warning. The folder
is checked before anything is computed (:func:`check_cache_folder`). Layers whose spectrum failed are not stored (the reason is
recomputed with them).
"""

from __future__ import annotations

import hashlib
import io as _bytes_io
import json
import math
import os
import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rmtkit.atomic import write_atomically
from rmtkit.checkpoints.identity import file_digest
from rmtkit.checkpoints.lazy import LazyTensor
from rmtkit.layers import Layer

#: Bumped when the way eigenvalues are computed changes, so that older entries are not reused.
FORMAT = 1
_IDENTITY = "__identity__"

Spectra = tuple[dict[str, np.ndarray], dict[str, str]]


def cached_spectra(
    compute: Callable[[list[Layer]], Spectra],
    layers: list[Layer],
    folder: str | os.PathLike | None,
    *,
    normalize: bool,
    precision: str,
    conv_layout: str,
    progress: Any = None,
) -> Spectra:
    """``compute(layers)`` (``({name: eigenvalues}, {name: why it failed})``), reusing and filling ``folder``.

    Args:
        compute: the eigensolver over a list of layers, called once with the layers not found.
        layers: the layers to analyse.
        folder: the cache folder (created if missing); None computes everything and stores nothing.
        normalize, precision, conv_layout: the options the eigenvalues depend on (part of every key).
        progress: a bar with ``update(n)``, told of the layers found in the cache.

    Returns:
        The eigenvalues of every layer with a spectrum (found or computed) and the failures.
    """
    if folder is None:
        return compute(layers)
    folder = check_cache_folder(folder)
    settings = {"format": FORMAT, "normalize": bool(normalize), "precision": str(precision),
                "conv_layout": str(conv_layout)}
    files: dict[Path, list[Layer]] = {}
    in_memory: list[Layer] = []
    for layer in layers:
        tensor = getattr(layer.matrices, "tensor", None)
        if isinstance(tensor, LazyTensor):
            files.setdefault(Path(tensor.path), []).append(layer)
        else:
            in_memory.append(layer)
    found: dict[str, np.ndarray] = {}
    stores = [_FileEntry(folder, path, group, settings) for path, group in files.items()]
    for store in stores:
        found |= store.load()
    keys = {layer.name: _content_key(layer, settings) for layer in in_memory}
    for layer in in_memory:
        hit = _load_npy(folder / f"{keys[layer.name]}.npy")
        if hit is not None and usable(hit, layer, settings["normalize"]):
            found[layer.name] = hit
    if progress is not None and found:
        progress.update(len(found))
    todo = [layer for layer in layers if layer.name not in found]
    spectra, failures = compute(todo) if todo else ({}, {})
    for store in stores:
        store.save(found, spectra)
    for layer in in_memory:
        if layer.name in spectra:
            buffer = _bytes_io.BytesIO()
            np.save(buffer, spectra[layer.name], allow_pickle=False)
            _store(folder / f"{keys[layer.name]}.npy", buffer.getvalue())
    return found | spectra, failures


def _store(path: Path, data: bytes) -> None:
    """Write one entry; an entry that cannot be written (a folder in its place, a full disk) costs the caching
    of that entry, never the analysis: a warning names it."""
    try:
        write_atomically(path, data)
    except OSError as err:
        warnings.warn(f"spectra cache: {path} not written ({err}); the analysis goes on without it", stacklevel=3)


class _FileEntry:
    """The cached layers of one checkpoint file under one option set: ``<sha256 of path and options>.npz``."""

    def __init__(self, folder: Path, path: Path, layers: list[Layer], settings: dict):
        self.path = path.resolve()
        self.identity = {"path": str(self.path), "size": self.path.stat().st_size,
                         "sha256": file_digest(self.path), **settings}
        where = json.dumps({"path": str(self.path), **settings}, sort_keys=True)
        self.file = folder / f"{hashlib.sha256(where.encode()).hexdigest()[:32]}.npz"
        self.layers = layers
        self.stored: dict[str, np.ndarray] = {}  # valid entries already in the file (kept when it is rewritten)

    @staticmethod
    def tensor_key(layer: Layer) -> str:
        t = layer.matrices.tensor
        described = json.dumps([layer.name, t.offset, list(t.shape), str(t.dtype), list(layer.matrices.shape)])
        return "t" + hashlib.sha256(described.encode()).hexdigest()[:40]  # a plain member name inside the .npz

    def load(self) -> dict[str, np.ndarray]:
        if not _regular(self.file):  # missing, or a FIFO or device that could block: a miss, replaced when saved
            return {}
        try:
            with np.load(self.file, allow_pickle=False) as z:
                identity = json.loads(str(z[_IDENTITY]))
                if identity != self.identity:  # the checkpoint changed (or another option set collided)
                    return {}
                self.stored = {k: z[k] for k in z.files if k != _IDENTITY}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return {}  # missing or corrupt: recomputed and overwritten
        return {layer.name: self.stored[key] for layer in self.layers
                if (key := self.tensor_key(layer)) in self.stored
                and usable(self.stored[key], layer, self.identity["normalize"])}

    def save(self, found: dict[str, np.ndarray], computed: dict[str, np.ndarray]) -> None:
        new = {self.tensor_key(layer): computed[layer.name] for layer in self.layers if layer.name in computed}
        if not new:
            return
        buffer = _bytes_io.BytesIO()
        np.savez(buffer, **{**self.stored, **new, _IDENTITY: np.array(json.dumps(self.identity))})
        _store(self.file, buffer.getvalue())


def _content_key(layer: Layer, settings: dict) -> str:
    """SHA-256 of an in-memory layer's bytes, shape, dtype, name and the options."""
    a = np.ascontiguousarray(np.asarray(layer.matrices))
    h = hashlib.sha256(json.dumps([layer.name, list(a.shape), str(a.dtype), settings], sort_keys=True).encode())
    h.update(a.view(np.uint8).reshape(-1).data if a.size else b"")
    return "mem-" + h.hexdigest()[:40]


def check_cache_folder(folder: str | os.PathLike, label: str = "spectra cache") -> Path:
    """``folder`` as a usable cache folder, created if missing; checked before any eigenvalue is computed.

    Raises:
        ValueError: ``folder`` (or a folder above it) is a file, or it cannot be created or written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise NotADirectoryError(20, "exists and is not a folder")
        probe = folder / f".probe.{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except FileExistsError:
        raise ValueError(f"{label} {folder}: exists and is not a folder") from None
    except NotADirectoryError:
        raise ValueError(f"{label} {folder}: not a folder (it or a folder above it is a file)") from None
    except OSError as err:
        raise ValueError(f"{label} {folder}: cannot be written ({err.strerror or err})") from None
    return folder


def usable(eigenvalues: np.ndarray, layer: Layer, normalize: bool | None = None) -> bool:
    """Whether a stored spectrum can be ``layer``'s: one finite, non-negative, non-zero float per eigenvalue.

    A layer of ``k`` matrices ``N x M`` has ``k min(N, M)`` eigenvalues; an entry of another length,
    2-D, empty, NaN or not a float array (a damaged or foreign file) is a miss, recomputed and overwritten.
    With ``normalize`` given, the eigenvalues must also sum to the layer's squared Frobenius norm (divided
    by ``N`` when normalized; to 1e-3), as those of ``W^T W`` do: an entry of the right length but other
    values (all ones) is a miss too. That costs one pass over the weights, less than the content hash.
    """
    shape = tuple(layer.matrices.shape)
    expected = math.prod(shape[:-2]) * min(shape[-2:]) if len(shape) >= 2 else -1
    ok = (isinstance(eigenvalues, np.ndarray) and eigenvalues.dtype.kind == "f" and eigenvalues.shape == (expected,)
          and bool(np.isfinite(eigenvalues).all()) and eigenvalues.min() >= 0 and eigenvalues.max() > 0)
    if not ok or normalize is None:
        return ok
    flat = np.asarray(layer.matrices).reshape(-1, shape[-1])  # in the stored dtype
    rows = max(1, 2**22 // max(1, shape[-1]))  # float64 blocks of ~32 MB
    total = 0.0
    for start in range(0, flat.shape[0], rows):
        block = flat[start:start + rows].astype(np.float64).ravel()
        total += float(block @ block)
    total /= max(shape[-2:]) if normalize else 1
    return bool(np.isclose(float(np.sum(eigenvalues, dtype=np.float64)), total, rtol=1e-3, atol=0))


def _regular(path: Path) -> bool:
    """A regular file (links followed): only those are opened, so a FIFO at an entry's path never blocks the run."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _load_npy(path: Path) -> np.ndarray | None:
    if not _regular(path):
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
