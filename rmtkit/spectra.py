"""From weight matrices to their spectra: one dispatcher, the fastest correct path for the backend.

On a CPU backend the eigenvalues come from LAPACK on the host with BLAS held to one thread
(:func:`rmtkit._parallel.one_blas_thread`); elsewhere from the device's eigensolver. Two entry points
share that choice:

- :func:`matrix_spectra`, for the analyzer (and :func:`rmtkit.layer_spectra`): the eigenvalues of
  ``W^T W`` of every :class:`rmtkit.layers.Layer` (pooled over conv slices), or the reason a layer
  has none (NaN/Inf stored, entries the compute dtype cannot hold, an all-zero matrix, an
  underflowing Gram matrix). On CPU one matrix per task on a pool of threads; elsewhere same-shape
  matrices stacked and sent to the device in one batched call.
- :func:`leaf_spectra`, for the training controls (:mod:`rmtkit.optim`, and through it
  :mod:`rmtkit.prune`): the pooled eigenvalues of parameter leaves (rank-2 and Flax rank-4 kernels,
  :data:`rmtkit.matrices.CONTROL_KINDS`) inside a jitted step. On CPU a host callback to LAPACK
  (:func:`host_leaf_spectra`, float64, NaN for NaN/Inf weights); elsewhere XLA's eigensolver.
"""

from __future__ import annotations

from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np

from rmtkit._parallel import host_map, one_blas_thread
from rmtkit.layers import Layer
from rmtkit.matrices import CONTROL_KINDS, as_matrices, as_stack, matrix_kind
from rmtkit.spectrum import eigenvalues, eigenvalues_numpy

__all__ = ["as_compute", "device_leaf_spectrum", "host_leaf_spectra", "leaf_spectra", "matrix_spectra"]


class _NoProgress:
    def update(self, _):
        pass


