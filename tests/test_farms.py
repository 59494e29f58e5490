"""FARMS (Hu et al., ICML 2025): windows, the pooled ESD against a plain NumPy loop, and the analyzer option."""

import json

import numpy as np
import pandas as pd
import pytest

import rmtkit
from rmtkit import cli
from rmtkit.powerlaw import fit_power_law
from rmtkit.spectrum import farms_eigenvalues, farms_windows

# 30 x 20, windows of 10 x 10, at least 3 per dimension: rows start at 0, 10, 20 (ceil(30 / 10) = 3),
# columns at 0, 5, 10 (3 starts spread over 0..10). Written out by hand, not by the code under test.
HAND_ROWS, HAND_COLS = [0, 10, 20], [0, 5, 10]


def numpy_pooled(w, row_starts, col_starts, rows, cols):
    """The reference: every window's squared singular values (LAPACK SVD), concatenated and sorted."""
    return np.sort(np.concatenate([np.linalg.svd(w[r:r + rows, c:c + cols], compute_uv=False) ** 2
                                   for r in row_starts for c in col_starts]))


def test_windows_by_hand_and_they_cover_the_matrix():
    r, c, rows, cols = farms_windows(30, 20, size=10, per_dim=3)
    assert (rows, cols) == (10, 10)
    assert sorted(set(zip(r.tolist(), c.tolist(), strict=True))) == [(i, j) for i in HAND_ROWS for j in HAND_COLS]
    for n, m, size, q, per_dim in [(384, 384, 100, 1.0, 10), (1536, 384, 100, 2.0, 4), (97, 13, 50, 1.0, 2),
                                   (50, 50, 100, 1.0, 10), (1000, 100, 30, 3.0, 1)]:
        r, c, rows, cols = farms_windows(n, m, size=size, q=q, per_dim=per_dim)
        assert cols == min(size, m, int(n // q)) and rows == round(q * cols)  # one aspect ratio for every window
        covered = np.zeros((n, m), bool)
        for i, j in zip(r, c, strict=True):
            assert 0 <= i <= n - rows and 0 <= j <= m - cols
            covered[i:i + rows, j:j + cols] = True
        assert covered.all()  # every entry is in some window
        assert len(set(r.tolist())) >= min(per_dim, n - rows + 1) and len(set(c.tolist())) >= min(per_dim, m - cols + 1)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_pooled_eigenvalues_equal_a_numpy_loop(backend):
    w = np.random.default_rng(0).standard_normal((30, 20))
    expected = numpy_pooled(w, HAND_ROWS, HAND_COLS, 10, 10)
    got = np.asarray(farms_eigenvalues(w, size=10, per_dim=3, backend=backend))
    assert got.shape == (9 * 10,)  # 9 windows, 10 eigenvalues each
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * expected.max())  # float64 LAPACK vs XLA
    # the stored layout (M x N) gives the same windows of the transpose; normalize divides by the window's rows
    np.testing.assert_allclose(np.asarray(farms_eigenvalues(w.T, size=10, per_dim=3, normalize=True, backend=backend)),
                               expected / 10, rtol=1e-10, atol=1e-12 * expected.max())


def test_aspect_ratio_conv_slices_and_nulls():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((30, 20))
    # q = 2: windows of 20 x 10 (rows start at 0 and 10; ceil(30 / 20) = 2), columns at 0, 10 (ceil(20 / 10) = 2)
    expected = numpy_pooled(w, [0, 10], [0, 10], 20, 10)
    np.testing.assert_allclose(np.asarray(farms_eigenvalues(w, size=10, q=2.0, per_dim=1)), expected, rtol=1e-10)
    # conv: the slices are windowed alike and pooled
    k = rng.standard_normal((2, 30, 20))
    pooled = np.sort(np.concatenate([numpy_pooled(x, HAND_ROWS, HAND_COLS, 10, 10) for x in k]))
    np.testing.assert_allclose(np.asarray(farms_eigenvalues(k, size=10, per_dim=3)), pooled, rtol=1e-10)
    # rank 1: one non-null eigenvalue per window, the other nine at exactly 0
    rank1 = np.outer(rng.standard_normal(30), rng.standard_normal(20))
    ev = np.asarray(farms_eigenvalues(rank1, size=10, per_dim=3, rtol=1e-6))
    assert int((ev > 0).sum()) == 9 and int((ev == 0).sum()) == 81


def model():
    rng = np.random.default_rng(2)
    return {"tall": rng.standard_normal((60, 20)) * rng.pareto(3.0, (60, 20)), "square": rng.standard_t(3, (40, 40)),
            "bias": np.ones(4)}


OPTIONS = dict(farms_size=10, farms_windows=2, progress=False)


def test_analyze_fits_the_pooled_esd_and_keeps_the_rest():
    m = model()
    full = rmtkit.analyze(m, **OPTIONS)
    farms = rmtkit.analyze(m, esd="farms", **OPTIONS)
    # 10 x 10 windows, at least 2 per dimension and enough to cover it: starts 10 apart on every side here
    for name, (rows, col_starts) in {"tall": ([0, 10, 20, 30, 40, 50], [0, 10]),
                                     "square": ([0, 10, 20, 30], [0, 10, 20, 30])}.items():
        ref = numpy_pooled(m[name], rows, col_starts, 10, 10)
        np.testing.assert_allclose(farms.tail_spectrum(name), ref, rtol=1e-9)
        i = farms.index(name)
        assert farms.farms.windows[i] == len(rows) * len(col_starts) and farms.farms.window_shape[i].tolist() == [10, 10]
        alone = fit_power_law(ref, method="csn")  # the analyzer's default pl_method
        np.testing.assert_allclose([farms.pl.alpha[i], farms.pl.xmin[i]], [float(alone.alpha), float(alone.xmin)],
                                   rtol=1e-9)
        # the exponent inside the alpha metrics is FARMS', the norms are W's
        top = farms.spectrum(name)[-1]
        np.testing.assert_allclose(farms.metrics["alpha_weighted"][i], float(alone.alpha) * np.log10(top), rtol=1e-9)
    a, b = full.to_frame(), farms.to_frame()
    assert list(a.columns) == list(b.columns)
    same = ["lambda_max", "mp_sigma", "lambda_plus", "num_spikes", "stable_rank", "entropy", "log_norm", "phase"]
    pd.testing.assert_frame_equal(a[same], b[same])  # MP fit, norms and phases read the full ESD
    assert not np.allclose(a["alpha"].dropna(), b["alpha"].dropna())
    assert b.attrs["rmtkit"]["options"]["esd"] == "farms" and "FARMS" in b.attrs["rmtkit"]["esd"]
    assert full.farms is None and a.attrs["rmtkit"]["options"]["esd"] == "full"


def test_unknown_esd_and_bad_windows_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="esd must be one of"):
        rmtkit.analyze(model(), esd="pooled")
    with pytest.raises(ValueError, match="farms_q >= 1"):
        rmtkit.analyze(model(), esd="farms", farms_q=0.5)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["analyze", "x.npz", "--esd", "pooled"])
    assert exit_info.value.code == cli.EXIT_INPUT and "invalid choice: 'pooled'" in capsys.readouterr().err


