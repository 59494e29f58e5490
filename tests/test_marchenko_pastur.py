"""Marchenko-Pastur law and fit, checked against theory (closed forms, quadrature) and synthetic ground truth."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.stats

import rmtkit
from rmtkit import ensembles
from rmtkit.status import FitStatus

QS = [1.0, 2.0, 4.0, 10.67]


@pytest.mark.parametrize("q", QS)
def test_pdf_integrates_to_one_and_cdf_matches_quadrature(q):
    lo, hi = (float(e) for e in rmtkit.marchenko_pastur_edges(q, 1.3))
    pdf = lambda x: float(rmtkit.marchenko_pastur_pdf(x, q, 1.3))
    total = scipy.integrate.quad(pdf, lo, hi, limit=400)[0]
    assert total == pytest.approx(1.0, abs=1e-6)
    for x in np.linspace(lo, hi, 7)[1:-1]:
        expect = scipy.integrate.quad(pdf, lo, x, limit=400)[0]
        assert float(rmtkit.marchenko_pastur_cdf(x, q, 1.3)) == pytest.approx(expect, abs=1e-7)
    assert float(rmtkit.marchenko_pastur_cdf(lo * 0.99, q, 1.3)) == 0.0
    assert float(rmtkit.marchenko_pastur_cdf(hi * 1.01, q, 1.3)) == 1.0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_cdf_is_finite_and_monotone_at_the_edges_in_both_precisions(dtype):
    # At q = 1 the lower edge is 0 and the density diverges there: values that round onto an edge
    # must give 0 or 1, never 0/0 (the fit runs its search in float32).
    x = jnp.asarray([0.0, 1e-12, 1e-9, 1e-7, 1e-4, 0.5, 3.999999, 4.0, 5.0], dtype)
    for q in (1.0, 1.0 + 1e-7, 2.0):
        f = np.asarray(rmtkit.marchenko_pastur_cdf(x, jnp.asarray(q, dtype)))
        assert np.all(np.isfinite(f)) and np.all(np.diff(f) >= 0) and f[0] == 0 and f[-1] == 1
    # small-t limit at q = 1: F(t) ~ (2 / pi) sqrt(t)
    assert float(rmtkit.marchenko_pastur_cdf(jnp.asarray(1e-4, dtype), 1.0)) == pytest.approx(2 / np.pi * 1e-2, rel=1e-2)


@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_moments_match_quadrature(q, k):
    lo, hi = (float(e) for e in rmtkit.marchenko_pastur_edges(q, 0.7))
    expect = scipy.integrate.quad(lambda x: x**k * float(rmtkit.marchenko_pastur_pdf(x, q, 0.7)), lo, hi, limit=400)[0]
    assert float(rmtkit.marchenko_pastur_moment(k, q, 0.7)) == pytest.approx(expect, rel=1e-6)


def test_first_two_moments_closed_form():
    # E[lambda] = sigma^2, E[lambda^2] = sigma^4 (1 + 1/q).
    assert float(rmtkit.marchenko_pastur_moment(1, 3.0, 2.0)) == pytest.approx(4.0)
    assert float(rmtkit.marchenko_pastur_moment(2, 3.0, 2.0)) == pytest.approx(16.0 * (1 + 1 / 3))
    with pytest.raises(ValueError, match="non-negative integer"):
        rmtkit.marchenko_pastur_moment(-1, 2.0)


@pytest.mark.parametrize("q", QS)
def test_quantile_inverts_cdf(q):
    p = jnp.linspace(0.01, 0.99, 23)
    x = rmtkit.marchenko_pastur_quantile(p, q, 0.5)
    np.testing.assert_allclose(rmtkit.marchenko_pastur_cdf(x, q, 0.5), p, atol=1e-10)


def test_samples_pass_ks_against_cdf(key):
    x = np.asarray(rmtkit.marchenko_pastur_sample(key, (4000,), 2.0, 1.5))
    res = scipy.stats.kstest(x, lambda t: np.asarray(rmtkit.marchenko_pastur_cdf(t, 2.0, 1.5)))
    assert res.pvalue > 0.01


def test_tracy_widom_scale_is_johnstones_scale():
    # Johnstone (2001): sigma_np = (sqrt(N) + sqrt(M)) (1/sqrt(N) + 1/sqrt(M))^(1/3), for W^T W (no 1/N).
    n, m = 2000, 500
    johnstone = (np.sqrt(n) + np.sqrt(m)) * (1 / np.sqrt(n) + 1 / np.sqrt(m)) ** (1 / 3) / n
    assert float(rmtkit.tracy_widom_scale(n / m, m)) == pytest.approx(johnstone, rel=1e-12)
    assert float(rmtkit.tracy_widom_scale(n / m, m, 2.0)) == pytest.approx(4 * johnstone, rel=1e-12)


def test_bbp_threshold_and_spike_position():
    assert float(rmtkit.bbp_threshold(16.0)) == pytest.approx(0.5)
    s, q = 2.0, 4.0
    assert float(rmtkit.spike_position(s, q)) == pytest.approx((0.25 + 4) * 1.25)
    # Below threshold the top eigenvalue sticks to the edge; at the threshold the two agree.
    assert float(rmtkit.spike_position(0.5, q)) == pytest.approx(float(rmtkit.marchenko_pastur_edges(q)[1]))
    thr = float(rmtkit.bbp_threshold(q))
    assert float(rmtkit.spike_position(thr * (1 + 1e-9), q)) == pytest.approx(float(rmtkit.marchenko_pastur_edges(q)[1]))


# --- the fit: acceptance on Gaussian and spiked ensembles --------------------------------------------------

GAUSSIAN_CASES = [(500, 1.0), (500, 2.0), (1000, 4.0)]


@pytest.mark.slow
@pytest.mark.parametrize(("m", "q"), GAUSSIAN_CASES)
def test_fit_gaussian_recovers_sigma_and_finds_no_spikes(m, q):
    n, sigma, seeds = int(m * q), 0.37, 20
    w = ensembles.gaussian(jax.random.key(m + int(q)), n, m, sigma, shape=(seeds,))
    ev = rmtkit.eigenvalues(w)
    fit = rmtkit.fit_marchenko_pastur(ev, q)
    rel = np.abs(np.asarray(fit.sigma) / sigma - 1)
    assert np.all(fit.status == FitStatus.OK)
    assert np.mean(rel < 0.01) >= 0.95, rel
    assert np.mean(np.asarray(fit.num_spikes) == 0) >= 0.95, fit.num_spikes
    # The whole spectrum passes a KS test against the MP cdf of the true sigma.
    for row in np.asarray(ev)[:5]:
        res = scipy.stats.kstest(row, lambda t: np.asarray(rmtkit.marchenko_pastur_cdf(t, q, sigma)))
        assert res.pvalue > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("q", [1.0, 2.0, 4.0])
def test_fit_finds_five_spikes_at_three_times_bbp(q):
    m, k, seeds = 1000, 5, 20
    strength = 3 * float(rmtkit.bbp_threshold(q))
    w = ensembles.spiked(jax.random.key(7), int(m * q), m, jnp.full(k, strength), shape=(seeds,))
    ev = np.asarray(rmtkit.eigenvalues(w))
    fit = rmtkit.fit_marchenko_pastur(ev, q)
    assert np.mean(np.asarray(fit.num_spikes) == k) >= 0.95, fit.num_spikes
    assert np.all(np.abs(np.asarray(fit.sigma) - 1) < 0.01)
    expect = float(rmtkit.spike_position(strength, q))
    spikes = ev[:, -k:]
    # Five spikes of equal strength repel each other: each fluctuates by a few percent at M = 1000,
    # while their mean sits on the theory. Both figures asserted; the per-spike bound is looser.
    assert np.abs(spikes.mean(1) / expect - 1).max() < 0.02
    assert np.abs(spikes / expect - 1).max() < 0.08


def test_fit_sigma_scales_with_eigenvalue_convention(key):
    # Without the 1/N the fit returns the effective sigma sqrt(N) * sigma.
    w = ensembles.gaussian(key, 800, 400, 0.05)
    raw = rmtkit.fit_marchenko_pastur(rmtkit.eigenvalues(w, normalize=False), 2.0)
    assert float(raw.sigma) == pytest.approx(0.05 * np.sqrt(800), rel=0.01)


def test_batched_fit_with_padding_equals_single_fits(key):
    k1, k2 = jax.random.split(key)
    a = np.asarray(rmtkit.eigenvalues(ensembles.gaussian(k1, 600, 300)))
    b = np.asarray(rmtkit.eigenvalues(ensembles.spiked(k2, 400, 200, [4.0, 6.0])))
    batch = np.zeros((2, 300))
    batch[0] = a
    batch[1, :200] = b[::-1]  # order inside a row does not matter
    batch[1, 200:] = 1e9  # padding: ignored whatever its value
    fit = rmtkit.fit_marchenko_pastur(batch, jnp.array([2.0, 2.0]), lengths=jnp.array([300, 200]))
    for i, ev in enumerate([a, b]):
        single = rmtkit.fit_marchenko_pastur(ev, 2.0)
        assert float(fit.sigma[i]) == pytest.approx(float(single.sigma), rel=1e-12)
        assert int(fit.num_spikes[i]) == int(single.num_spikes)
    assert int(fit.num_spikes[1]) == 2


# --- bad input ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("eigs", "q", "match"),
    [
        ([1.0, np.nan, 2.0, 3.0], 2.0, "NaN/Inf"),
        ([1.0, np.inf, 2.0, 3.0], 2.0, "NaN/Inf"),
        ([], 2.0, "empty"),
        ([1.0, 2.0], 2.0, "at least 3"),
        ([1.0, -0.5, 2.0, 3.0], 2.0, "negative"),
        ([1.0, 1.0, 1.0, 1.0], 2.0, "all 4 values are equal"),
        ([1.0, 2.0, 3.0], 0.5, "q = N/M must be finite and >= 1"),
        ([1.0, 2.0, 3.0], np.nan, "q = N/M must be finite"),
        (np.ones((2, 2, 2)), 2.0, "1-D .* or 2-D"),
    ],
)
def test_bad_input_raises_clear_error(eigs, q, match):
    with pytest.raises(ValueError, match=match):
        rmtkit.fit_marchenko_pastur(np.asarray(eigs, float), q)


def test_round_off_negatives_are_zeros():
    ev = np.array([-1e-18, 0.5, 1.0, 1.5, 2.0, 2.2])
    assert int(rmtkit.fit_marchenko_pastur(ev, 1.0).status) == FitStatus.OK


def test_batched_bad_rows_get_status_and_nan_not_numbers(key):
    good = np.asarray(rmtkit.eigenvalues(ensembles.gaussian(key, 200, 100)))
    rows = np.stack([good, good, good, good, good, good])
    rows[1, 5] = np.nan
    rows[2, 7] = -1.0
    rows[3] = 1.0
    lengths = np.array([100, 100, 100, 100, 2, 100])
    q = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 0.5])
    fit = rmtkit.fit_marchenko_pastur(rows, q, lengths=lengths)
    expect = [FitStatus.OK, FitStatus.NON_FINITE, FitStatus.NEGATIVE, FitStatus.DEGENERATE,
              FitStatus.TOO_FEW, FitStatus.BAD_Q]
    assert [FitStatus(int(s)) for s in fit.status] == expect
    assert np.isfinite(fit.sigma[0]) and np.all(np.isnan(np.asarray(fit.sigma[1:])))
    assert np.all(np.asarray(fit.num_spikes[1:]) == -1)
    assert FitStatus(int(fit.status[4])).reason == "fewer than 3 valid eigenvalues"


def test_batched_mask_errors():
    with pytest.raises(ValueError, match="mask shape"):
        rmtkit.fit_marchenko_pastur(np.ones((2, 5)), 2.0, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="either mask or lengths"):
        rmtkit.fit_marchenko_pastur(np.ones((2, 5)), 2.0, mask=np.ones((2, 5), bool), lengths=[5, 5])
    with pytest.raises(ValueError, match="batched"):
        rmtkit.fit_marchenko_pastur(np.arange(1.0, 6.0), 2.0, lengths=[5])
