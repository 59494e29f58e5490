"""Eigenvalues of weight matrices, batched: the ESD that every fit starts from (docs/theory.md#spectra)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from rmtkit._parallel import cpu_count, host_map
from rmtkit.batch import as_float

METHODS = ("gram", "svd")
BACKENDS = ("auto", "numpy", "jax")


def eigenvalues(w: ArrayLike, *, normalize: bool = True, method: str = "gram", backend: str = "auto") -> jax.Array:
    """Ascending eigenvalues of ``X = W^T W (/ N)`` for one matrix or a stack of same-shape matrices.

    ``W`` is transposed if needed so that ``N >= M`` (docs/theory.md#spectra), and ``M`` eigenvalues are
    returned per matrix.

    Args:
        w: ``(..., N, M)`` matrices.
        normalize: divide by ``N`` (``lambda = s^2 / N``, [MM-JMLR]) or not (``lambda = s^2``,
            [MPM-NC] and WeightWatcher). Say which in anything you publish.
        method: ``"gram"`` forms ``W^T W`` and calls the symmetric eigensolver (fast; zero
            eigenvalues carry round-off of order ``M eps lambda_max``), ``"svd"`` squares the
            singular values (slower, accurate near zero: use it for hard ranks).
        backend: ``"numpy"`` (LAPACK through NumPy), ``"jax"`` (XLA, jitted, batched; the path on
            GPU and inside ``jit``), or ``"auto"``: NumPy for concrete arrays on a CPU backend,
            where LAPACK is about 3x faster than XLA's CPU eigensolver and matmul (see
            ``benchmarks/bench_mp_fit.py``), JAX otherwise.

    Returns:
        ``(..., M)`` eigenvalues as a JAX array, ascending, in ``w``'s float dtype; round-off
        negatives set to 0.

    Raises:
        ValueError: bad arguments; on the NumPy path also NaN/Inf in ``w`` (or ``W^T W`` overflowing).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if np.ndim(w) < 2:
        raise ValueError(f"w must have shape (..., N, M), got {np.shape(w)}")
    traced = isinstance(w, jax.core.Tracer)
    if backend == "auto":
        backend = "numpy" if not traced and jax.default_backend() == "cpu" else "jax"
    if backend == "numpy" and traced:
        raise ValueError("backend='numpy' cannot run inside jit/vmap; use backend='jax'")
    xp = np if backend == "numpy" else jnp
    w = as_float(w, xp)
    if w.shape[-2] < w.shape[-1]:
        w = xp.swapaxes(w, -1, -2)
    scale = w.shape[-2] if normalize else 1
    if backend == "numpy":
        flat = w.reshape((-1,) + w.shape[-2:])
        try:  # a stack goes across the threads (single-threaded BLAS), ~1.15x faster than in turn; many small
            # matrices (FARMS windows) in a few runs of consecutive ones, not one task each (~1.6x)
            runs = np.array_split(flat, min(len(flat), 4 * cpu_count()))
            ev = np.concatenate(host_map(lambda x: eigenvalues_numpy(x, method), runs)) if len(flat) > 1 \
                else eigenvalues_numpy(flat, method)
        except FloatingPointError as err:
            raise ValueError(f"w has NaN/Inf entries or overflows in W^T W ({err})") from None
        return jnp.asarray(ev.reshape(w.shape[:-2] + ev.shape[-1:]) / scale)
    return _eigenvalues_jax(w, method, scale)


#: Rows per block when :func:`eigenvalues_numpy` upcasts ``W`` while forming ``W^T W`` (bounded copies).
UPCAST_BLOCK_BYTES = 32 * 2**20