def test_cli_esd_farms_round_trips(tmp_path, capsys):
    np.savez(tmp_path / "m.npz", **model())
    assert cli.main(["analyze", str(tmp_path / "m.npz"), "--esd", "farms", "--format", "json", "--no-progress"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["options"]["esd"] == "farms" and payload["options"]["farms_size"] == 100
    api = rmtkit.analyze(tmp_path / "m.npz", esd="farms", progress=False).to_frame().set_index("name")
    for row in payload["layers"]:
        if row["status"] == "ok":
            assert row["alpha"] == pytest.approx(api.loc[row["name"], "alpha"], rel=1e-9)  # JSON keeps 10 digits


def test_layer_figure_draws_the_esd_the_fit_read():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rmtkit.plot import layer_figure

    m = model()
    farms = rmtkit.analyze(m, esd="farms", **OPTIONS)
    layer = farms.layer("tall")
    np.testing.assert_array_equal(layer.tail_evals, farms.tail_spectrum("tall"))
    fig = layer_figure(layer)
    ccdf = fig.axes[1].lines[0].get_xdata()  # the tail panel's ccdf points: the pooled ESD, not W's
    # The panel spans a few decades below xmin (points further left are counted in a note, not drawn): every
    # point drawn is an eigenvalue of the pooled ESD, and not all of them are eigenvalues of W.
    assert len(ccdf) > 10 and np.isin(ccdf, layer.tail_evals).all() and not np.isin(ccdf, layer.evals).all()
    assert "FARMS" in fig.axes[1].get_title()
    plt.close(fig)
    assert rmtkit.analyze(m, **OPTIONS).layer("tall").tail_evals is None
