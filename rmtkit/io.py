"""Weights in, results out: every way a model reaches the analyzer, flattened to ``{name: array}``.

Sources: a Flax NNX module or its state, a Flax Linen params pytree, a (nested) dict of arrays,
a ``.safetensors`` file, a Hugging Face style directory (single or sharded ``*.safetensors`` with
its index), a ``.npz``, and a PyTorch state-dict file only when torch happens to be installed
(torch is never imported otherwise). Safetensors files are read with a small reader of our own;
:func:`load_weights` returns :class:`LazyTensor` s for them: the header is read at once, each
tensor's bytes only when it is asked for (an offset read into memory of its own, released with the
array), so a model larger than the machine's memory is analysed one tensor at a time; bfloat16 and
float8 included (through ``ml_dtypes``, which JAX ships).
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "C64": np.complex64,
}
_MAX_HEADER = 100 * 2**20


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file (and the tensor) and the problem."""


@dataclass(frozen=True)
class UnsupportedTensor:
    """A tensor listed in a checkpoint whose data rmtkit cannot hold (e.g. a sub-byte dtype): a skipped row, with why."""

    shape: tuple[int, ...]
    dtype: str
    reason: str

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json`` object hook: a key given twice is an error (the last one would silently win)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(Exception):
    pass


def _load_json(raw: bytes | str, path: Path, what: str) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey as err:
        raise CheckpointError(f"{path}: {what} names {str(err.args[0])!r} twice (a duplicate JSON key)") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path}: corrupt {what} ({err})") from None


def _open_regular(path: Path):
    """Open a regular file for reading, or say why not (missing, a FIFO or device that could block, unreadable)."""
    try:
        if not path.exists():
            raise CheckpointError(f"{path}: no such file")
        if not path.is_file():
            raise CheckpointError(f"{path}: not a regular file (a FIFO, socket or device cannot be a checkpoint)")
        return open(path, "rb")  # noqa: SIM115 (the caller closes it)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read ({err.strerror or err})") from None


def _int_list(value: Any, length: int | None) -> list[int] | None:
    """``value`` as a list of non-negative ints (JSON ints only, not bools or floats), or None."""
    if not isinstance(value, list) or (length is not None and len(value) != length):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return None
    return value


def _tensor_entry(path: Path, name: str, info: Any, data_size: int) -> tuple[Any, tuple[int, ...], int, int]:
    """Validate one header entry: ``(dtype or reason it is unsupported, shape, begin, end)``; raise if it lies."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(info, dict):
        raise CheckpointError(f"{where}: header entry is a {type(info).__name__}, not an object with dtype/shape/data_offsets")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        raise CheckpointError(f"{where}: header entry lacks {', '.join(missing)}")
    shape = _int_list(info["shape"], None)
    if shape is None:
        raise CheckpointError(f"{where}: shape must be a list of non-negative integers, got {info['shape']!r}")
    offsets = _int_list(info["data_offsets"], 2)
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
    if code not in _SAFETENSORS_DTYPES:
        return f"dtype {code} is not supported by rmtkit", tuple(shape), begin, end
    dtype = np.dtype(_SAFETENSORS_DTYPES[code])
    if count * dtype.itemsize != end - begin:
        raise CheckpointError(f"{where}: shape {shape} of {code} needs {count * dtype.itemsize} bytes but "
                              f"data_offsets [{begin}, {end}] hold {end - begin}: the file is truncated or corrupt")
    return dtype, tuple(shape), begin, end


class LazyArray:
    """An array known by its ``shape`` and ``dtype`` whose data are produced only by :meth:`read` / ``np.asarray``.

    :func:`rmtkit.layers.extract_layers` keeps such tensors lazy (a layer is read when it is
    analysed, and dropped after); subclasses: :class:`LazyTensor`, :class:`rmtkit.compare.WeightDelta`.
    """

    shape: tuple[int, ...]
    dtype: np.dtype

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
        with _open_regular(self.path) as f:
            f.seek(self.offset)
            done = 0
            while done < len(view):
                n = f.readinto(view[done:done + _READ_CHUNK])
                if not n:
                    raise CheckpointError(f"{self.path}: file ended {len(view) - done} bytes early while reading a "
                                          "tensor (it was changed or truncated after its header was read)")
                done += n
        return out


_READ_CHUNK = 2**30


def read_safetensors(path: str | os.PathLike, *, lazy: bool = False) -> dict[str, Any]:
    """Read a ``.safetensors`` file into read-only NumPy views of a memory map (no copy), or lazily.

    With ``lazy=True`` each tensor is a :class:`LazyTensor` (read on demand into its own memory,
    see above): what :func:`load_weights` uses, so that resident memory never grows with the file.

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
    with _open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path}: truncated safetensors file ({size} bytes, no header length)")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(_MAX_HEADER, size - 8):
            raise CheckpointError(f"{path}: corrupt safetensors header (declares {header_len} bytes, file has {size})")
        header = _load_json(f.read(header_len), path, "safetensors header")
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
    reverse = {np.dtype(v): k for k, v in _SAFETENSORS_DTYPES.items()}
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


