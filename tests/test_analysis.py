"""The Analysis object (issue 15 item 1): what analyze() computed, once, and everything downstream reading it."""

import numpy as np
import pandas as pd
import pytest

import rmtkit
from rmtkit import analyzer, checkpoints, cli, marchenko_pastur, phases, results
from rmtkit import spectra as spectra_module
from rmtkit.analysis import Analysis


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(7)
    return {"gauss": rng.standard_normal((400, 200)), "heavy": rng.standard_t(1.5, (600, 300)),
            "bias": np.zeros(10), "nan": np.full((80, 60), np.nan)}


@pytest.fixture(scope="module")
def analysis(weights):
    return rmtkit.analyze(weights, randomize=True, seed=3, progress=False)


def test_analysis_holds_spectra_fits_metrics_and_reasons(analysis, weights):
    assert isinstance(analysis, Analysis) and analysis.names == ("gauss", "heavy") and len(analysis) == 2
    df = analysis.to_frame().set_index("name")
    for i, name in enumerate(analysis.names):
        w = weights[name]
        reference = np.linalg.eigvalsh(w.T @ w)  # numpy LAPACK, lambda = s^2 (the default convention)
        np.testing.assert_allclose(analysis.spectrum(name), reference, rtol=1e-9, atol=1e-9 * reference[-1])
        assert analysis.lengths[i] == w.shape[1] and analysis.q[i] == pytest.approx(w.shape[0] / w.shape[1])
        assert analysis.mp.sigma[i] == df.loc[name, "mp_sigma"] and analysis.pl.alpha[i] == df.loc[name, "alpha"]
        assert analysis.metrics["hard_rank"][i] == df.loc[name, "hard_rank"] == w.shape[1]
        assert analysis.metrics["lambda_max"][i] == pytest.approx(reference[-1], rel=1e-9)
        assert analysis.phases[i]["phase"] == df.loc[name, "phase"]
        assert analysis.phases[i]["reason"] == df.loc[name, "phase_reason"]
        shuffled = analysis.randomized.evals[i, : analysis.randomized.lengths[i]]
        assert shuffled.size == w.shape[1] and shuffled.sum() == pytest.approx(reference.sum(), rel=1e-9)  # same Frobenius norm
    assert analysis.failed == {"nan": "4800 NaN/Inf entries in the weights"}
    assert [(s.name, s.reason) for s in analysis.skipped] == [
        ("bias", "1-D tensor (bias, norm or scalar): not a weight matrix")]
    with pytest.raises(KeyError, match="'nan' was not analysed: 4800 NaN/Inf"):
        analysis.spectrum("nan")
    layer = analysis.layer("heavy")
    assert layer.pl.alpha.shape == () and float(layer.pl.alpha) == df.loc["heavy", "alpha"]
    assert layer.warning == df.loc["heavy", "warning"] and layer.phase == df.loc["heavy", "phase"]


def test_to_frame_is_the_table_with_provenance_and_a_copy(analysis, weights):
    df = analysis.to_frame()
    assert list(df.columns) == analyzer.COLUMNS + analyzer.RANDOMIZE_COLUMNS
    assert list(df["name"]) == list(checkpoints.load_weights(weights)) == ["bias", "gauss", "heavy", "nan"]  # model order
    assert df.attrs["rmtkit"] == dict(analysis.provenance) and df.attrs["rmtkit"]["options"]["seed"] == 3
    df.loc[0, "alpha"] = -1.0
    df.attrs["rmtkit"]["options"]["seed"] = 99
    again = analysis.to_frame()
    assert again.loc[0, "alpha"] != -1.0 and again.attrs["rmtkit"]["options"]["seed"] == 3
    assert "mp_soft_rank" in df.columns and "mp_softrank" not in df.columns


def test_row_status_is_the_vocabulary_of_the_table_and_the_summary(analysis):
    from rmtkit.status import RowStatus

    df = analysis.to_frame()
    assert [RowStatus(s) for s in df["status"]] == [RowStatus.SKIPPED, RowStatus.OK, RowStatus.OK, RowStatus.FAILED]
    assert [s.value for s in RowStatus if s.analysed] == RowStatus.analysed_values() == ["ok", "partial"]
    assert not RowStatus.FAILED.analysed and RowStatus.PARTIAL.analysed and "a fit failed" in RowStatus.PARTIAL.meaning
    counts = rmtkit.summarize(analysis)
    assert list(counts.index[:5]) == ["layers_analysed", "layers_ok", "layers_partial", "layers_skipped",
                                      "layers_failed"]
    assert list(counts.iloc[:5]) == [2, 2, 0, 1, 1]


def test_summarize_write_results_and_table_take_the_analysis(analysis):
    pd.testing.assert_series_equal(rmtkit.summarize(analysis), rmtkit.summarize(analysis.to_frame()))
    assert rmtkit.summarize(analysis)["layers_analysed"] == 2
    for fmt in ("csv", "json", "table"):
        assert results.write_results(analysis, None, fmt) == results.write_results(analysis.to_frame(), None, fmt)


