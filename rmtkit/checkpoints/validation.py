"""The rules every checkpoint reader applies before it trusts a file: what may be opened, what JSON may say.

A checkpoint is untrusted input. Each rule raises :class:`CheckpointError` naming the file (and,
where there is one, the tensor) and the problem, before a byte of tensor data is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file (and the tensor) and the problem."""


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json`` object hook: a key given twice is an error (the last one would silently win)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def load_json(raw: bytes | str, path: Path, what: str) -> Any:
    """Parse ``raw`` (the ``what`` of ``path``), refusing duplicate keys and corrupt text with a :class:`CheckpointError`."""
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey as err:
        raise CheckpointError(f"{path}: {what} names {str(err.args[0])!r} twice (a duplicate JSON key)") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path}: corrupt {what} ({err})") from None


def open_regular(path: Path):
    """Open a regular file for reading, or say why not (missing, a FIFO or device that could block, unreadable)."""
    try:
        if not path.exists():
            raise CheckpointError(f"{path}: no such file")
        if not path.is_file():
            raise CheckpointError(f"{path}: not a regular file (a FIFO, socket or device cannot be a checkpoint)")
        return open(path, "rb")  # noqa: SIM115 (the caller closes it)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read ({err.strerror or err})") from None


def int_list(value: Any, length: int | None) -> list[int] | None:
    """``value`` as a list of non-negative ints (JSON ints only, not bools or floats), or None."""
    if not isinstance(value, list) or (length is not None and len(value) != length):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return None
    return value


def confined(folder: Path, index: Path, member: str, roots: list[Path] | None = None) -> Path:
    """``folder / member``, refused unless ``member`` is a plain relative name that resolves inside ``folder``.

    ``index`` is the file that named it (for the message): a model folder's index must not lead the
    reader outside the folder, by ``..``, an absolute path or a symlink. ``roots`` (resolved
    folders) replaces ``folder`` as where the file may resolve to: a hub snapshot's links lead into
    its repository's ``blobs`` (:func:`rmtkit.checkpoints.hub.allowed_roots`).
    """
    rel = Path(member)
    if not member or rel.is_absolute() or ".." in rel.parts or "\0" in member:
        raise CheckpointError(f"{index}: shard path {member!r} must be relative and stay inside {folder}")
    full = folder / rel
    try:
        target = full.resolve()
        inside = any(target.is_relative_to(root) for root in (roots or [folder.resolve()]))
    except (OSError, RuntimeError) as err:  # symlink loops, names too long
        raise CheckpointError(f"{index}: shard path {member!r} cannot be resolved ({err})") from None
    if not inside:
        raise CheckpointError(f"{index}: shard path {member!r} leads outside {folder} (a symlink escaping the model folder)")
    return full
