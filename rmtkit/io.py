"""Weights in, results out: every way a model reaches the analyzer, flattened to ``{name: array}``.

Sources: a Flax NNX module or its state, a Flax Linen params pytree, a (nested) dict of arrays,
a ``.safetensors`` file, a Hugging Face style directory (single or sharded ``*.safetensors`` with
its index), a ``.npz``, and a PyTorch state-dict file only when torch happens to be installed
(torch is never imported otherwise). Safetensors files are read with a small reader of our own
that memory-maps the file, so only the tensors analysed are ever paged in, bfloat16 and float8
included (through ``ml_dtypes``, which JAX ships).
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}
_MAX_HEADER = 100 * 2**20


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file and the problem."""


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``.safetensors`` file into read-only NumPy views of a memory map (no copy).

    Raises:
        CheckpointError: missing file, truncated or corrupt header, offsets past the end of the file,
            or an unknown dtype.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path}: truncated safetensors file ({size} bytes, no header length)")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(_MAX_HEADER, size - 8):
            raise CheckpointError(f"{path}: corrupt safetensors header (declares {header_len} bytes, file has {size})")
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path}: corrupt safetensors header ({err})") from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
        buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size > 0 else b""
    start = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except KeyError as err:
            raise CheckpointError(f"{path}: tensor {name!r} has an unknown dtype or missing field {err}") from None
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * dtype.itemsize or start + end > size:
            raise CheckpointError(
                f"{path}: tensor {name!r} needs bytes {begin}..{end} of the data section but the file "
                f"is truncated or corrupt ({size - start} data bytes)"
            )
        out[name] = np.frombuffer(buffer, dtype, count=count, offset=start + begin).reshape(shape)
    return out


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
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as err:
            raise CheckpointError(f"{index}: not a safetensors index ({err})") from None
        out: dict[str, np.ndarray] = {}
        for shard in dict.fromkeys(weight_map.values()):
            out.update(read_safetensors(path / shard))
        missing = sorted(set(weight_map) - set(out))
        if missing:
            raise CheckpointError(f"{index}: {len(missing)} tensors listed but absent from the shards, e.g. {missing[0]!r}")
        return out
    files = sorted(path.glob("*.safetensors"))
    if files:
        out = {}
        for f in files:
            out.update(read_safetensors(f))
        return out
    for name in ("pytorch_model.bin", "model.pt", "model.pth"):
        if (path / name).is_file():
            return _read_torch(path / name)
    raise CheckpointError(f"{path}: no *.safetensors (or index) and no pytorch_model.bin in this directory")


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
        return read_safetensors(path)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError) as err:
            raise CheckpointError(f"{path}: cannot read .npz ({err})") from None
    if suffix == ".npy":
        return {path.stem: np.load(path, allow_pickle=False)}
    if suffix in (".bin", ".pt", ".pth", ".ckpt"):
        return _read_torch(path)
    raise CheckpointError(f"{path}: unknown checkpoint format {suffix!r} (use .safetensors, .npz, a HF directory, "
                          "or a PyTorch .bin/.pt with torch installed)")


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
        out[sep.join(parts)] = leaf
    return out


def load_weights(source: Any) -> dict[str, np.ndarray | Any]:
    """Every tensor of ``source`` as a flat ``{name: array}`` (arrays stay lazy memory maps for files).

    Args:
        source: a path (``.safetensors``, ``.npz``, a HF directory, a PyTorch file), a Flax NNX
            module (its ``nnx.Param`` state is taken), an NNX state, a Linen params pytree, or a
            (nested) dict of arrays.

    Raises:
        CheckpointError: the path does not exist or cannot be read (the message says why).
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise CheckpointError(f"{path}: no such file or directory")
        return _read_directory(path) if path.is_dir() else _read_file(path)
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


def write_results(df: Any, path: str | os.PathLike | None, fmt: str, summary: Any = None) -> str:
    """Serialise an analysis table as ``csv`` (provenance in ``#`` comment lines), ``json`` or a text ``table``.

    Returns the text; writes it to ``path`` unless ``path`` is None. ``pandas.read_csv(path, comment="#")``
    reads the CSV back.
    """
    meta = results_metadata(df)
    if fmt == "json":
        payload = {**meta, "layers": json.loads(df.to_json(orient="records"))}
        if summary is not None:
            payload["summary"] = json.loads(summary.to_json())
        text = json.dumps(payload, indent=1)
    elif fmt == "csv":
        head = "".join(f"# {k}: {json.dumps(v)}\n" for k, v in meta.items())
        text = head + df.to_csv(index=False)
    elif fmt == "table":
        shown = [c for c in ("name", "shape", "num_evals", "alpha", "D", "num_spikes", "mp_softrank", "stable_rank",
                             "hard_rank", "phase", "status", "reason") if c in df.columns]
        text = df[shown].to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-") + "\n"
        if summary is not None:
            text += "\n" + summary.to_string(float_format=lambda v: f"{v:.3f}") + "\n"
        if meta:
            text += f"\nrmtkit {meta.get('version')}, {meta.get('convention')}, {meta.get('precision')}\n"
    else:
        raise ValueError(f"format must be 'table', 'csv' or 'json', got {fmt!r}")
    if path is not None:
        Path(path).write_text(text)
    return text
