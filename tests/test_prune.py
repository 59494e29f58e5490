"""rmtkit.prune: AlphaPruning's allocation, uniform and global magnitude pruning, exact sparsity.

Numbers by hand: exponents 2, 3, 6 with sizes 100, 200, 100 and epsilon 0.3 give raw ratios
r = 0.7, 0.85, 1.3 (t = 0, 1/4, 1); sum n r = 370, so at S = 0.5 the scale is 200 / 370.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from rmtkit.prune import alpha_sparsities, exact_counts, prune_magnitude
from tests.test_optim import toy_params


def test_alpha_map_by_hand():
    s = alpha_sparsities({"a": 2.0, "b": 3.0, "c": 6.0}, {"a": 100, "b": 200, "c": 100}, 0.5)
    c = 200 / 370
    assert [s[k] for k in "abc"] == pytest.approx([0.7 * c, 0.85 * c, 1.3 * c], rel=1e-12)


def test_alpha_map_cap_redistributes():
    # S = 0.9: c would be 360/370 and layer c 1.2649 > 1; capped at 1, the others share 260 over
    # sum n r = 70 + 170 = 240: s = 0.7 * 260/240, 0.85 * 260/240.
    s = alpha_sparsities({"a": 2.0, "b": 3.0, "c": 6.0}, {"a": 100, "b": 200, "c": 100}, 0.9)
    assert [s[k] for k in "abc"] == pytest.approx([0.7 * 260 / 240, 0.85 * 260 / 240, 1.0], rel=1e-12)
    assert sum(s[k] * n for k, n in zip("abc", (100, 200, 100), strict=True)) == pytest.approx(360)


def test_exact_counts_largest_remainder():
    # targets 0.3*7 = 2.1, 0.3*5 = 1.5, 0.3*3 = 0.9 -> floors 2, 1, 0; round(0.3*15) = 4 (4.5 rounds to even)
    # -> one more, to the largest remainder (0.9).
    assert exact_counts({"a": 0.3, "b": 0.3, "c": 0.3}, {"a": 7, "b": 5, "c": 3}, 0.3) == {"a": 2, "b": 1, "c": 1}


@pytest.mark.parametrize("sparsity", [0.5, 0.7, 0.9])
@pytest.mark.parametrize("allocation", ["alpha", "uniform", "global"])
def test_requested_sparsity_exactly(allocation, sparsity):
    params = toy_params()
    res = prune_magnitude(params, sparsity, allocation=allocation)
    total = 3 * 80 * 60
    zeros = sum(int(np.sum(np.asarray(res.params[f"fc{i}"]["kernel"]) == 0)) for i in (1, 2, 3))
    assert zeros == round(sparsity * total)
    assert res.overall == round(sparsity * total) / total
    np.testing.assert_array_equal(res.params["fc1"]["bias"], params["fc1"]["bias"])  # never pruned
    np.testing.assert_array_equal(res.params["head"]["kernel"], params["head"]["kernel"])
    assert set(res.skipped) == {"fc1/bias", "head/kernel"}


def test_alpha_allocation_follows_the_map():
    # Exponents 2, 3, 5 (fitted from the constructed spectra), equal sizes 4800: t = 0, 1/3, 1,
    # r = 0.7, 0.9, 1.3, sum r = 2.9, s_l = 0.7 r_l * 3 / 2.9 at S = 0.7.
    res = prune_magnitude(toy_params(), 0.7, allocation="alpha")
    assert [res.exponents[f"fc{i}/kernel"] for i in (1, 2, 3)] == pytest.approx([2, 3, 5], rel=1e-6)
    want = [0.7 * r * 3 / 2.9 for r in (0.7, 0.9, 1.3)]
    got = [res.sparsity[f"fc{i}/kernel"] for i in (1, 2, 3)]
    np.testing.assert_allclose(got, want, atol=1 / 4800)  # whole entries per layer


def test_magnitude_order():
    params = toy_params()
    uni = prune_magnitude(params, 0.5, allocation="uniform")
    for i in (1, 2, 3):
        w, keep = np.abs(np.asarray(params[f"fc{i}"]["kernel"])), uni.masks[f"fc{i}/kernel"]
        assert w[~keep].max() <= w[keep].min()
        assert uni.sparsity[f"fc{i}/kernel"] == 0.5
    glo = prune_magnitude(params, 0.5, allocation="global")
    pruned = np.concatenate([np.abs(np.asarray(params[f"fc{i}"]["kernel"]))[~glo.masks[f"fc{i}/kernel"]] for i in (1, 2, 3)])
    kept = np.concatenate([np.abs(np.asarray(params[f"fc{i}"]["kernel"]))[glo.masks[f"fc{i}/kernel"]] for i in (1, 2, 3)])
    assert pruned.max() <= kept.min()


def test_errors():
    with pytest.raises(ValueError, match="sparsity"):
        prune_magnitude(toy_params(), 1.0)
    with pytest.raises(ValueError, match="allocation"):
        prune_magnitude(toy_params(), 0.5, allocation="random")
    with pytest.raises(ValueError, match="no prunable"):
        prune_magnitude({"b": jnp.ones(3)}, 0.5)
