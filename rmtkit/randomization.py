"""The randomized baseline of ``analyze(..., randomize=True)``: every ``W`` shuffled elementwise, and compared.

Shuffling the entries of a matrix keeps their distribution and destroys their correlations, so the shuffled
ESD is what the layer would show without learned structure ([MM-JMLR]; WeightWatcher's ``randomize``).
Each layer is shuffled on the host with NumPy, seeded by the analysis seed and the layer's name
(:func:`rmtkit.diagnostics.layer_seed`), so a layer's baseline does not depend on which other layers were
selected. The shuffle is made in the stored dtype (one copy of the layer) and the Gram matrix is formed in the
compute dtype in blocks of rows, as for the layer's own spectrum; the layers are decomposed side by side
(:func:`rmtkit._parallel.host_map`, single-threaded BLAS).
"""

from __future__ import annotations

import numpy as np

from rmtkit._parallel import host_map
from rmtkit.analysis import AnalyzeOptions, Randomization
from rmtkit.batch import host_scalar, pad_spectra, to_host
from rmtkit.diagnostics import layer_seed
from rmtkit.layers import Layer
from rmtkit.marchenko_pastur import fit_marchenko_pastur
from rmtkit.spectrum import eigenvalues_numpy
from rmtkit.status import FitStatus

__all__ = ["randomization_baseline", "shuffled_spectrum"]


def shuffled_spectrum(layer: Layer, seed: int, dtype, normalize: bool) -> np.ndarray:
    """Ascending eigenvalues of ``W^T W`` (``N >= M``; ``/ N`` with ``normalize``) of the layer's matrices with
    their entries shuffled (all ``k`` slices of a conv layer together), in ``dtype``."""
    w = np.array(layer.matrices)  # a copy in the stored dtype, shuffled in place
    flat = w.reshape(-1)
    np.random.default_rng(layer_seed(seed, layer.name)).shuffle(flat)
    if w.shape[-2] < w.shape[-1]:
        w = np.swapaxes(w, -1, -2)
    ev = eigenvalues_numpy(w, dtype=np.dtype(dtype)).reshape(-1)
    return np.sort(ev / (w.shape[-2] if normalize else 1))


def randomization_baseline(layers: list[Layer], spectra: list[np.ndarray], opts: AnalyzeOptions,
                           dtype) -> tuple[Randomization, dict[str, dict]]:
    """Shuffle each ``W`` elementwise (seeded), and compare: its MP edge, correlation traps, ESD distance.

    Returns the shuffled spectra with their MP fits, and the table columns of each layer.

    A correlation trap is an eigenvalue of the *shuffled* matrix beyond its own MP threshold
    (``l+ + 3 Delta_TW``): shuffling destroys correlations, so what survives it comes from a few very
    large entries. ``rand_distance`` is the two-sample KS distance between the ESDs of ``W`` and of
    its shuffle.
    """
    order = sorted(range(len(layers)), key=lambda i: -layers[i].matrices.size)  # largest first
    done = host_map(lambda i: shuffled_spectrum(layers[i], opts.seed, dtype, opts.normalize), order)
    shuffled = [None] * len(layers)
    for i, ev in zip(order, done, strict=True):
        shuffled[i] = ev
    evals, lengths = pad_spectra(shuffled, dtype=dtype)
    q = np.array([layer.n / layer.m for layer in layers], dtype)
    fit = fit_marchenko_pastur(evals, q, lengths=lengths, pooled=[layer.matrices.shape[0] for layer in layers])
    fit = to_host(fit)
    out = {}
    for i, layer in enumerate(layers):
        a, b = spectra[i], shuffled[i]
        grid = np.concatenate([a, b])
        dist = np.max(np.abs(np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size))
        ok = int(fit.status[i]) == FitStatus.OK  # a failed fit of the shuffle counts no trap: NaN, not -1
        spikes = int(fit.num_spikes[i]) if ok else np.nan
        out[layer.name] = {"rand_lambda_plus": host_scalar(fit.lambda_plus[i]), "rand_num_spikes": spikes,
                           "correlation_traps": spikes, "rand_distance": float(dist)}
    return Randomization(evals, lengths, fit), out