def matrix_spectra(layers: list[Layer], dtype, normalize: bool, progress=None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Eigenvalues of every layer (pooled over conv slices), with the layers that have none and why.

    On a CPU backend the matrices go to LAPACK one per task on a pool of one thread per core, with
    BLAS itself single-threaded (:func:`rmtkit._parallel.host_map`): ~1.3x faster on MiniLM than
    one matrix at a time with multi-threaded BLAS. Elsewhere same-shape matrices are sent to the device
    in batched calls of at most :data:`DEVICE_CHUNK_BYTES` of stored weights, in their stored dtype, and
    upcast there: the host holds one chunk, not a float64 copy of every same-shape matrix of the model.
    """
    progress = progress or _NoProgress()
    if jax.default_backend() == "cpu":
        return _spectra_host(layers, dtype, normalize, progress)
    groups: dict[tuple, list[Layer]] = defaultdict(list)
    for layer in layers:
        groups[tuple(layer.matrices.shape)].append(layer)
    spectra, failures = {}, {}
    for group in groups.values():
        per_chunk = max(1, DEVICE_CHUNK_BYTES // max(1, _stored_bytes(group[0])))
        for start in range(0, len(group), per_chunk):
            chunk = group[start:start + per_chunk]
            good = []
            for layer in chunk:
                w, why = as_compute(layer, dtype, upcast=False)
                if why:
                    failures[layer.name] = why
                else:
                    good.append((layer, w))
            if good:
                stack = np.stack([w for _, w in good])
                del w
                good = [layer for layer, _ in good]
                ev = np.asarray(_device_eigenvalues(stack, np.dtype(dtype), normalize)).reshape(len(good), -1)
                del stack
                for layer, e in zip(good, ev, strict=True):
                    if not np.isfinite(e).all():
                        failures[layer.name] = _non_finite_reason(np.asarray(layer.matrices))
                    elif e.max() > 0:
                        spectra[layer.name] = np.sort(e)
                    else:
                        failures[layer.name] = _zero_reason(layer, dtype)
            progress.update(len(chunk))
    return spectra, failures


#: Stored bytes of same-shape matrices per batched device call (:func:`matrix_spectra` off the CPU backend).
DEVICE_CHUNK_BYTES = 1 << 30


def _stored_bytes(layer: Layer) -> int:
    return int(np.prod(layer.matrices.shape)) * np.dtype(layer.matrices.dtype).itemsize


def _device_eigenvalues(stack: np.ndarray, dtype: np.dtype, normalize: bool) -> jax.Array:
    """Eigenvalues of a stored-dtype stack, moved to the device as stored and upcast there."""
    return eigenvalues(jax.device_put(stack).astype(dtype), normalize=normalize, backend="jax")


def _spectra_host(layers, dtype, normalize, progress):
    def one(layer: Layer) -> np.ndarray | str:
        w, why = as_compute(layer, dtype, upcast=False)  # upcast in blocks inside the Gram product
        if why:
            return why
        try:
            ev = eigenvalues_numpy(w, dtype=dtype).reshape(-1) / (layer.n if normalize else 1)
        except FloatingPointError:
            return _non_finite_reason(w)
        except np.linalg.LinAlgError as err:
            return f"eigensolver failed: {err}"
        return ev if ev.max() > 0 else _zero_reason(layer, dtype)

    order = sorted(layers, key=lambda la: -la.matrices.size)  # largest first: none finishes last alone
    spectra, failures = {}, {}
    for layer, result in zip(order, host_map(one, order, on_done=lambda _: progress.update(1)), strict=True):
        if isinstance(result, str):
            failures[layer.name] = result
        else:
            spectra[layer.name] = np.sort(result)
    return spectra, failures


def as_compute(layer: Layer, dtype, upcast: bool = True) -> tuple[np.ndarray | None, str | None]:
    """The layer's matrices in the compute dtype, or why they cannot be: NaN/Inf stored, or entries the dtype cannot hold.

    ``upcast=False``: a matrix stored in a lower floating precision than ``dtype`` (float32 or bf16
    under float64) is returned as stored, every entry being representable in ``dtype``; the caller
    upcasts it piecewise (:func:`rmtkit.spectrum.eigenvalues_numpy`'s ``dtype``).
    """
    stored = np.asarray(layer.matrices)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is what is being checked
        if not (np.isfinite(stored.sum()) or np.isfinite(stored).all()):  # one cheap pass; a sum may overflow alone
            return None, _non_finite_reason(stored)
        if not upcast and stored.dtype != dtype and np.can_cast(stored.dtype, dtype, "safe"):
            return stored, None
        w = stored.astype(dtype, copy=False)
        fits = np.isfinite(w.sum()) or np.isfinite(w).all()
    if not fits:
        top = float(np.abs(stored.astype(np.float64)).max())
        return None, f"entries up to {top:.3g} overflow the compute precision {np.dtype(dtype).name} (use precision='float64')"
    return w, None


def _non_finite_reason(w: np.ndarray) -> str:
    bad = int((~np.isfinite(w)).sum())
    if bad:
        return f"{bad} NaN/Inf entries in the weights"
    return f"W^T W overflows {w.dtype} (entries up to {np.abs(w).max():.3g})"


def _zero_reason(layer: Layer, dtype) -> str:
    """Why every eigenvalue came out 0: the matrix is zero, or its Gram matrix underflows the compute dtype."""
    top = float(np.abs(np.asarray(layer.matrices, dtype=np.float64)).max())
    if top == 0:
        return "all-zero matrix: no spectrum to fit"
    return (f"W^T W underflows {np.dtype(dtype).name} (entries at most {top:.3g}): its eigenvalues are not "
            "representable; rescale W")


def _leaf_stack(leaf, turned: bool):
    """A balanced leaf's ``(k, rows, cols)`` matrices (Flax layout), turned to ``N >= M`` when ``turned``."""
    kind = matrix_kind("", leaf.ndim, CONTROL_KINDS)
    return (as_matrices if turned else as_stack)("", leaf, kind, "flax")


def device_leaf_spectrum(leaf: jax.Array) -> jax.Array:
    """Ascending pooled eigenvalues ``s^2`` of a balanced leaf (traceable; XLA's eigensolver)."""
    return jnp.sort(eigenvalues(_leaf_stack(leaf, False), normalize=False, backend="jax").reshape(-1))


def host_leaf_spectra(*mats: np.ndarray) -> list[np.ndarray]:
    """Ascending pooled float64 LAPACK eigenvalues of balanced leaves, on one BLAS thread (NaN for NaN/Inf weights)."""
    out = []
    with one_blas_thread():
        for a in mats:
            a = _leaf_stack(np.asarray(a, np.float64), True)
            try:
                ev = np.sort(eigenvalues_numpy(a).reshape(-1))
            except FloatingPointError:  # NaN/Inf weights: NaN spectrum, so NaN exponent and factor 1
                ev = np.full(a.shape[0] * a.shape[-1], np.nan)
            out.append(ev)
    return out


def leaf_spectra(leaves: list[jax.Array]) -> list[jax.Array]:
    """Ascending pooled eigenvalues of balanced leaves inside a jitted step, on the fastest correct path for the backend.

    On CPU, a host callback to LAPACK on one BLAS thread: XLA's CPU eigensolver calls the same
    LAPACK through SciPy's multi-threaded OpenBLAS from inside the compiled step, where its threads
    compete with XLA's own; on two busy cores that made one refresh of three 512 x 512 spectra cost
    about 1.5 CPU seconds instead of 0.03 (benchmarks/bench_optim.py). Elsewhere XLA's eigensolver.
    """
    if jax.default_backend() != "cpu":
        return [device_leaf_spectrum(leaf) for leaf in leaves]
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    shapes = []
    for leaf in leaves:
        k, rows, cols = _leaf_stack(np.broadcast_to(np.zeros((), np.float32), leaf.shape), False).shape
        shapes.append(jax.ShapeDtypeStruct((k * min(rows, cols),), dtype))
    host = jax.pure_callback(lambda *m: [e.astype(s.dtype) for e, s in zip(host_leaf_spectra(*m), shapes, strict=True)],
                             shapes, *leaves)
    return [h.astype(leaf.dtype) for h, leaf in zip(host, leaves, strict=True)]
