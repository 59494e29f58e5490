"""Compiled fits kept whole on disk, so that a new process skips tracing and lowering as well as compiling.

JAX's persistent compilation cache (:mod:`rmtkit.compile_cache`) saves only XLA's compile step: a new
process still traces and lowers every program before it can look the executable up, about 0.6 s for
the power-law fit and 0.5 s for the MP fit of a model's layers on a 2-core CPU. :func:`call` keeps the
compiled executable of the large fits beside that cache (``<cache>/rmtkit-executables``), keyed by
everything that could change it: the function, its static arguments, the shapes and dtypes of its
inputs, the versions of JAX, jaxlib and the backend, the device kind and (on a CPU) the processor's
features, and the source of the rmtkit package itself, so that an edited fit never loads an old
program. A new process deserializes it (~0.1 s) and runs the very same executable, so its numbers
are those of ``jax.jit``.

It is on wherever the compilation cache is on (``RMTKIT_JAX_CACHE``; ``off`` turns both off), and off
under a trace (a fit inside another jitted program is inlined there as before). A file that cannot
be read, loaded or run is a miss: the program is compiled again and the file rewritten, and kept only
if it loads back and gives the fresh executable's outputs bit for bit (:func:`call`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from pathlib import Path

import jax
import numpy as np

from rmtkit.atomic import write_atomically
from rmtkit.compile_cache import ENV

__all__ = ["call", "folder"]

#: Executables loaded or compiled by this process, by key (the jitted function's own cache, for the path around it).
_LOADED: dict[str, object] = {}


def folder() -> Path | None:
    """Where executables are kept: inside the compilation cache's folder when one is set, else None (off)."""
    if os.environ.get(ENV, "").lower() == "off":
        return None
    where = jax.config.jax_compilation_cache_dir
    return Path(where) / "rmtkit-executables" if where else None


@functools.lru_cache(maxsize=1)
def _environment() -> str:
    """What every key shares: versions, backend, device kind, CPU features, and rmtkit's own source (once a process)."""
    import jaxlib

    device = jax.devices()[0]
    parts = [jax.__version__, jaxlib.__version__, device.platform, device.client.platform_version, device.device_kind]
    if device.platform == "cpu":  # XLA compiles for this processor's instruction set
        try:
            flags = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")]
            parts.append(flags[0] if flags else "")
        except OSError:
            parts.append(os.uname().machine)
    digest = hashlib.sha256("\n".join(parts).encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(fn, args: tuple, static: dict) -> str:
    leaves = jax.tree.leaves(args)
    avals = [(np.shape(x), str(np.result_type(x)), isinstance(x, (int, float, complex, bool))) for x in leaves]
    text = repr((fn.__module__, fn.__qualname__, sorted(static.items()), str(jax.tree.structure(args)), avals,
                 jax.config.jax_enable_x64))  # read per call: a process may switch it after the first
    return hashlib.sha256((_environment() + text).encode()).hexdigest()[:40]


def _load(path: Path):
    from jax.experimental.serialize_executable import deserialize_and_load

    payload, in_tree, out_tree = pickle.loads(path.read_bytes())
    return deserialize_and_load(payload, in_tree, out_tree)


def _save(path: Path, compiled) -> None:
    from jax.experimental.serialize_executable import serialize

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, pickle.dumps(serialize(compiled), protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # a read-only or full disk, or a program XLA cannot serialize: run without saving it
        pass


def _compile(fn, args: tuple, static: dict):
    """XLA's own executable of ``fn``: one loaded from JAX's persistent cache cannot always be serialized again."""
    lowered = fn.lower(*args, **static)
    enabled = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        return lowered.compile()
    finally:
        jax.config.update("jax_enable_compilation_cache", enabled)


def _same(a, b) -> bool:
    """Whether two outputs (pytrees of arrays) are equal bit for bit, NaNs in the same places."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
                                      for x, y in zip(la, lb, strict=True))


def _run(compiled, args):
    out = compiled(*args)
    jax.block_until_ready(out)  # an executable that cannot run says so here, not later when read
    return out


def call(fn, *args, **static):
    """``fn(*args, **static)`` for a ``jax.jit``-ed ``fn`` whose keyword arguments are all static.

    With the cache on and concrete arguments, the executable is loaded from disk (or compiled and
    saved) and run; otherwise ``fn`` is called as usual. A saved executable is kept only if, loaded back
    from its file, it runs and gives the fresh one's outputs bit for bit: XLA's CPU compiler can reuse a
    kernel built earlier in the same process and then serialize the executable without it (it fails to
    run elsewhere with "Function ... not found"). A loaded executable that fails to run is deleted and
    the call made by ``fn``.
    """
    where = folder()
    if where is None or any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(args)):
        return fn(*args, **static)
    key = _key(fn, args, static)
    compiled = _LOADED.get(key)
    if compiled is not None:
        return compiled(*args)
    path = where / f"{key}.bin"
    try:
        compiled = _load(path)
        out = _run(compiled, args)
    except Exception:  # missing, torn, from a build that cannot load it, or unable to run: compile again
        path.unlink(missing_ok=True)
        compiled = _compile(fn, args, static)
        _save(path, compiled)  # before the first run: XLA's CPU executables cannot always be serialized after it
        out = _run(compiled, args)
        try:
            if not _same(_run(_load(path), args), out):
                raise ValueError("the saved executable gives other numbers")
        except Exception:
            path.unlink(missing_ok=True)
    _LOADED[key] = compiled
    return out
