"""Eigenvalue extraction against NumPy's LAPACK, both conventions, both methods."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmtkit


@pytest.mark.parametrize("backend", ["auto", "numpy", "jax"])
@pytest.mark.parametrize("method", ["gram", "svd"])
@pytest.mark.parametrize("normalize", [True, False])
def test_eigenvalues_match_numpy(method, normalize, backend):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 90, 60))
    ev = np.asarray(rmtkit.eigenvalues(w, normalize=normalize, method=method, backend=backend))
    ref = np.linalg.eigvalsh(np.swapaxes(w, -1, -2) @ w) / (90 if normalize else 1)
    assert ev.shape == (3, 60)
    np.testing.assert_allclose(ev, ref, rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(ev, axis=-1) >= 0)


def test_wide_matrix_is_transposed():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((40, 100))
    np.testing.assert_allclose(rmtkit.eigenvalues(w), rmtkit.eigenvalues(w.T), rtol=1e-12)
    assert rmtkit.eigenvalues(w).shape == (40,)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_float32_stays_float32(backend):
    w = jnp.ones((8, 4), jnp.float32) + jnp.eye(8, 4, dtype=jnp.float32)
    assert rmtkit.eigenvalues(w, backend=backend).dtype == jnp.float32


def test_inside_jit_uses_the_jax_path():
    w = np.random.default_rng(5).standard_normal((2, 30, 20))
    inside = jax.jit(lambda x: rmtkit.eigenvalues(x))(w)
    np.testing.assert_allclose(inside, rmtkit.eigenvalues(w, backend="numpy"), rtol=1e-10)
    with pytest.raises(ValueError, match="cannot run inside jit"):
        jax.jit(lambda x: rmtkit.eigenvalues(x, backend="numpy"))(w)


def test_bad_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        rmtkit.eigenvalues(np.ones((3, 3)), method="qr")
    with pytest.raises(ValueError, match="backend must be one of"):
        rmtkit.eigenvalues(np.ones((3, 3)), backend="torch")
    bad = np.ones((2, 30, 20))
    bad[1, 3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        rmtkit.eigenvalues(bad, backend="numpy")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., N, M\)"):
        rmtkit.eigenvalues(np.ones(3))


def test_host_map_keeps_order_limits_blas_and_propagates_errors():
    from threadpoolctl import threadpool_info

    from rmtkit._parallel import host_map

    done, seen_threads = [], []

    def work(i):
        seen_threads.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
        return i * i

    assert host_map(work, range(7), workers=2, on_done=done.append) == [i * i for i in range(7)]
    assert sorted(done) == list(range(7)) and all(t <= {1} for t in seen_threads)
    assert host_map(work, []) == []

    def fail(i):
        if i == 3:
            raise RuntimeError("item 3")
        return i

    with pytest.raises(RuntimeError, match="item 3"):
        host_map(fail, range(5))


@pytest.mark.parametrize("stored", ["float32", "bfloat16"])
def test_host_gram_upcasts_in_blocks(stored, monkeypatch):
    import tracemalloc

    import ml_dtypes

    import rmtkit.spectrum as spectrum

    dtype = np.float32 if stored == "float32" else ml_dtypes.bfloat16
    x = (np.random.default_rng(0).standard_t(4, (4000, 200)) * 0.02).astype(dtype)
    whole = spectrum.eigenvalues_numpy(x.astype(np.float64))
    monkeypatch.setattr(spectrum, "UPCAST_BLOCK_BYTES", 200 * 8 * 333)  # 333 rows a block, a ragged last one
    tracemalloc.start()
    ev = spectrum.eigenvalues_numpy(x, dtype=np.float64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ev.dtype == np.float64
    np.testing.assert_allclose(ev, whole, rtol=0, atol=1e-13 * whole.max())
    assert peak < 0.25 * x.size * 8  # never a float64 copy of W (6.4 MB); blocks of 0.53 MB and the Gram matrix