def _counting(monkeypatch, module, name, calls):
    original = getattr(module, name)

    def counted(evals, *args, **kwargs):
        calls.append(np.shape(evals)[0] if np.ndim(evals) == 2 else 1)
        return original(evals, *args, **kwargs)

    monkeypatch.setattr(module, name, counted)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["auto", "csn"])
def test_power_law_batch_is_fitted_once(monkeypatch, method):
    """One fit of the batch with the chosen estimator; another estimator adds one reference CSN fit of the batch
    (the verdicts read it for every row), and the classifier never fits on its own."""
    rng = np.random.default_rng(11)
    weights = {f"t{k}": rng.standard_t(nu, (600, 300)) for k, nu in enumerate((1.0, 1.6, 2.2, 3.0))}
    weights["gauss"] = rng.standard_normal((400, 200))
    batch, extra = [], []
    _counting(monkeypatch, analyzer, "fit_power_law", batch)
    _counting(monkeypatch, phases, "fit_power_law", extra)
    analysis = rmtkit.analyze(weights, pl_method=method, progress=False)
    assert batch == ([5] if method == "csn" else [5, 5])  # the batch, once per fit
    assert extra == [] and all(f["tail_fit"] == 1 for f in analysis.phases)
    df = analysis.to_frame()
    if method == "csn":
        np.testing.assert_array_equal(df["verdict_alpha"], df["alpha"])
    else:
        assert np.isfinite(analysis.pl.xmax).all()  # the reported fit is the bounded "auto" one
        reference = rmtkit.fit_power_law(analysis.spectrum("t2"), method="csn")
        assert df.set_index("name").loc["t2", "verdict_alpha"] == pytest.approx(float(reference.alpha), rel=1e-9)


@pytest.mark.slow
def test_auto_reports_the_phase_csn_would_give(monkeypatch):
    rng = np.random.default_rng(11)
    weights = {f"t{k}": rng.standard_t(nu, (600, 300)) for k, nu in enumerate((1.0, 1.6, 2.2, 3.0))}
    csn = rmtkit.analyze(weights, pl_method="csn").to_frame()
    auto = rmtkit.analyze(weights, pl_method="auto").to_frame()
    assert list(auto["phase"]) == list(csn["phase"])  # decided on the calibrated statistic either way
    assert not np.allclose(auto["alpha"], csn["alpha"])  # while alpha is each method's own


@pytest.mark.slow
def test_cli_plots_reuse_the_analysis(tmp_path, monkeypatch, capsys):
    """``--plots``: one read of the checkpoint, one eigendecomposition per layer, one MP fit of the batch."""
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "w.npz", a=rng.standard_normal((120, 80)), b=rng.standard_t(2.0, (150, 100)))
    loads, eig_calls, mp_batches, mp_anywhere = [], [], [], []
    load = checkpoints.load_weights
    monkeypatch.setattr(analyzer, "load_weights", lambda source: loads.append(source) or load(source))
    _counting(monkeypatch, spectra_module, "eigenvalues_numpy", eig_calls)
    _counting(monkeypatch, analyzer, "fit_marchenko_pastur", mp_batches)
    _counting(monkeypatch, marchenko_pastur, "fit_marchenko_pastur", mp_anywhere)  # a late import would find this one
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    code = cli.main(["analyze", str(tmp_path / "w.npz"), "--plots", str(tmp_path / "figs"), "--no-progress",
                     "-o", str(tmp_path / "r.csv")])
    assert code == 0, capsys.readouterr().err
    assert len(loads) == 1 and mp_batches == [2] and mp_anywhere == []
    assert eig_calls in ([1, 1], [])  # per matrix on CPU (host LAPACK); batched on the device elsewhere
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["a.png", "b.png", "model.png"]


def test_read_results_renames_the_old_soft_rank_column(tmp_path, analysis):
    old = analysis.to_frame().rename(columns={"mp_soft_rank": "mp_softrank"})
    results.write_results(old, tmp_path / "old.csv", "csv", rmtkit.summarize(analysis).rename({"mean_mp_soft_rank": "mean_mp_softrank"}))
    back = results.read_results(tmp_path / "old.csv")
    pd.testing.assert_frame_equal(back, analysis.to_frame())
    assert back.attrs["rmtkit_summary"]["mean_mp_soft_rank"] == pytest.approx(rmtkit.summarize(analysis)["mean_mp_soft_rank"])


@pytest.mark.slow
def test_entropy_uses_the_analyzers_hard_rank(monkeypatch, weights):
    from rmtkit import metrics

    ranks = []
    monkeypatch.setattr(metrics, "hard_rank", lambda *a, **k: ranks.append(1))  # the analyzer must not need it
    analysis = rmtkit.analyze({"low": weights["gauss"][:, :50] @ np.random.default_rng(0).standard_normal((50, 200))})
    assert ranks == []
    ev = analysis.spectrum("low")
    rank = int(analysis.metrics["hard_rank"][0])
    assert rank == 50 == int(np.sum(ev > 0))  # rank 50 of 200: the nulls are set to 0 by the resolution
    p = ev[ev > 0] / ev.sum()
    assert analysis.metrics["entropy"][0] == pytest.approx(-np.sum(p * np.log(p)) / np.log(rank), rel=1e-12)
