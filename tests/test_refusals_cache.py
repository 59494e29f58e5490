"""Issue 23: the spectra cache trusts a checkpoint only by its content, and a bad entry is never used.

Each test failed before its fix: a same-size rewrite with its modification time restored served the
old eigenvalues; a FIFO at an entry's path hung the run; an entry of the wrong length was used and
marked ok, a 2-D or empty one crashed; an unusable ``--spectra`` folder failed after the analysis.
"""

import os

import numpy as np

from rmtkit import checkpoints
from rmtkit.cache import cached_spectra
from rmtkit.layers import extract_layers

OPTS = {"normalize": False, "precision": "float64", "conv_layout": "auto"}


class Solver:
    """NumPy's eigvalsh of W^T W per layer, counting the layers it was asked for."""

    def __init__(self):
        self.asked: list[str] = []

    def __call__(self, layers):
        self.asked += [layer.name for layer in layers]
        out = {}
        for layer in layers:
            w = np.asarray(layer.matrices, np.float64)
            out[layer.name] = np.sort(np.concatenate([np.linalg.eigvalsh(x.T @ x) for x in w]))
        return out, {}


def write(path, seed):
    rng = np.random.default_rng(seed)
    checkpoints.write_safetensors(path, {"a.kernel": rng.standard_normal((60, 40)).astype(np.float32)})


def layers_of(path):
    return extract_layers(checkpoints.load_weights(path))[0]


def test_same_size_rewrite_with_its_time_restored_is_not_served_stale_spectra(tmp_path):
    path, cache = tmp_path / "m.safetensors", tmp_path / "cache"
    write(path, seed=0)
    cached_spectra(Solver(), layers_of(path), cache, **OPTS)
    stat = path.stat()
    write(path, seed=1)  # another checkpoint of the same size ...
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... its modification time restored (cp -p, rsync -t)
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    solver = Solver()
    spectra, _ = cached_spectra(solver, layers_of(path), cache, **OPTS)
    assert solver.asked == ["a.kernel"]
    w = checkpoints.read_safetensors(path)["a.kernel"].astype(np.float64)
    np.testing.assert_allclose(spectra["a.kernel"], np.linalg.eigvalsh(w.T @ w), rtol=1e-10)  # the new weights'
    again = Solver()
    cached_spectra(again, layers_of(path), cache, **OPTS)
    assert again.asked == []  # the same bytes: a hit
