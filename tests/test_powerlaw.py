"""Power-law tail fits: the reference implementation, bounded (xmax) MLE, statuses, batching, goodness of fit.

float64 throughout (tests/conftest.py); tolerances are stated next to each assertion.
"""

from __future__ import annotations

import importlib.util
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtkit.powerlaw import (
    AUTO_SETTINGS,
    PowerLawFit,
    alpha_confidence_interval,
    bootstrap_pvalue,
    bounded_alpha,
    bounded_quantile_scaled,
    fit_power_law,
    likelihood_ratio_test,
)
from rmtkit.status import FitStatus

powerlaw = pytest.importorskip("powerlaw")


def _datasets(count: int = 52):
    """Pareto and log-normal samples, eigenvalues of Gaussian and Pareto random matrices."""
    rng = np.random.default_rng(2009)
    out = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            x = rng.pareto(rng.uniform(0.5, 4.0), 300) + 1
        elif kind == 1:
            x = rng.lognormal(0, rng.uniform(0.5, 2.0), 300)
        elif kind == 2:
            w = rng.standard_normal((400, 200))
            x = np.linalg.eigvalsh(w.T @ w / 400)
        else:
            w = rng.random((400, 200)) ** (-1 / rng.uniform(0.5, 3.0)) * rng.choice([-1, 1], (400, 200))
            x = np.linalg.eigvalsh(w.T @ w / 400)
        out.append(x)
    return out


