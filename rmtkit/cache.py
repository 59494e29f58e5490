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

Entries are written atomically (:func:`rmtkit.atomic.write_atomically`); a corrupt or unreadable entry
is a miss, recomputed and overwritten. Layers whose spectrum failed are not stored (the reason is
recomputed with them).
"""

from __future__ import annotations

import hashlib
import io as _bytes_io
import json
import os
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
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
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
        if hit is not None:
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
            write_atomically(folder / f"{keys[layer.name]}.npy", buffer.getvalue())
    return found | spectra, failures


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
        try:
            with np.load(self.file, allow_pickle=False) as z:
                identity = json.loads(str(z[_IDENTITY]))
                if identity != self.identity:  # the checkpoint changed (or another option set collided)
                    return {}
                self.stored = {k: z[k] for k in z.files if k != _IDENTITY}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return {}  # missing or corrupt: recomputed and overwritten
        return {layer.name: self.stored[key] for layer in self.layers
                if (key := self.tensor_key(layer)) in self.stored}

    def save(self, found: dict[str, np.ndarray], computed: dict[str, np.ndarray]) -> None:
        new = {self.tensor_key(layer): computed[layer.name] for layer in self.layers if layer.name in computed}
        if not new:
            return
        buffer = _bytes_io.BytesIO()
        np.savez(buffer, **{**self.stored, **new, _IDENTITY: np.array(json.dumps(self.identity))})
        write_atomically(self.file, buffer.getvalue())


def _content_key(layer: Layer, settings: dict) -> str:
    """SHA-256 of an in-memory layer's bytes, shape, dtype, name and the options."""
    a = np.ascontiguousarray(np.asarray(layer.matrices))
    h = hashlib.sha256(json.dumps([layer.name, list(a.shape), str(a.dtype), settings], sort_keys=True).encode())
    h.update(a.view(np.uint8).reshape(-1).data if a.size else b"")
    return "mem-" + h.hexdigest()[:40]


def _load_npy(path: Path) -> np.ndarray | None:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
