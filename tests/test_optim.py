"""rmtkit.optim: TempBalance and AlphaDecay as optax transformations.

The toy model's matrices are built with prescribed eigenvalues ``lambda_i = c^i`` (i = 0..59), whose
Hill exponent at the median has the closed form ``alpha = 1 + 30 / (435 ln c)``
(tail i = 30..59: ``sum ln(lambda_i / lambda_30) = ln c * (0 + ... + 29) = 435 ln c``). Tolerances:
the exponents are stored in float32 (rel. 1e-6), the eigenvalues come from float64 LAPACK/XLA.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from rmtkit import fit_power_law
from rmtkit.optim import (
    ExponentState,
    alpha_decay,
    exponent_factors,
    hill_median_alpha,
    layer_exponents,
    matrix_leaves,
    temperature_balance,
)
from rmtkit.spectrum import eigenvalues


def matrix_with_evals(evals, rows, seed):
    """``rows x len(evals)`` matrix whose ``W^T W`` has exactly the eigenvalues ``evals``."""
    rng = np.random.default_rng(seed)
    m = len(evals)
    u, _ = np.linalg.qr(rng.standard_normal((rows, m)))
    v, _ = np.linalg.qr(rng.standard_normal((m, m)))
    return u @ np.diag(np.sqrt(evals)) @ v.T


def geometric(alpha):
    """Eigenvalues c^0..c^59 with Hill-median exponent ``alpha`` (closed form in the module docstring)."""
    log_c = 30 / (435 * (alpha - 1))
    return np.exp(log_c * np.arange(60))


def toy_params(alphas=(2.0, 3.0, 5.0)):
    """Three dense kernels (80 x 60) with exponents ``alphas``, a bias and a small head (3 eigenvalues)."""
    params = {f"fc{i + 1}": {"kernel": jnp.asarray(matrix_with_evals(geometric(a), 80, i))} for i, a in enumerate(alphas)}
    params["fc1"]["bias"] = jnp.ones(60)
    params["head"] = {"kernel": jnp.ones((60, 3))}
    return params


def test_hill_closed_form_and_reference():
    # The constructed spectrum reproduces the closed form, and the Hill estimate equals rmtkit's MLE
    # at the same xmin (fit_power_law with a fixed xmin, plain power law) on random spectra.
    for a in (2.0, 3.5):
        ev = jnp.sort(eigenvalues(matrix_with_evals(geometric(a), 80, 0), normalize=False, backend="jax"))
        assert float(hill_median_alpha(ev)) == pytest.approx(a, rel=1e-9)
    rng = np.random.default_rng(1)
    for w in (rng.standard_normal((120, 70)), rng.pareto(1.5, (120, 70))):
        ev = np.sort(np.linalg.eigvalsh(w.T @ w))
        k = len(ev) // 2
        ref = fit_power_law(ev, xmin=ev[k], method="csn")
        assert float(hill_median_alpha(jnp.asarray(ev))) == pytest.approx(float(ref.alpha), rel=1e-9)


def test_csn_estimator_equals_fit_power_law():
    params = {"a": {"kernel": jnp.asarray(np.random.default_rng(2).pareto(1.2, (90, 60)))}}
    got = jax.jit(lambda p: layer_exponents(p, estimator="csn"))(params)
    ev = np.linalg.eigvalsh(np.asarray(params["a"]["kernel"]).T @ np.asarray(params["a"]["kernel"]))
    assert float(got["a"]["kernel"]) == pytest.approx(float(fit_power_law(ev).alpha), rel=1e-6)


def test_leaf_rule():
    roles = matrix_leaves(toy_params() | {"conv": {"kernel": jnp.ones((5, 5, 2, 8))}, "dg": {"kernel": jnp.ones((4, 2, 3))}})
    assert roles["fc2/kernel"] == "balanced"
    assert roles["conv/kernel"] == "balanced"  # 25 positions x min(2, 8) = 50 eigenvalues
    assert roles["fc1/bias"].startswith("rank 1")
    assert roles["dg/kernel"].startswith("rank 3")
    assert roles["head/kernel"] == "3 pooled eigenvalues < min_evals = 50"
    assert matrix_leaves(toy_params(), exclude=["fc3/*"])["fc3/kernel"] == "excluded by pattern"


def test_conv_kernel_pools_kernel_positions():
    # A (kh, kw, c_in, c_out) kernel's exponent is the Hill fit of its kh*kw pooled c_in x c_out spectra.
    rng = np.random.default_rng(3)
    k = rng.standard_normal((3, 3, 16, 8))
    pooled = np.sort(np.concatenate([np.linalg.eigvalsh(m.T @ m) for m in k.reshape(9, 16, 8)]))
    got = layer_exponents({"c": jnp.asarray(k)})["c"]
    assert float(got) == pytest.approx(float(hill_median_alpha(jnp.asarray(pooled))), rel=1e-6)


def test_linear_map_by_hand():
    # alphas 2, 3, 5 -> t = 0, 1/3, 1 -> factors 0.5, 0.5 + 1/3, 1.5 ([TB] tb_linear_map, [0.5, 1.5]).
    tx = temperature_balance(every=10)
    params = toy_params()
    state = tx.init(params)
    updates = jax.tree.map(jnp.ones_like, params)
    out, state = tx.update(updates, state, params)
    np.testing.assert_allclose([float(state.exponents[f"fc{i}"]["kernel"]) for i in (1, 2, 3)], [2, 3, 5], rtol=1e-6)
    np.testing.assert_allclose(out["fc1"]["kernel"], 0.5, rtol=1e-6)
    np.testing.assert_allclose(out["fc2"]["kernel"], 0.5 + 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(out["fc3"]["kernel"], 1.5, rtol=1e-6)
    np.testing.assert_array_equal(out["fc1"]["bias"], 1.0)  # not a matrix: factor 1
    np.testing.assert_array_equal(out["head"]["kernel"], 1.0)  # too few eigenvalues: factor 1


def test_rank_map_and_degenerate_cases():
    # [TB] tb_step: rank r of n = 3 -> 0.5 + r / 3; NaN leaves get 1; all-equal exponents the midpoint.
    f = exponent_factors({"a": 5.0, "b": 2.0, "c": 3.0, "d": jnp.nan}, 0.5, 1.5, map="rank")
    assert [float(f[k]) for k in "abcd"] == pytest.approx([0.5 + 2 / 3, 0.5, 0.5 + 1 / 3, 1.0])
    f = exponent_factors({"a": 4.0, "b": 4.0}, 0.5, 1.5)
    assert [float(f[k]) for k in "ab"] == [1.0, 1.0]


def test_refresh_every_k_steps():
    # every = 2: exponents from the params seen at steps 0 and 2, held at steps 1 and 3.
    tx = temperature_balance(every=2)
    p1, p2 = toy_params((2.0, 3.0, 5.0)), toy_params((4.0, 3.0, 2.0))
    state = tx.init(p1)
    seen = []
    for params in (p1, p2, p2, p1):
        _, state = tx.update(jax.tree.map(jnp.ones_like, p1), state, params)
        seen.append(round(float(state.exponents["fc1"]["kernel"]), 5))
    assert seen == [2.0, 2.0, 4.0, 4.0]
    assert int(state.count) == 4


def test_state_round_trips_through_jit_and_a_checkpoint(tmp_path):
    tx = optax.chain(optax.sgd(0.1, momentum=0.9), temperature_balance(every=3))
    params = toy_params()
    grads = jax.tree.map(lambda x: 0.01 * jnp.ones_like(x), params)
    step = jax.jit(lambda p, s: (lambda u, s: (optax.apply_updates(p, u), s))(*tx.update(grads, s, p)))
    state = tx.init(params)
    for _ in range(2):
        params, state = step(params, state)
    leaves, treedef = jax.tree.flatten(state)
    np.savez(tmp_path / "state.npz", *[np.asarray(x) for x in leaves])
    with np.load(tmp_path / "state.npz") as z:
        restored = jax.tree.unflatten(treedef, [jnp.asarray(z[f"arr_{i}"]) for i in range(len(leaves))])
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(restored[1], ExponentState) and int(restored[1].count) == 2
    # Continuing from the restored state equals continuing the original (jitted and eager alike).
    p_a, s_a = step(params, state)
    p_b, s_b = step(params, restored)
    u_c, s_c = tx.update(grads, restored, params)
    for a, b in zip(jax.tree.leaves((p_a, s_a)), jax.tree.leaves((p_b, s_b)), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(optax.apply_updates(params, u_c)["fc3"]["kernel"], p_a["fc3"]["kernel"], rtol=1e-12)
    assert int(s_a[1].count) == 3


def test_alpha_decay_by_hand():
    # r = 2/3 + (5 - 2/3) t with t = 0, 1/3, 1 for alphas 2, 3, 5; non-matrix leaves r = 1.
    wd = 0.1
    tx = alpha_decay(wd, every=5)
    params = toy_params()
    zeros = jax.tree.map(jnp.zeros_like, params)
    out, _ = tx.update(zeros, tx.init(params), params)
    for name, t in (("fc1", 0.0), ("fc2", 1 / 3), ("fc3", 1.0)):
        r = 2 / 3 + (5 - 2 / 3) * t
        np.testing.assert_allclose(out[name]["kernel"], wd * r * params[name]["kernel"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(out["fc1"]["bias"], wd * params["fc1"]["bias"], rtol=1e-12)


def test_nnx_and_linen_trees():
    # NNX: nnx.Optimizer hands pure arrays with paths "fc1/kernel"; a jitted step runs and the state counts.
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.fc1 = nnx.Linear(64, 60, rngs=rngs)
            self.fc2 = nnx.Linear(60, 2, rngs=rngs)

        def __call__(self, x):
            return self.fc2(nnx.relu(self.fc1(x)))

    model = Net(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.chain(optax.sgd(0.01), temperature_balance(every=2)), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, x, y):
        grads = nnx.grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        opt.update(model, grads)

    before = np.asarray(model.fc2.kernel[...])
    for _ in range(3):
        step(model, opt, jnp.ones((4, 64)), jnp.zeros((4, 2)))
    tb = opt.opt_state[1]
    assert int(tb.count[...]) == 3
    assert np.isfinite(float(tb.exponents["fc1"]["kernel"][...]))
    assert np.isnan(float(tb.exponents["fc2"]["kernel"][...]))  # 2 eigenvalues: not balanced
    assert not np.array_equal(before, np.asarray(model.fc2.kernel[...]))
    # Linen: {"params": {"Dense_0": {...}}}; paths "params/Dense_0/kernel".
    linen = {"params": {"Dense_0": {"kernel": toy_params()["fc2"]["kernel"], "bias": jnp.zeros(60)}}}
    assert matrix_leaves(linen)["params/Dense_0/kernel"] == "balanced"
    exps = layer_exponents(linen)
    assert float(exps["params"]["Dense_0"]["kernel"]) == pytest.approx(3.0, rel=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="every"):
        temperature_balance(0)
    with pytest.raises(ValueError, match="s_min"):
        temperature_balance(1, s_min=2.0, s_max=1.0)
    with pytest.raises(ValueError, match="map"):
        temperature_balance(1, map="sqrt")
    with pytest.raises(ValueError, match="estimator"):
        alpha_decay(0.1, 1, estimator="peak")
    tx = temperature_balance(1)
    params = toy_params()
    with pytest.raises(ValueError, match="needs params"):
        tx.update(params, tx.init(params))


def test_training_suite_option():
    # optimizer.name "sgd+tempbalance": the suite's optimiser followed by TempBalance, refreshed per epoch.
    from simulations.train.control import split_name, with_control

    assert split_name("sgd+tempbalance") == ("sgd", "tempbalance")
    assert split_name("adam") == ("adam", "")
    with pytest.raises(ValueError, match="unknown control"):
        split_name("sgd+temperature")
    tx = with_control(optax.sgd(1.0), "tempbalance", steps_per_epoch=7)
    params = toy_params()
    out, state = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
    assert isinstance(state[1], ExponentState)
    np.testing.assert_allclose(out["fc1"]["kernel"], -0.5, rtol=1e-6)  # -lr * g * f, f = 0.5 for the smallest alpha
    tx = with_control(optax.sgd(1.0), "alphadecay", steps_per_epoch=7)
    out, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    np.testing.assert_allclose(out["fc1"]["bias"], -5e-4 * params["fc1"]["bias"], rtol=1e-12)
    tx = with_control(optax.sgd(1.0), "weightdecay", steps_per_epoch=7)  # uniform: 5e-4 on every leaf
    out, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    for name in ("fc1", "fc2", "fc3"):
        np.testing.assert_allclose(out[name]["kernel"], -5e-4 * params[name]["kernel"], rtol=1e-6)


def test_cpu_host_spectra_equal_xla_and_nan_weights():
    # On CPU the refresh takes its spectra from a host callback (LAPACK, one BLAS thread); XLA's
    # eigensolver on the same matrices (the path used on GPU) gives the same exponents, and NaN
    # weights give a NaN exponent, i.e. factor 1, instead of an error.
    from rmtkit.spectra import device_leaf_spectrum as _spectrum

    rng = np.random.default_rng(3)
    params = {"a": {"kernel": jnp.asarray(rng.pareto(2.0, (70, 90)))},  # wide: 70 eigenvalues
              "c": {"kernel": jnp.asarray(rng.standard_normal((3, 3, 8, 20)))},  # 9 x 8 = 72 pooled
              "n": {"kernel": jnp.full((60, 60), jnp.nan)}}
    got = jax.jit(layer_exponents)(params)
    for name in ("a", "c"):
        ref = hill_median_alpha(_spectrum(params[name]["kernel"]))
        assert float(got[name]["kernel"]) == pytest.approx(float(ref), rel=1e-6)
    assert np.isnan(float(got["n"]["kernel"]))
    factors = exponent_factors(got, 0.5, 1.5)
    assert float(factors["n"]["kernel"]) == 1.0