def _reference(x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return powerlaw.Fit(x, parameter_ranges={"alpha": [1, 1000]}, verbose=0, **kw)


@pytest.mark.slow
def test_reproduces_powerlaw_package_on_52_datasets():
    data = _datasets()
    batch = np.stack([np.sort(x)[-200:] for x in data])  # equal lengths: one batched call too
    fits = fit_power_law(batch, method="csn")
    mismatches = 0
    for i, x in enumerate(batch):
        ref = _reference(x)
        single = fit_power_law(x, method="csn")
        assert float(single.xmin) == float(fits.xmin[i])  # batched == single, bit for bit in xmin
        if float(single.xmin) != ref.xmin:
            # allowed only for an exact tie in D (relative 1e-12) between the two xmins
            d_ref = ref.xmin_fitting_results["distances"][
                ref.xmin_fitting_results["xmins"] == float(single.xmin)
            ][0]
            assert d_ref == pytest.approx(ref.D, rel=1e-12)
            mismatches += 1
            continue
        assert float(single.alpha) == pytest.approx(ref.alpha, rel=1e-6)
        assert float(single.D) == pytest.approx(ref.D, rel=1e-9)
        assert int(single.n_tail) == int(ref.n_tail)
    assert mismatches <= 2


def test_per_candidate_distances_match_reference():
    x = _datasets(4)[0][:250]
    ref = _reference(x)
    res = ref.xmin_fitting_results
    for xmin, d, a in list(zip(res["xmins"], res["distances"], res["alphas"], strict=False))[::25]:
        fit = fit_power_law(x, method="csn", xmin=xmin)
        assert float(fit.alpha) == pytest.approx(a, rel=1e-6)
        assert float(fit.D) == pytest.approx(d, rel=1e-9)


def test_xmax_discards_points_like_reference():
    x = _datasets(4)[3]
    xmax = float(np.quantile(x, 0.9))
    ref = _reference(x, xmax=xmax)
    fit = fit_power_law(x, method="csn", xmax=xmax)
    assert int(fit.n) == int((x <= xmax).sum())
    # the reference keeps the untruncated closed-form alpha for alpha in (1.5, 3]; the candidates
    # it scans are the same, and the truncated fit's xmin is at or above the reference's here.
    assert np.isfinite(ref.xmin) and float(fit.xmin) >= float(np.min(x))
    assert float(fit.xmax) == xmax and int(fit.status) == FitStatus.OK


@pytest.mark.parametrize("alpha", [1.5, 2.0, 3.0, 4.0, 6.0])
def test_bounded_mle_recovers_alpha(alpha):
    # known xmin = 1 and xmax = 1e6, n = 1000, 200 replicates: bias < 0.05, RMSE < 1.5 (alpha-1)/sqrt(n)
    log_range = np.log(1e6)
    u = jax.random.uniform(jax.random.key(int(alpha * 10)), (200, 1000), jnp.float64)
    x = jnp.exp(log_range * bounded_quantile_scaled(u, (alpha - 1) * log_range))
    fit = fit_power_law(x, method="csn", xmin=1.0, xmax=1e6)
    err = np.asarray(fit.alpha) - alpha
    assert abs(err.mean()) < 0.05
    assert np.sqrt(np.mean(err**2)) < 1.5 * (alpha - 1) / np.sqrt(1000)
    # scanned xmin, truncated at the sample maximum (the paper's choice): still unbiased to 0.05
    scanned = fit_power_law(x[:40], method="csn", xmax="max")
    assert abs(np.mean(np.asarray(scanned.alpha)) - alpha) < 0.05 + 2 * (alpha - 1) / np.sqrt(300 * 40)


def test_strong_bound_sigma_is_fisher_information():
    # xmax/xmin = 100, alpha = 1.5: the untruncated formula is biased, the exact MLE is not, and
    # its reported sigma (Fisher information) matches the spread to 20 %.
    log_range = np.log(100.0)
    u = jax.random.uniform(jax.random.key(7), (300, 1000), jnp.float64)
    x = jnp.exp(log_range * bounded_quantile_scaled(u, 0.5 * log_range))
    fit = fit_power_law(x, method="csn", xmin=1.0, xmax=100.0)
    plain = fit_power_law(x, method="csn", xmin=1.0)
    assert abs(float(jnp.mean(fit.alpha)) - 1.5) < 0.02
    assert abs(float(jnp.mean(plain.alpha)) - 1.5) > 0.1  # 0.17 here
    assert float(jnp.std(fit.alpha)) == pytest.approx(float(jnp.mean(fit.sigma)), rel=0.2)


def test_bounded_alpha_solver_edge_cases():
    # mean_log / L = 1/2 is alpha = 1 exactly; mean close to 0 or L gives large |alpha - 1|.
    a, _ = bounded_alpha(jnp.array([0.5, 1e-4, 0.9999, 0.25]), jnp.ones(4))
    assert float(a[0]) == pytest.approx(1.0, abs=1e-12)
    assert float(a[1]) == pytest.approx(1 + 1e4, rel=1e-6)
    assert float(a[2]) == pytest.approx(1 - 1e4, rel=1e-6)
    # h(c) = 1/c - 1/(e^c - 1) evaluated back at the solution
    c = float(a[3]) - 1
    assert 1 / c - 1 / np.expm1(c) == pytest.approx(0.25, rel=1e-12)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        ([1.0, 2.0], "at least 3"),
        ([1.0, np.nan, 2.0, 3.0], "NaN"),
        ([1.0, -2.0, 2.0, 3.0], "negative"),
        (np.ones(50), "equal"),
        ([0.0, 0.0, 0.0, 1.0, 2.0], "positive values"),
        (np.r_[np.ones(40), 2.0, 3.0], "tail"),
    ],
)
def test_single_spectrum_raises_with_reason(x, match):
    with pytest.raises(ValueError, match=match):
        fit_power_law(np.asarray(x), method="auto", min_tail=50 if match == "tail" else None)


