"""The local Hugging Face hub cache: where a model id's files are, and how far a snapshot's links may lead.

The hub cache (``huggingface_hub``'s layout) keeps a repository ``org/name`` as

    <cache>/models--org--name/blobs/<hash>                       the files' bytes
    <cache>/models--org--name/snapshots/<revision>/<file>         symlinks to ../../blobs/<hash>
    <cache>/models--org--name/refs/main                           the revision of main

``<cache>`` is ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``. A
snapshot's files may resolve into their repository's ``blobs`` folder, and nowhere else
(:func:`allowed_roots`). Nothing is ever downloaded: a model id absent from the cache is an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rmtkit.checkpoints.validation import CheckpointError

#: ``org/name`` as the hub spells repository ids (letters, digits, ``-``, ``_``, ``.``; no ``..``).
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


def hub_cache() -> Path:
    """The hub cache folder: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def is_model_id(text: str) -> bool:
    """Whether ``text`` reads as a hub repository id ``org/name`` (and not as a path with ``..``)."""
    return MODEL_ID.fullmatch(text) is not None and ".." not in text


def snapshot_of(model_id: str) -> Path:
    """The snapshot folder of ``model_id`` in the local hub cache: the revision ``refs/main`` names, else the only one.

    Raises:
        CheckpointError: the model is not in the cache (nothing is downloaded), or several snapshots
            and no ``refs/main`` leave the revision open.
    """
    cache = hub_cache()
    repo = cache / f"models--{model_id.replace('/', '--')}"
    snapshots = repo / "snapshots"
    absent = (f"{model_id}: no such file or directory, and not in the local Hugging Face cache {cache} "
              "(set HF_HUB_CACHE or HF_HOME to another cache; nothing is downloaded)")
    try:
        main = repo / "refs" / "main"
        if main.is_file():
            folder = snapshots / main.read_text().strip()
            if folder.is_dir():
                return folder
        found = sorted(p for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    except OSError as err:
        raise CheckpointError(f"{absent} ({err.strerror or err})") from None
    if not found:
        raise CheckpointError(absent)
    if len(found) > 1:
        raise CheckpointError(f"{model_id}: {len(found)} snapshots in {snapshots} and no refs/main naming one: "
                              "pass the snapshot folder itself")
    return found[0]


def allowed_roots(folder: Path) -> list[Path]:
    """Where the files of a model ``folder`` may resolve to: the folder, and for a hub snapshot its repository's blobs."""
    roots = [folder.resolve()]
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        roots.append((folder.parent.parent / "blobs").resolve())
    return roots
