"""JAX's persistent compilation cache for rmtkit's compiled fits, in the CLI and the Python API alike.

A new process then loads the executables of the fits from disk instead of compiling them again (seconds on
every first call). The folder is ``$RMTKIT_JAX_CACHE`` (default ``~/.cache/rmtkit/jax``); ``RMTKIT_JAX_CACHE=off``
turns it off. A folder the user gave JAX itself (``JAX_COMPILATION_CACHE_DIR`` or
``jax.config.update("jax_compilation_cache_dir", ...)``) is kept, with JAX's own thresholds.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV", "enable_compilation_cache"]

#: The environment variable naming the folder, or ``off``.
ENV = "RMTKIT_JAX_CACHE"


def enable_compilation_cache() -> str | None:
    """Point JAX's persistent compilation cache at rmtkit's folder, unless it is off or already set.

    Called by :func:`rmtkit.analyze` and the CLI before any fit is compiled; cheap when repeated.

    Returns:
        The cache folder in use, or None when the cache is off.
    """
    where = os.environ.get(ENV, str(Path.home() / ".cache" / "rmtkit" / "jax"))
    if where.lower() == "off":
        return None
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # the fits compile in well under 1 s each
    return where