def test_batch_never_raises_and_reports_status_per_row():
    rng = np.random.default_rng(0)
    good = rng.pareto(2.0, 100) + 1
    rows = np.stack([good, np.ones(100), np.r_[good[:-1], np.nan], np.r_[good[:-1], -5.0], good, good])
    lengths = np.array([100, 100, 100, 100, 2, 100])
    fit = fit_power_law(rows, method="csn", lengths=lengths, min_tail=(10, 0.0))
    expected = [
        FitStatus.OK,
        FitStatus.DEGENERATE,
        FitStatus.NON_FINITE,
        FitStatus.NEGATIVE,
        FitStatus.TOO_FEW,
        FitStatus.OK,
    ]
    assert list(np.asarray(fit.status)) == [int(s) for s in expected]
    bad = np.asarray(fit.status) != 0
    assert np.all(np.isnan(np.asarray(fit.alpha)[bad])) and np.all(np.isfinite(np.asarray(fit.alpha)[~bad]))
    # mask= is the same as lengths=
    mask = np.arange(100)[None, :] < lengths[:, None]
    assert np.array_equal(
        np.asarray(fit_power_law(rows, method="csn", mask=mask, min_tail=(10, 0.0)).status),
        np.asarray(fit.status),
    )
    # a row whose tail can never reach min_tail
    short = fit_power_law(np.stack([good, good]), method="csn", min_tail=101)
    assert list(np.asarray(short.status)) == [FitStatus.TAIL_TOO_SHORT] * 2


def test_padding_does_not_change_the_fit():
    rng = np.random.default_rng(1)
    x = rng.pareto(1.5, 300) + 1
    padded = np.stack([np.r_[x, np.zeros(50)], np.r_[x, 7.0 * np.ones(50)]])
    fit = fit_power_law(padded, method="csn", lengths=np.array([300, 300]))
    single = fit_power_law(x, method="csn")
    np.testing.assert_allclose(np.asarray(fit.alpha), float(single.alpha), rtol=1e-12)
    assert isinstance(single, PowerLawFit) and single.alpha.shape == () and fit.alpha.shape == (2,)


def test_large_spectrum_and_two_sided_ks():
    x = np.random.default_rng(3).pareto(1.5, 30000) + 1
    fit = fit_power_law(x, method="csn")
    assert abs(float(fit.alpha) - 2.5) < 4 * float(fit.sigma) + 0.02
    two = fit_power_law(x[:2000], method="csn", ks="two_sided")
    one = fit_power_law(x[:2000], method="csn")
    assert bool(two.ks_two_sided) and not bool(one.ks_two_sided)
    assert float(two.D) >= float(one.D) - 1e-3  # the two-sided statistic is never much smaller


def test_follows_float32_input():
    x = (np.random.default_rng(4).pareto(2.0, 500) + 1).astype(np.float32)
    fit = fit_power_law(x, method="csn")
    ref = fit_power_law(x.astype(np.float64), method="csn")
    assert fit.alpha.dtype == jnp.float32
    assert float(fit.alpha) == pytest.approx(float(ref.alpha), rel=1e-3)


def test_bootstrap_pvalue_high_for_power_law_low_for_exponential(key):
    rng = np.random.default_rng(5)
    pl = rng.pareto(1.5, 400) + 1
    ex = rng.exponential(1.0, 400) + 1
    # one recipe (one compilation): csn with tails of at least half the sample
    p_pl = bootstrap_pvalue(pl, key=key, n_boot=200, method="csn", min_tail=(10, 0.5))
    p_ex = bootstrap_pvalue(ex, key=key, n_boot=200, method="csn", min_tail=(10, 0.5))
    assert p_pl.p_value > 0.1 and p_pl.n_valid == 200
    assert p_ex.p_value < 0.1
    again = bootstrap_pvalue(pl, key=key, n_boot=200, method="csn", min_tail=(10, 0.5))
    assert again.p_value == p_pl.p_value  # same key, same answer


def test_likelihood_ratio_tests_pick_the_right_family():
    rng = np.random.default_rng(6)
    pl = rng.pareto(1.5, 1000) + 1
    fit = fit_power_law(pl, method="csn")
    vs_exp = likelihood_ratio_test(pl, fit, alternative="exponential")
    assert vs_exp.R > 0 and vs_exp.p_value < 0.05
    vs_cut = likelihood_ratio_test(pl, fit, alternative="truncated_power_law")
    assert vs_cut.R <= 1e-6 and vs_cut.p_value > 0.1  # nested: the cutoff never fits worse
    ln = rng.lognormal(0.0, 0.6, 2000)
    fit_ln = fit_power_law(ln, method="csn", min_tail=(10, 0.5))
    vs_ln = likelihood_ratio_test(ln, fit_ln, alternative="lognormal")
    assert vs_ln.R < 0 and vs_ln.p_value < 0.05
    assert vs_ln.params["sigma"] == pytest.approx(0.6, rel=0.2)
    # same numbers as the reference package for the non-nested exponential test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = powerlaw.Fit(pl, xmin=float(fit.xmin), parameter_ranges={"alpha": [1, 1000]}, verbose=0)
        r_ref, p_ref = ref.distribution_compare("power_law", "exponential")
    assert vs_exp.R == pytest.approx(r_ref, rel=1e-6)