def _read_directory(path: Path) -> dict[str, np.ndarray]:
    index = path / "model.safetensors.index.json"
    if index.exists():
        return _read_sharded(path, index)
    files = sorted(path.glob("*.safetensors"))
    if files:
        return _merge_shards({f: read_safetensors(f, lazy=True) for f in files})[0]
    for name in ("pytorch_model.bin", "model.pt", "model.pth"):
        if (path / name).is_file():
            return _read_torch(path / name)
    raise CheckpointError(f"{path}: no *.safetensors (or index) and no pytorch_model.bin in this directory")


def _read_sharded(folder: Path, index: Path) -> dict[str, np.ndarray]:
    """A Hugging Face sharded checkpoint: shards named by the index's ``weight_map``, each inside ``folder``."""
    with _open_regular(index) as f:
        payload = _load_json(f.read(), index, "safetensors index")
    weight_map = payload.get("weight_map") if isinstance(payload, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index}: not a safetensors index (expected an object whose weight_map maps "
                              "tensor names to shard file names)")
    shards = {shard: _confined(folder, index, shard) for shard in dict.fromkeys(weight_map.values())}
    out, source = _merge_shards({shards[s]: read_safetensors(shards[s], lazy=True) for s in shards})
    missing = sorted(set(weight_map) - set(out))
    if missing:
        raise CheckpointError(f"{index}: {len(missing)} tensors listed but absent from the shards, e.g. {missing[0]!r}")
    misplaced = sorted(n for n, s in weight_map.items() if source[n] != shards[s])
    if misplaced:
        raise CheckpointError(f"{index}: tensor {misplaced[0]!r} is listed in one shard but stored in another")
    return out


def _confined(folder: Path, index: Path, shard: str) -> Path:
    """The shard's path, refused unless it is a plain relative name that resolves inside ``folder``."""
    rel = Path(shard)
    if not shard or rel.is_absolute() or ".." in rel.parts or "\0" in shard:
        raise CheckpointError(f"{index}: shard path {shard!r} must be relative and stay inside {folder}")
    full = folder / rel
    try:
        inside = full.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError) as err:  # symlink loops, names too long
        raise CheckpointError(f"{index}: shard path {shard!r} cannot be resolved ({err})") from None
    if not inside:
        raise CheckpointError(f"{index}: shard path {shard!r} leads outside {folder} (a symlink escaping the model folder)")
    return full


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


def _read_torch(path: Path) -> dict[str, np.ndarray]:
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


