"""The spectra cache: hits return the very eigenvalues computed before; a changed checkpoint or option misses."""

import os

import numpy as np
import pytest

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


def checkpoint(path, seed=0):
    rng = np.random.default_rng(seed)
    checkpoints.write_safetensors(path, {"a.kernel": rng.standard_normal((60, 40)).astype(np.float32),
                                "b.kernel": rng.standard_normal((3, 3, 16, 24)).astype(np.float32),
                                "bias": np.zeros(40, np.float32)})


def test_second_run_reuses_every_spectrum_of_a_file(tmp_path):
    path, cache = tmp_path / "m.safetensors", tmp_path / "cache"
    checkpoint(path)
    first, second = Solver(), Solver()
    layers = extract_layers(checkpoints.load_weights(path))[0]
    spectra, _ = cached_spectra(first, layers, cache, **OPTS)
    again, failures = cached_spectra(second, extract_layers(checkpoints.load_weights(path))[0], cache, **OPTS)
    assert sorted(first.asked) == ["a.kernel", "b.kernel"] and second.asked == [] and failures == {}
    for name in spectra:
        np.testing.assert_array_equal(again[name], spectra[name])  # bit for bit
    w = checkpoints.read_safetensors(path)["a.kernel"].astype(np.float64)  # independent: singular values squared
    np.testing.assert_allclose(np.sort(again["a.kernel"]), np.sort(np.linalg.svd(w, compute_uv=False) ** 2), rtol=1e-9)
    assert len(list(cache.glob("*.npz"))) == 1  # one entry file per checkpoint file and option set


def test_changed_checkpoint_or_option_invalidates(tmp_path):
    path, cache = tmp_path / "m.safetensors", tmp_path / "cache"
    checkpoint(path, seed=0)
    cached_spectra(Solver(), extract_layers(checkpoints.load_weights(path))[0], cache, **OPTS)
    checkpoint(path, seed=1)  # same names and shapes, other weights
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a rewrite within the clock's tick still differs
    solver = Solver()
    spectra, _ = cached_spectra(solver, extract_layers(checkpoints.load_weights(path))[0], cache, **OPTS)
    assert sorted(solver.asked) == ["a.kernel", "b.kernel"]
    w = checkpoints.read_safetensors(path)["a.kernel"].astype(np.float64)
    np.testing.assert_allclose(spectra["a.kernel"], np.linalg.eigvalsh(w.T @ w), rtol=1e-10)  # the new weights'
    other = Solver()
    cached_spectra(other, extract_layers(checkpoints.load_weights(path))[0], cache, **{**OPTS, "precision": "float32"})
    assert sorted(other.asked) == ["a.kernel", "b.kernel"]  # another precision: another entry


def test_partial_runs_add_up_and_a_corrupt_entry_is_a_miss(tmp_path):
    path, cache = tmp_path / "m.safetensors", tmp_path / "cache"
    checkpoint(path)
    weights = checkpoints.load_weights(path)
    cached_spectra(Solver(), extract_layers(weights, layers=["a.kernel"])[0], cache, **OPTS)
    solver = Solver()
    cached_spectra(solver, extract_layers(weights)[0], cache, **OPTS)
    assert solver.asked == ["b.kernel"]
    third = Solver()
    cached_spectra(third, extract_layers(weights)[0], cache, **OPTS)
    assert third.asked == []  # the first entry was kept when the second was added
    (entry,) = cache.glob("*.npz")
    entry.write_bytes(b"not a zip file")
    fourth = Solver()
    cached_spectra(fourth, extract_layers(weights)[0], cache, **OPTS)
    assert sorted(fourth.asked) == ["a.kernel", "b.kernel"]


def test_arrays_in_memory_are_keyed_by_content(tmp_path):
    rng = np.random.default_rng(2)
    w = {"fc": rng.standard_normal((50, 30))}
    first, second, third = Solver(), Solver(), Solver()
    cached_spectra(first, extract_layers(w)[0], tmp_path, **OPTS)
    cached_spectra(second, extract_layers({"fc": w["fc"].copy()})[0], tmp_path, **OPTS)
    changed = w["fc"].copy()
    changed[0, 0] += 1e-12
    cached_spectra(third, extract_layers({"fc": changed})[0], tmp_path, **OPTS)
    assert (first.asked, second.asked, third.asked) == (["fc"], [], ["fc"])


def test_no_folder_computes_everything(tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoint(path)
    solver = Solver()
    cached_spectra(solver, extract_layers(checkpoints.load_weights(path))[0], None, **OPTS)
    cached_spectra(solver, extract_layers(checkpoints.load_weights(path))[0], None, **OPTS)
    assert len(solver.asked) == 4 and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("bad", ["normalize", "conv_layout"])
def test_every_option_the_eigenvalues_depend_on_is_in_the_key(tmp_path, bad):
    path, cache = tmp_path / "m.safetensors", tmp_path / "cache"
    checkpoint(path)
    cached_spectra(Solver(), extract_layers(checkpoints.load_weights(path))[0], cache, **OPTS)
    other = {**OPTS, bad: True if bad == "normalize" else "flax"}
    solver = Solver()
    cached_spectra(solver, extract_layers(checkpoints.load_weights(path), conv_layout=other["conv_layout"])[0], cache, **other)
    assert sorted(solver.asked) == ["a.kernel", "b.kernel"]


@pytest.mark.slow
def test_analyze_with_a_cache_equals_a_fresh_analysis_with_other_fit_options(tmp_path):
    import pandas as pd

    import rmtkit

    path = tmp_path / "m.safetensors"
    rng = np.random.default_rng(7)
    checkpoints.write_safetensors(path, {f"l{i}.kernel": rng.standard_t(3, size=(90, 60)).astype(np.float32) for i in range(3)})
    cache = tmp_path / "cache"
    rmtkit.analyze(path, spectra_cache=cache, progress=False)  # fills the cache (pl_method="csn")
    assert len(list(cache.glob("*.npz"))) == 1
    reused = rmtkit.analyze(path, spectra_cache=cache, pl_method="auto", progress=False).to_frame()
    fresh = rmtkit.analyze(path, pl_method="auto", progress=False).to_frame()
    pd.testing.assert_frame_equal(reused, fresh)
    assert rmtkit.layer_spectra(path, spectra_cache=cache)["l1.kernel"].tolist() == \
        np.sort(rmtkit.layer_spectra(path)["l1.kernel"]).tolist()


@pytest.mark.parametrize("normalize", [False, True])
def test_an_entry_of_the_right_length_but_other_values_is_a_miss(tmp_path, normalize):
    """Eigenvalues of W^T W sum to ||W||_F^2 (/ N normalized): 20 ones in place of a 40 x 20 layer's are refused."""
    from rmtkit.cache import usable

    w = np.random.default_rng(4).standard_normal((40, 20))
    (layer,) = extract_layers({"w": w})[0]
    ev = np.sort(np.linalg.eigvalsh(w.T @ w)) / (40 if normalize else 1)
    assert usable(ev, layer, normalize)
    assert not usable(np.ones(20), layer, normalize)
    assert not usable(ev, layer, not normalize)  # the other scale
    assert usable(np.ones(20), layer)  # without the option only the shape and values are checked