def test_alpha_confidence_interval_covers_truth(key):
    x = np.random.default_rng(8).pareto(1.5, 500) + 1
    ci = alpha_confidence_interval(x, key=key, n_boot=100, method="csn")
    assert ci.low < 2.5 < ci.high and ci.low < ci.alpha < ci.high
    assert ci.high - ci.low < 0.6


@pytest.mark.slow
def test_default_method_has_lowest_rmse_on_pareto_matrices():
    # Small version of benchmarks/bench_powerlaw.py (N x M = 400 x 200, 4 mu x 3 seeds).
    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_powerlaw.py"
    spec = importlib.util.spec_from_file_location("bench_powerlaw", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    candidates = {
        "csn": dict(method="csn"),
        "csn xmax=max": dict(method="csn", xmax="max"),
        "csn drop top 3 xmax=max": dict(method="csn", drop_top=3, xmax="max"),
        "auto": dict(),
    }
    table = bench.default_method_table(400, 200, (0.6, 1.0, 1.4, 1.8), 3, candidates, verbose=False)
    assert AUTO_SETTINGS["xmax"] == "max"
    assert table["auto"] == min(table.values())


def _candidate_table(x, **kw):
    """Every candidate's lower bound and exact KS distance, straight from the scan's internals."""
    from rmtkit.powerlaw import scan as pl
    from rmtkit.powerlaw.compiled import bucket
    from rmtkit.powerlaw.fit import fit_settings

    recipe, xmax = fit_settings("csn", None, kw.get("xmax"), kw.get("ks", "one_sided"), None, kw.get("drop_top"))
    truncated = recipe.xmax_mode != "none"
    xs = np.full(bucket(x.size), np.inf, x.dtype)
    xs[: x.size] = np.sort(x)
    xs = jnp.asarray(xs)
    xmax_value = jnp.asarray(xmax if recipe.xmax_mode == "value" else np.nan, x.dtype)
    s = pl._prepare(xs, jnp.isfinite(xs), xmax_value, recipe, True)
    positions = jnp.arange(xs.size)
    alpha, _, shape = pl._tail_exponents(s, positions, s.lx, truncated)
    rank = jnp.cumsum(s.is_first) - 1
    candidate = s.is_first & (rank < jnp.sum(s.is_first) - 2) & (s.n - positions >= 2) & jnp.isfinite(alpha)
    lower = pl._lower_bounds(s, shape, truncated, recipe.two_sided)
    exact = pl._ks_distance(s, positions, s.lx, shape, pl._points(s, slice(None)), truncated, recipe.two_sided)
    c = np.asarray(candidate)
    tol = 64 * np.finfo(x.dtype).eps  # the scan's allowance for the same arithmetic in another program
    return np.asarray(lower)[c] - tol, np.asarray(exact)[c], np.asarray(s.xs)[c], np.asarray(alpha)[c]


_SCAN_CASES = [
    ("pareto", {}),
    ("pareto", {"xmax": "max"}),
    ("ties", {"ks": "two_sided"}),
    ("wide", {"xmax": "max", "ks": "two_sided"}),
    ("lognormal", {"xmax": 50.0}),
    ("lognormal", {"xmax": 1e6, "drop_top": 3}),  # xmax above the largest value
    ("narrow", {}),
    ("loguniform", {"xmax": "max"}),  # alpha ~ 1 when truncated: |c| small, the fast CDF's worst case
    ("loguniform32", {"xmax": "max"}),  # float32 input: bounds in float32 with the exact CDFs
    ("pareto32", {"ks": "two_sided"}),
]


def _scan_data(kind, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "pareto": rng.pareto(1.2, 1000) + 1,
        "ties": np.round(rng.pareto(1.0, 700) + 1, 2),  # many equal values
        "wide": np.exp(rng.uniform(-30, 30, 500)),  # 26 decades: the float32 slack at its largest
        "lognormal": rng.lognormal(0, 1.5, 900),
        "narrow": 1 + rng.uniform(0, 1e-4, 400),  # alpha in the tens of thousands
        "loguniform": np.exp(np.linspace(0, 3, 400)),
        "loguniform32": np.exp(np.linspace(0, 3, 400)).astype(np.float32),
        "pareto32": (rng.pareto(1.5, 600) + 1).astype(np.float32),
    }[kind]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "kw"), _SCAN_CASES)
