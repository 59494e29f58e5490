"""The ``.safetensors`` format: single files and Hugging Face model folders (one file, or shards with an index).

Read with a small reader of our own (the ``safetensors`` package is not needed): the header is
read at once, each tensor's bytes only when asked for (:class:`rmtkit.checkpoints.lazy.LazyTensor`);
bfloat16 and float8 included (through ``ml_dtypes``, which JAX ships).
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from rmtkit.checkpoints.hub import allowed_roots
from rmtkit.checkpoints.lazy import LazyTensor, UnsupportedTensor
from rmtkit.checkpoints.validation import CheckpointError, confined, int_list, load_json, open_regular

#: File suffixes this module reads.
SUFFIXES = (".safetensors",)
#: The format's dtype codes and the NumPy dtypes that hold them.
DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "C64": np.complex64,
}
#: Largest header read (bytes): a header declaring more is corrupt.
MAX_HEADER = 100 * 2**20
INDEX = "model.safetensors.index.json"


def _tensor_entry(path: Path, name: str, info: Any, data_size: int) -> tuple[Any, tuple[int, ...], int, int]:
    """Validate one header entry: ``(dtype or reason it is unsupported, shape, begin, end)``; raise if it lies."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: header entry is a {type(info).__name__}, not an object with dtype/shape/data_offsets")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        raise CheckpointError(f"{where}: header entry lacks {', '.join(missing)}")
    shape = int_list(info["shape"], None)
    if shape is None:
        raise CheckpointError(f"{where}: shape must be a list of non-negative integers, got {info['shape']!r}")
    offsets = int_list(info["data_offsets"], 2)
    if offsets is None or offsets[0] > offsets[1]:
        raise CheckpointError(f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end, "
                              f"got {info['data_offsets']!r}")
    begin, end = offsets
    if end > data_size:
        raise CheckpointError(f"{where}: data_offsets [{begin}, {end}] run past the data section "
                              f"({data_size} bytes): the file is truncated or corrupt")
    code = info["dtype"]
    if not isinstance(code, str):
        raise CheckpointError(f"{where}: dtype must be a string, got {code!r}")
    count = math.prod(shape)  # Python ints: a shape of 2**70 cannot overflow into a small size
    if code not in DTYPES:
        return f"dtype {code} is not supported by rmtkit", tuple(shape), begin, end
    dtype = np.dtype(DTYPES[code])
    if count * dtype.itemsize != end - begin:
        raise CheckpointError(f"{where}: shape {shape} of {code} needs {count * dtype.itemsize} bytes but "
                              f"data_offsets [{begin}, {end}] hold {end - begin}: the file is truncated or corrupt")
    return dtype, tuple(shape), begin, end


def read_safetensors(path: str | os.PathLike, *, lazy: bool = False) -> dict[str, Any]:
    """Read a ``.safetensors`` file into read-only NumPy views of a memory map (no copy), or lazily.

    With ``lazy=True`` each tensor is a :class:`~rmtkit.checkpoints.lazy.LazyTensor` (read on demand
    into its own memory): what :func:`rmtkit.checkpoints.load_weights` uses, so that resident memory
    never grows with the file.

    Everything is checked before a byte of data is read: the header is one JSON object without
    duplicate names; every entry has a string dtype, a shape of non-negative integers and
    ``data_offsets`` ``[begin, end]`` inside the data section whose size matches the shape; no two
    tensors overlap. A dtype rmtkit cannot hold becomes an :class:`UnsupportedTensor` (a skipped row).

    Raises:
        CheckpointError: naming the file (and the tensor): missing or unreadable file, not a regular
            file, truncated or corrupt header, duplicate names, offsets outside the data or
            overlapping, sizes that do not match the shape.
    """
    path = Path(path)
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path}: truncated safetensors file ({size} bytes, no header length)")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(MAX_HEADER, size - 8):
            raise CheckpointError(f"{path}: corrupt safetensors header (declares {header_len} bytes, file has {size})")
        header = load_json(f.read(header_len), path, "safetensors header")
        if not isinstance(header, dict):
            raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
        start = 8 + header_len
        entries = {name: _tensor_entry(path, name, info, size - start)
                   for name, info in header.items() if name != "__metadata__"}
        _check_no_overlap(path, entries)
        if lazy:
            return {name: UnsupportedTensor(shape, str(header[name]["dtype"]), dtype) if isinstance(dtype, str)
                    else LazyTensor(path, start + begin, shape, dtype)
                    for name, (dtype, shape, begin, _) in entries.items()}
        buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size > start else b""
    out: dict[str, np.ndarray | UnsupportedTensor] = {}
    for name, (dtype, shape, begin, _) in entries.items():
        if isinstance(dtype, str):
            out[name] = UnsupportedTensor(shape, str(header[name]["dtype"]), dtype)
        elif math.prod(shape) == 0:
            out[name] = np.empty(shape, dtype)
        else:
            out[name] = np.frombuffer(buffer, dtype, count=math.prod(shape), offset=start + begin).reshape(shape)
    return out


