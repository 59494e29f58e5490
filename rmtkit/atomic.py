"""One way to write a file so that a reader sees the old content or the new, never half of one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and rename.

    Raises:
        OSError: the folder is missing or not writable, the disk is full; ``path`` is then untouched.
    """
    write_together({path: data})


@contextlib.contextmanager
def replacing(path: str | os.PathLike, *, shared: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on leaving the block it is fsynced and renamed over ``path``.

    For writers that want a path of their own (``write_safetensors``, ``np.savez``). After the rename
    the folder is fsynced too, so that the rename itself survives a power cut. If the block raises,
    the temporary file is removed and ``path`` is untouched; a process killed inside the block
    leaves ``path`` as it was and the temporary file beside it.

    ``shared``: other processes may write ``path`` at the same time (a cache shared by jobs), so the
    temporary file is ``.NAME.PID.tmp``, this process's own. ``shared=False`` (one writer per path, as
    a training run's folder has): ``.NAME.tmp``, which the next writer overwrites, so a killed
    writer's leftover does not stay beside the file.

    Raises:
        OSError: the folder is missing or not writable, the disk is full; ``path`` is then untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp" if shared else f".{path.name}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_together(files: dict[str | os.PathLike, bytes]) -> None:
    """Write several files (a result and its sidecar) so that none is replaced unless every one could be written.

    Every file's bytes go to a temporary file beside it, flushed to disk; only when all are written
    are they renamed over their paths, one after the other. A full disk or a missing folder leaves
    every path as it was. (Between two renames a crash can still leave a new file beside an old
    one: readers of such pairs check that they belong together, e.g.
    :func:`rmtkit.results.read_results`.)

    Raises:
        OSError: a folder is missing or not writable, the disk is full; no path is then touched.
    """
    pending: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            pending.append((tmp, path))
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        while pending:
            tmp, path = pending[0]
            os.replace(tmp, path)
            pending.pop(0)
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