def _gram(x: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    """``x^T x`` in ``dtype``; a lower-precision ``x`` is upcast in blocks of rows, never whole."""
    if dtype is None or x.dtype == dtype:
        return x.T @ x  # one BLAS call per matrix: a stacked matmul of a transposed view falls off the BLAS path
    rows = max(1, UPCAST_BLOCK_BYTES // (x.shape[1] * np.dtype(dtype).itemsize))
    g = np.zeros((x.shape[1], x.shape[1]), dtype)
    for start in range(0, x.shape[0], rows):
        block = x[start:start + rows].astype(dtype)
        g += block.T @ block
    return g


def eigenvalues_numpy(w: np.ndarray, method: str = "gram", dtype: np.dtype | None = None) -> np.ndarray:
    """LAPACK eigenvalues of ``W^T W`` for ``(..., N, M)`` float NumPy matrices with ``N >= M``, ascending.

    The host path of :func:`eigenvalues` (no normalisation, no transposition). Raises
    ``FloatingPointError`` when ``W^T W`` is not finite (NaN/Inf entries or overflow), checked on its
    trace, which costs ``O(M)`` instead of a pass over ``W``. ``dtype`` (``"gram"`` only): the
    precision of ``W^T W`` and its eigenvalues when ``W`` is stored in a lower one (float32, bf16): ``W``
    is upcast in blocks of rows as the Gram matrix is formed, so no upcast copy of ``W`` is held.
    """
    flat = w.reshape((-1,) + w.shape[-2:])
    if method == "gram":
        grams = [_gram(x, None if dtype is None else np.dtype(dtype)) for x in flat]
        if not all(np.isfinite(np.trace(g)) for g in grams):
            raise FloatingPointError("W^T W is not finite")
        ev = np.stack([np.linalg.eigvalsh(g) for g in grams])
    else:
        if not np.isfinite(flat.sum()):
            raise FloatingPointError("W is not finite")
        ev = np.linalg.svd(flat, compute_uv=False)[..., ::-1] ** 2
    return np.clip(ev, 0, None).reshape(w.shape[:-2] + ev.shape[-1:])


@jax.jit(static_argnames=("method", "scale"))
def _eigenvalues_jax(w: jax.Array, method: str, scale: int) -> jax.Array:
    if method == "gram":
        ev = jnp.linalg.eigvalsh(jnp.swapaxes(w, -1, -2) @ w)
    else:
        ev = jnp.linalg.svd(w, compute_uv=False)[..., ::-1] ** 2
    return jnp.clip(ev, 0, None) / scale


def farms_windows(n: int, m: int, *, size: int = 100, q: float = 1.0, per_dim: int = 10) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Where the FARMS windows of an ``N x M`` matrix (``N >= M``) lie (Hu et al., ICML 2025; docs/theory.md#farms).

    Each window is ``rows x cols`` with ``cols = min(size, M, floor(N / q))`` and ``rows = round(q cols)``,
    so every window has the same aspect ratio ``q`` whatever the matrix's. Along each dimension of
    length ``L`` holding windows of length ``l``, ``k = min(L - l + 1, max(per_dim, ceil(L / l)))``
    starts are spread evenly from ``0`` to ``L - l`` (rounded): consecutive windows overlap or touch,
    so every entry of the matrix lies in at least one window; the grid of row and column starts gives
    ``k_rows k_cols`` windows.

    Args:
        n, m: the matrix's shape, ``N >= M``.
        size: the window's short side (the paper's code: 100 rows).
        q: the windows' aspect ratio ``rows / cols >= 1``.
        per_dim: windows along each dimension at least (the paper's code: 10).

    Returns:
        ``(row_starts, col_starts, rows, cols)``: two ``(num_windows,)`` integer arrays and the window shape.

    >>> r, c, rows, cols = farms_windows(300, 120, size=100, per_dim=2)
    >>> r.tolist(), c.tolist(), (rows, cols)
    ([0, 0, 100, 100, 200, 200], [0, 20, 0, 20, 0, 20], (100, 100))
    """
    if n < m:
        raise ValueError(f"farms_windows needs N >= M, got {n} x {m}")
    if size < 1 or per_dim < 1 or not q >= 1:
        raise ValueError(f"need size >= 1, per_dim >= 1 and q >= 1, got size={size}, per_dim={per_dim}, q={q}")
    cols = max(1, min(int(size), m, int(n // q)))
    rows = min(n, int(round(q * cols)))

    def starts(length: int, window: int) -> np.ndarray:
        k = min(length - window + 1, max(per_dim, -(-length // window)))
        return np.round(np.linspace(0, length - window, k)).astype(int)

    r, c = np.meshgrid(starts(n, rows), starts(m, cols), indexing="ij")
    return r.ravel(), c.ravel(), rows, cols


@jax.jit(static_argnames=("rows", "cols"))
def window_stack(w: jax.Array, row_starts: jax.Array, col_starts: jax.Array, rows: int, cols: int) -> jax.Array:
    """The ``(num_windows, rows, cols)`` submatrices of one ``(N, M)`` matrix at the given starts (vmapped, jittable)."""
    return jax.vmap(lambda r, c: jax.lax.dynamic_slice(w, (r, c), (rows, cols)))(row_starts, col_starts)


def farms_eigenvalues(w: ArrayLike, *, size: int = 100, q: float = 1.0, per_dim: int = 10, normalize: bool = False,
                      rtol: float = 0.0, backend: str = "auto") -> jax.Array:
    """The FARMS ESD: eigenvalues of every fixed-aspect-ratio window of ``W``, pooled (Hu et al., ICML 2025).

    Hu, Goel, Killiakov, Yang, "Eigenspectrum Analysis of Neural Networks without Aspect Ratio Bias",
    ICML 2025: the ESD of a matrix depends on its aspect ratio, so exponents of matrices of different
    shapes are compared on the pooled ESD of same-shape submatrices instead (docs/theory.md#farms).
    Windows as :func:`farms_windows`; each window's ``W_w^T W_w`` by :func:`eigenvalues` (``normalize``
    divides by the window's rows), all of them concatenated and sorted.

    Args:
        w: ``(N, M)`` or ``(k, N, M)`` matrices, transposed if needed so that ``N >= M`` (the ``k``
            slices of a conv layer are windowed alike and pooled).
        size, q, per_dim: the windows (:func:`farms_windows`).
        normalize: ``lambda = s^2 / rows`` per window instead of ``s^2``.
        rtol: eigenvalues whose singular value is at most ``rtol`` times its window's largest are set
            to 0 (null at the data's precision, :mod:`rmtkit.resolution`); the fits leave zeros out.
        backend: as :func:`eigenvalues` (NumPy/LAPACK on a CPU, where XLA's batched eigensolver is
            ~50x slower on 100 x 100 windows; JAX, jittable, elsewhere).

    Returns:
        ``(k num_windows cols,)`` eigenvalues, ascending, in ``w``'s float dtype.
    """
    if np.ndim(w) not in (2, 3):
        raise ValueError(f"w must have shape (N, M) or (k, N, M), got {np.shape(w)}")
    if np.shape(w)[-2] < np.shape(w)[-1]:
        w = (np if backend == "numpy" or not isinstance(w, jax.Array) else jnp).swapaxes(w, -1, -2)
    n, m = np.shape(w)[-2:]
    r, c, rows, cols = farms_windows(n, m, size=size, q=q, per_dim=per_dim)
    mats = w if np.ndim(w) == 3 else w[None]
    if backend == "auto":
        backend = "numpy" if not isinstance(w, jax.core.Tracer) and jax.default_backend() == "cpu" else "jax"
    if backend == "numpy":
        mats = np.asarray(mats)
        stack = np.concatenate([np.lib.stride_tricks.sliding_window_view(x, (rows, cols))[r, c] for x in mats])
    else:
        mats = jnp.asarray(mats)
        stack = jnp.concatenate([window_stack(x, jnp.asarray(r), jnp.asarray(c), rows, cols) for x in mats])
    xp = np if backend == "numpy" else jnp  # host arrays stay on the host: no small XLA programs per shape
    ev = xp.asarray(eigenvalues(stack, normalize=normalize, backend=backend))
    if rtol > 0:
        top = ev[:, -1:]
        ev = xp.where(xp.sqrt(ev / xp.where(top > 0, top, 1)) <= rtol, 0, ev)
    return jnp.asarray(xp.sort(ev.reshape(-1)))