def _check_no_overlap(path: Path, entries: dict[str, tuple]) -> None:
    spans = sorted((begin, end, name) for name, (_, _, begin, end) in entries.items() if end > begin)
    for (b0, e0, n0), (b1, e1, n1) in itertools.pairwise(spans):
        if b1 < e0:
            raise CheckpointError(f"{path}: tensors {n0!r} (bytes {b0}..{e0}) and {n1!r} (bytes {b1}..{e1}) "
                                  "overlap: the header is corrupt")


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> None:
    """Write ``{name: array}`` as a ``.safetensors`` file (little-endian, C order)."""
    reverse = {np.dtype(v): k for k, v in DTYPES.items()}
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    arrays, offset = [], 0
    for name, value in tensors.items():
        a = np.ascontiguousarray(np.asarray(value))
        if a.dtype not in reverse:
            raise ValueError(f"tensor {name!r}: dtype {a.dtype} cannot be stored in safetensors")
        header[name] = {"dtype": reverse[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        arrays.append(a)
        offset += a.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for a in arrays:
            f.write(a.tobytes())


def read(path: Path) -> dict[str, Any]:
    """The reader of the format table: every tensor of the file, lazily."""
    return read_safetensors(path, lazy=True)


def read_folder(path: Path) -> dict[str, Any] | None:
    """A Hugging Face model folder: its index's shards, else every ``*.safetensors`` in it; None when it has none."""
    index = path / INDEX
    if index.exists():
        return _read_sharded(path, index)
    files = sorted(path.glob("*.safetensors"))
    roots = allowed_roots(path)
    if len(roots) > 1:  # a hub snapshot: every file a link into its repository's blobs, none leading elsewhere
        files = [confined(path, f, f.name, roots) for f in files]
    if files:
        return _merge_shards({f: read_safetensors(f, lazy=True) for f in files})[0]
    return None


def _read_sharded(folder: Path, index: Path) -> dict[str, Any]:
    """A Hugging Face sharded checkpoint: shards named by the index's ``weight_map``, each inside ``folder``."""
    with open_regular(index) as f:
        payload = load_json(f.read(), index, "safetensors index")
    weight_map = payload.get("weight_map") if isinstance(payload, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index}: not a safetensors index (expected an object whose weight_map maps "
                              "tensor names to shard file names)")
    roots = allowed_roots(folder)  # a hub snapshot's shards are links into its repository's blobs
    shards = {shard: confined(folder, index, shard, roots) for shard in dict.fromkeys(weight_map.values())}
    out, source = _merge_shards({shards[s]: read_safetensors(shards[s], lazy=True) for s in shards})
    missing = sorted(set(weight_map) - set(out))
    if missing:
        raise CheckpointError(f"{index}: {len(missing)} tensors listed but absent from the shards, e.g. {missing[0]!r}")
    misplaced = sorted(n for n, s in weight_map.items() if source[n] != shards[s])
    if misplaced:
        raise CheckpointError(f"{index}: tensor {misplaced[0]!r} is listed in one shard but stored in another")
    return out


def _merge_shards(shards: dict[Path, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Path]]:
    """One ``{name: tensor}`` from several files, and the file of each name; a name stored in two files is an error."""
    out: dict[str, Any] = {}
    source: dict[str, Path] = {}
    for file, tensors in shards.items():
        for name, tensor in tensors.items():
            if name in out:
                raise CheckpointError(f"tensor {name!r} is stored in both {source[name]} and {file}")
            out[name] = tensor
            source[name] = file
    return out, source