def _read_file(path: Path) -> dict[str, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return read_safetensors(path, lazy=True)
    if suffix in (".npz", ".npy"):
        with _open_regular(path) as f:  # a FIFO named .npz would block np.load forever
            return _read_numpy(path, f, suffix)
    if suffix in (".bin", ".pt", ".pth", ".ckpt"):
        _open_regular(path).close()
        return _read_torch(path)
    raise CheckpointError(f"{path}: unknown checkpoint format {suffix!r} (use .safetensors, .npz, a HF directory, "
                          "or a PyTorch .bin/.pt with torch installed)")


def _read_numpy(path: Path, f, suffix: str) -> dict[str, np.ndarray]:
    """Every array of an open ``.npz`` / ``.npy`` file, read now (a truncated member fails here, naming it)."""
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


def flatten_tree(tree: Any, sep: str = ".") -> dict[str, Any]:
    """Flatten a nested mapping / pytree of arrays into ``{"a.b.c": leaf}`` (JAX key paths joined by ``sep``)."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape") and hasattr(x, "dtype"))[0]
    out = {}
    for path, leaf in leaves:
        parts = []
        for k in path:
            for attr in ("key", "name", "idx"):
                if hasattr(k, attr):
                    parts.append(str(getattr(k, attr)))
                    break
            else:
                parts.append(str(k))
        # NNX states end in a Variable's ``value``: drop that implementation detail from names.
        if parts and parts[-1] in ("value", "raw_value"):
            parts = parts[:-1]
        name = sep.join(parts)
        if name in out:  # {"a": {"b": x}} and {"a.b": y} both flatten to "a.b": one would be lost
            raise CheckpointError(f"two tensors flatten to the same name {name!r} (nested keys joined by {sep!r} "
                                  "collide with a key that contains it)")
        out[name] = leaf
    return out


def load_weights(source: Any) -> dict[str, np.ndarray | Any]:
    """Every tensor of ``source`` as a flat ``{name: array}`` (:class:`LazyTensor` s for safetensors files).

    Args:
        source: a path (``.safetensors``, ``.npz``, a HF directory, a PyTorch file), a Flax NNX
            module (its ``nnx.Param`` state is taken), an NNX state, a Linen params pytree, or a
            (nested) dict of arrays.

    Raises:
        CheckpointError: the path does not exist or cannot be read (the message says why).
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            if not path.exists():
                raise CheckpointError(f"{path}: no such file or directory")
            return _read_directory(path) if path.is_dir() else _read_file(path)
        except OSError as err:  # a name too long, a permission denied on a folder: say so, with the path
            raise CheckpointError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax is a dependency
        nnx = None
    if nnx is not None and isinstance(source, nnx.Module):
        source = nnx.state(source, nnx.Param)
    if isinstance(source, Mapping) or _is_pytree(source):
        flat = flatten_tree(source)
        if not flat:
            raise CheckpointError("the model has no array leaves")
        return flat
    raise CheckpointError(f"cannot read weights from a {type(source).__name__}")


def _is_pytree(x: Any) -> bool:
    import jax

    return len(jax.tree_util.tree_leaves(x)) > 0


def results_metadata(df: Any) -> dict[str, Any]:
    """The provenance :func:`rmtkit.analyze` stores in ``df.attrs["rmtkit"]`` (version, options, convention)."""
    return dict(df.attrs.get("rmtkit", {}))


def write_results(df: Any, path: str | os.PathLike | None, fmt: str, summary: Any = None, **table_options: Any) -> str:
    """Serialise an analysis table as ``csv``, ``json`` or a text ``table``; :func:`read_results` reads csv/json back.

    - ``csv``: a plain CSV (``pandas.read_csv(path)`` reads it); when written to ``path``, the
      provenance (``df.attrs["rmtkit"]``), the column dtypes and the summary go to the sidecar
      ``<path>.meta.json`` (:func:`results_sidecar`).
    - ``json``: one object: the provenance keys (``version``, ``options``, ``convention``,
      ``precision``), ``dtypes``, ``layers`` (one record per row; counts as integers, NaN as null)
      and ``summary``.
    - ``table``: text for a terminal (:func:`rmtkit.table.format_table`, given ``table_options``).

    Returns the text; writes it to ``path`` unless ``path`` is None, atomically (a temporary file in
    the same folder, flushed to disk, then renamed over ``path``): a reader sees the old file or the
    new one, never half of one. Names that are not valid UTF-8 (lone surrogates from a checkpoint's
    JSON) are written backslash-escaped. ``df`` is an :class:`rmtkit.analysis.Analysis` or its table.
    """
    from rmtkit.analysis import as_frame

    df = as_frame(df)
    meta = results_metadata(df)
    dtypes = {str(c): str(t) for c, t in df.dtypes.items()}
    df = df.map(_escape)
    if fmt == "json":
        payload = {**meta, "dtypes": dtypes, "layers": json.loads(_with_integers(df).to_json(orient="records"))}
        if summary is not None:
            payload["summary"] = json.loads(summary.to_json())
        text = json.dumps(payload, indent=1)
    elif fmt == "csv":
        text = _with_integers(df).to_csv(index=False)
    elif fmt == "table":
        from rmtkit.table import format_table

        text = format_table(df, summary, **table_options)
    else:
        raise ValueError(f"format must be 'table', 'csv' or 'json', got {fmt!r}")
    if path is not None:
        write_atomically(path, text.encode("utf-8"))
        if fmt == "csv":
            side = {"rmtkit": meta, "dtypes": dtypes}
            if summary is not None:
                side["summary"] = json.loads(summary.to_json())
            write_atomically(results_sidecar(path), json.dumps(side, indent=1).encode("utf-8"))
    return text


def results_sidecar(path: str | os.PathLike) -> Path:
    """Where :func:`write_results` puts a CSV's provenance, dtypes and summary: ``<path>.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def _with_integers(df: Any) -> Any:
    """``df`` with its count columns (:data:`rmtkit.analyzer.INTEGER_COLUMNS`) as nullable integers, when they hold only integers."""
    import pandas as pd

    from rmtkit.analyzer import INTEGER_COLUMNS

    df = df.copy()
    for col in INTEGER_COLUMNS:
        if col in df.columns and df[col].dtype.kind in "fiu":
            values = df[col].to_numpy(dtype=float, na_value=np.nan)
            finite = values[np.isfinite(values)]
            if np.isnan(values).sum() + finite.size == values.size and np.all(finite == np.round(finite)):
                df[col] = pd.array([None if np.isnan(v) else int(v) for v in values], dtype="Int64")
    return df


def read_results(path: str | os.PathLike) -> Any:
    """Read a table written by :func:`write_results` (``.csv`` with its sidecar, or ``.json``).

    Restores the column order and dtypes, missing values (None in text columns, NaN in numbers)
    and the provenance in ``df.attrs["rmtkit"]``; the summary, when one was written, is in
    ``df.attrs["rmtkit_summary"]``. A CSV without its sidecar reads with pandas' own dtypes and
    empty ``attrs``.

    Raises:
        ValueError: ``path`` is neither ``.csv`` nor ``.json``, or the JSON is not a results file.
    """
    import pandas as pd

    path = Path(path)
    if path.suffix == ".json":
        payload = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(payload, dict) or "layers" not in payload:
            raise ValueError(f"{path}: not an rmtkit results file (no 'layers')")
        dtypes = payload.get("dtypes", {})
        df = pd.DataFrame.from_records(payload["layers"], columns=list(dtypes) or None)
        meta = {k: v for k, v in payload.items() if k not in ("layers", "dtypes", "summary")}
        summary = payload.get("summary")
    elif path.suffix == ".csv":
        side_path = results_sidecar(path)
        side = json.loads(side_path.read_text(encoding="utf-8")) if side_path.exists() else {}
        dtypes = side.get("dtypes", {})
        text_cols = {c: object for c, t in dtypes.items() if t == "object"}
        df = pd.read_csv(path, dtype=text_cols or None, keep_default_na=False, na_values=[""])
        meta, summary = side.get("rmtkit", {}), side.get("summary")
    else:
        raise ValueError(f"{path}: results are read from .csv or .json, got {path.suffix!r}")
    for col, dtype in dtypes.items():
        if col not in df.columns:
            df[col] = None
        if dtype == "object":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        else:
            df[col] = df[col].astype(dtype)
    if dtypes:
        df = df[list(dtypes)]
    from rmtkit.analyzer import RENAMED_COLUMNS

    df = df.rename(columns=RENAMED_COLUMNS)  # a file written before a column got its current name
    if summary is not None:
        summary = {f"mean_{RENAMED_COLUMNS.get(k[5:], k[5:])}" if k.startswith("mean_") else k: v
                   for k, v in summary.items()}
    if meta:
        df.attrs["rmtkit"] = meta
    if summary is not None:
        df.attrs["rmtkit_summary"] = summary
    return df


def _escape(value: Any) -> Any:
    """A string with lone surrogates (not encodable as UTF-8) backslash-escaped; anything else unchanged."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and rename.

    Raises:
        OSError: the folder is missing or not writable, the disk is full; ``path`` is then untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
