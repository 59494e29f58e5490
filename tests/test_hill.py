"""The Hill-type estimators of rmtkit.powerlaw.hill, against numbers worked by hand."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from rmtkit.powerlaw import hill_median_alpha, hill_top_alpha


def test_hill_top_by_hand():
    x = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    # k = 2 of n = 5: threshold 2 (the 3rd largest); logs ln 2, ln 4 -> 1 + 2 / (3 ln 2)
    assert hill_top_alpha(x, 5, 2) == pytest.approx(1 + 2 / (3 * math.log(2)), rel=1e-12)
    # only the first n = 4 values count: threshold 1, top 2 and 4
    assert hill_top_alpha(x, 4, 2) == pytest.approx(1 + 2 / (3 * math.log(2)), rel=1e-12)
    assert hill_top_alpha(x, 5, 10) == pytest.approx(1 + 4 / (math.log(2) * (1 + 2 + 3 + 4)), rel=1e-12)  # k capped at 4
    assert math.isnan(hill_top_alpha(x, 2, 2))  # k capped at 1 < 2
    assert math.isnan(hill_top_alpha(np.array([0.0, 1.0, 2.0]), 3, 2))  # threshold 0
    assert hill_top_alpha(np.ones(4), 4, 2) == math.inf  # no spread


def test_hill_median_batched_and_by_hand():
    rows = np.array([[1.0, 2.0, 4.0, 8.0], [1.0, 1.0, 3.0, 9.0]])
    got = np.asarray(hill_median_alpha(jnp.asarray(rows)))
    # xmin = x[2]; n = 2 values from xmin on: 1 + 2 / (ln(4/4) + ln(8/4)), 1 + 2 / ln 3
    np.testing.assert_allclose(got, [1 + 2 / math.log(2), 1 + 2 / math.log(3)], rtol=1e-12)
    assert float(hill_median_alpha(jnp.asarray(rows[0]), xmin_pos=4)) == pytest.approx(
        1 + 3 / (math.log(2) + math.log(4)), rel=1e-12)  # k = 1: xmin 2, n = 3
    assert math.isnan(float(hill_median_alpha(jnp.ones(6))))


def test_top_five_spread_matches_the_exact_law_of_the_hill_estimate():
    # benchmarks/hill_top_spread.py: on exact Pareto samples of density exponent a, k * mean log-ratio of the top k
    # over the (k+1)-th largest is Gamma(k, rate a - 1) (Renyi), so P(Hill <= 4) = P(Gamma(k, 1) >= (a - 1) k / 3).
    import importlib.util
    import pathlib

    from scipy.stats import gamma

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "hill_top_spread.py"
    spec = importlib.util.spec_from_file_location("hill_top_spread", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = np.random.default_rng(5)
    for a in (3.5, 4.5):
        h = bench.spread(a, 384, 3000, rng, k=5)
        exact = gamma.sf((a - 1) * 5 / 3, 5)
        assert np.mean(h <= 4) == pytest.approx(exact, abs=0.03)  # 3 sigma of a 3000-draw share
        assert np.median(h) == pytest.approx(1 + (a - 1) * 5 / gamma.median(5), rel=0.03)
