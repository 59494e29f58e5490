"""The randomized baseline: each layer shuffled on the host, seeded by the seed and its name."""

import numpy as np
import pytest

import rmtkit
from rmtkit.layers import Layer
from rmtkit.randomization import shuffled_spectrum


def _layer(name, w):
    return Layer(name=name, kind="dense", shape=w.shape, dtype=str(w.dtype), matrices=w[None])


def test_shuffle_keeps_the_entries_and_is_keyed_by_seed_and_name():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((300, 40)) * np.linspace(0.1, 3, 40)).astype(np.float32)  # correlated columns
    ev = shuffled_spectrum(_layer("a", w), 7, np.float64, normalize=False)
    assert ev.shape == (40,) and np.all(np.diff(ev) >= 0)
    # the trace of W^T W is the sum of the squared entries, which a shuffle keeps
    assert ev.sum() == pytest.approx(np.sum(w.astype(np.float64) ** 2), rel=1e-12)
    own = np.linalg.eigvalsh(w.T.astype(np.float64) @ w.astype(np.float64))
    assert not np.allclose(ev, own, rtol=1e-3)  # the column scales are mixed: another spectrum
    np.testing.assert_array_equal(ev, shuffled_spectrum(_layer("a", w), 7, np.float64, normalize=False))
    assert not np.array_equal(ev, shuffled_spectrum(_layer("b", w), 7, np.float64, normalize=False))
    assert not np.array_equal(ev, shuffled_spectrum(_layer("a", w), 8, np.float64, normalize=False))
    np.testing.assert_allclose(shuffled_spectrum(_layer("a", w), 7, np.float64, normalize=True), ev / 300)
    np.testing.assert_array_equal(w, w.copy())  # the layer's own array is left as it was


def test_randomize_columns_do_not_depend_on_the_selection():
    rng = np.random.default_rng(1)
    weights = {f"l{i}": rng.standard_normal((200, 60 + 10 * i)) for i in range(3)}
    full = rmtkit.analyze(weights, randomize=True, seed=3, progress=False).to_frame().set_index("name")
    one = rmtkit.analyze({"l1": weights["l1"]}, randomize=True, seed=3, progress=False).to_frame().set_index("name")
    for col in ("rand_lambda_plus", "rand_distance", "correlation_traps"):
        assert one.loc["l1", col] == full.loc["l1", col]
    # Gaussian layers: the shuffle is Gaussian too, so no trap and an ESD close to the layer's own
    assert (full.correlation_traps == 0).all() and (full.rand_distance < 0.2).all()
