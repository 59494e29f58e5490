"""Issue 23: AlphaPruning with an all-zero or NaN matrix leaf gives that leaf factor 1, as the optax transforms do.

Before the fix the whole model was refused ("exponents must be finite"). With exponents 2 and 6 the
finite layers' ratios are 1 - eps and 1 + eps; the leaf without an exponent gets ratio 1, the middle
of the map, and the three are scaled together to the overall sparsity.
"""

import numpy as np
import pytest

from rmtkit.prune import alpha_sparsities, prune_magnitude


def test_a_leaf_without_an_exponent_gets_ratio_1():
    s = alpha_sparsities({"a": 2.0, "b": 6.0, "c": float("nan")}, {"a": 100, "b": 100, "c": 100}, 0.5, epsilon=0.3)
    scale = 0.5 * 300 / (100 * (0.7 + 1.3 + 1.0))  # sum n r = 300
    assert s == pytest.approx({"a": 0.7 * scale, "b": 1.3 * scale, "c": 1.0 * scale}, rel=1e-12)
    only = alpha_sparsities({"a": float("nan"), "b": float("inf")}, {"a": 100, "b": 300}, 0.4)
    assert only == pytest.approx({"a": 0.4, "b": 0.4}, rel=1e-12)  # no exponent at all: uniform


@pytest.mark.parametrize("bad", ["zero", "nan"])
def test_alpha_pruning_with_an_all_zero_or_nan_leaf_prunes_the_others(bad):
    rng = np.random.default_rng(6)
    params = {"l0": {"kernel": rng.standard_t(3.0, (120, 80)).astype(np.float32)},
              "l1": {"kernel": rng.standard_normal((120, 80)).astype(np.float32)},
              "l2": {"kernel": np.zeros((120, 80), np.float32)}}
    if bad == "nan":
        params["l2"]["kernel"] = rng.standard_normal((120, 80)).astype(np.float32)
        params["l2"]["kernel"][3, 4] = np.nan
    result = prune_magnitude(params, 0.5, allocation="alpha")
    assert set(result.sparsity) == {"l0/kernel", "l1/kernel", "l2/kernel"}
    assert not np.isfinite(result.exponents["l2/kernel"])
    assert result.overall == pytest.approx(0.5, abs=1e-9)
    expected = alpha_sparsities(result.exponents, {k: 120 * 80 for k in result.sparsity}, 0.5)
    for k, v in expected.items():
        assert result.sparsity[k] == pytest.approx(v, abs=2 / (120 * 80))