def test_branch_and_bound_equals_exhaustive_scan(kind, kw):
    # The lower bounds never exceed a candidate's exact D (float64 spectra: float32 bounds, measured
    # margin >= 1.4e-6; float32 spectra: the same arithmetic, up to the scan's tolerance), so the
    # search returns the exhaustive O(M^2) scan's minimum, ties to the smaller xmin. The cases take
    # 0 to 2 exact rounds after the first candidate.
    x = _scan_data(kind)
    lower, exact, xmins, alphas = _candidate_table(x, **kw)
    assert np.all(lower <= exact)
    best = int(np.argmin(exact))  # first minimum = smallest xmin among exact ties
    fit = fit_power_law(x, method="csn", **kw)
    chosen = int(np.flatnonzero(xmins == float(fit.xmin))[0])
    if x.dtype == np.float64:
        assert chosen == best
    else:  # float32: candidates within rounding of the minimum may swap between programs
        assert exact[chosen] <= exact[best] + 64 * np.finfo(np.float32).eps
    # the fit evaluates the winner in a differently shaped program: equal to rounding
    rtol = 1e-12 if x.dtype == np.float64 else 1e-5
    assert float(fit.D) == pytest.approx(exact[chosen], rel=rtol)
    assert float(fit.alpha) == pytest.approx(alphas[chosen], rel=rtol)


def test_host_sorted_single_equals_in_graph_sorted_batch():
    # One spectrum is sorted and filtered on the host and padded to a length bucket; a batch row is
    # sorted in the graph. Zeros, values above xmax and the row's order must not matter.
    rng = np.random.default_rng(5)
    x = np.r_[rng.pareto(1.5, 600) + 1, np.zeros(20)]
    for kw in ({}, {"xmax": 20.0}, {"xmax": "max", "drop_top": 2}):
        single = fit_power_law(x, method="csn", **kw)
        batch = fit_power_law(np.stack([rng.permutation(x), rng.permutation(x)]), method="csn", **kw)
        for field in ("xmin", "n_tail", "n"):
            assert np.all(np.asarray(getattr(batch, field)) == np.asarray(getattr(single, field))), (
                kw,
                field,
            )
        for field in ("alpha", "D"):  # sums over differently padded rows: equal to rounding
            np.testing.assert_allclose(
                np.asarray(getattr(batch, field)), float(getattr(single, field)), rtol=1e-12
            )


def test_single_spectra_of_nearby_lengths_share_one_program():
    from rmtkit.powerlaw.compiled import bucket as _bucket
    from rmtkit.powerlaw.compiled import fit_single as _fit_single

    assert [_bucket(m) for m in (3, 32, 33, 100, 1000, 1024, 1025, 30000)] == [
        32,
        32,
        36,
        104,
        1024,
        1024,
        1152,
        30720,
    ]
    rng = np.random.default_rng(6)
    fit_power_law(rng.pareto(1.5, 1000) + 1, method="csn")
    before = _fit_single._cache_size()
    for m in range(969, 1025, 7):  # one bucket: 961..1024
        fit_power_law(rng.pareto(1.5, m) + 1, method="csn")
    assert _fit_single._cache_size() == before
