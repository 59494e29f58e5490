"""compare, fine-tuning deltas and checkpoint series, against NumPy / SciPy computations on small matrices."""

import json

import numpy as np
import pytest
from scipy import stats

from rmtkit import checkpoints
from rmtkit.compare import (
    analyze_delta,
    analyze_series,
    compare,
    ks_distance,
    plot_trajectories,
    weight_delta,
)


def top_eigenvalue(w):
    w = np.asarray(w, np.float64)
    w = w if w.shape[0] >= w.shape[1] else w.T
    return float(np.linalg.eigvalsh(w.T @ w)[-1])


def frame(result):
    return result if hasattr(result, "columns") else result.to_frame()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_distance_is_scipys_two_sample_statistic(seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_t(3, size=200) ** 2
    b = np.concatenate([rng.standard_t(4, size=150) ** 2, a[:20]])  # shared values: ties across the samples
    assert ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert ks_distance(a, a) == 0.0


def models():
    rng = np.random.default_rng(3)
    a = {"l1.kernel": rng.standard_normal((120, 80)), "l2.kernel": rng.standard_normal((120, 80)),
         "gone.kernel": rng.standard_normal((120, 80)), "bias": np.zeros(80)}
    b = {"l1.kernel": a["l1.kernel"] + 0.3 * rng.standard_normal((120, 80)),
         "l2.kernel": a["l2.kernel"] * 2.0, "new.kernel": rng.standard_normal((120, 80)), "bias": np.ones(80)}
    return a, b


@pytest.mark.slow
def test_compare_against_numpy():
    a, b = models()
    out = compare(a, b, progress=False).set_index("name")
    assert out.loc["gone.kernel", "status"] == "only in a" and out.loc["new.kernel", "status"] == "only in b"
    for name in ("l1.kernel", "l2.kernel"):
        row = out.loc[name]
        assert row.status == "compared"
        wa, wb = a[name], b[name]
        assert row.rel_frobenius == pytest.approx(np.linalg.norm(wb - wa) / np.linalg.norm(wa), rel=1e-12)
        ea, eb = np.linalg.eigvalsh(wa.T @ wa), np.linalg.eigvalsh(wb.T @ wb)
        assert row.esd_ks == pytest.approx(stats.ks_2samp(ea, eb).statistic, abs=1e-9)
        assert row.delta_lambda_max == pytest.approx(eb[-1] - ea[-1], rel=1e-9)
        assert row.delta_alpha == pytest.approx(row.alpha_b - row.alpha_a, rel=1e-12)
    # W -> 2 W: every eigenvalue x4, so log10 lambda_max moves by log10(4) and the scale-free alpha not at all
    assert out.loc["l2.kernel", "delta_log_spectral_norm"] == pytest.approx(np.log10(4), rel=1e-9)
    assert out.loc["l2.kernel", "delta_alpha"] == pytest.approx(0, abs=1e-9)  # alpha is scale free
    assert out.loc["bias", "status"] == "not comparable"


@pytest.mark.slow
def test_fine_tuning_delta_is_w_minus_base(tmp_path):
    rng = np.random.default_rng(4)
    base = {"fc.kernel": rng.standard_normal((150, 100)).astype(np.float32),
            "head.kernel": rng.standard_normal((100, 20)).astype(np.float32)}
    tuned = {"fc.kernel": base["fc.kernel"] + 0.05 * rng.standard_normal((150, 100)).astype(np.float32),
             "head.kernel": rng.standard_normal((100, 30)).astype(np.float32),  # a new head: another shape
             "extra.kernel": rng.standard_normal((60, 40)).astype(np.float32)}
    checkpoints.write_safetensors(tmp_path / "base.safetensors", base)
    checkpoints.write_safetensors(tmp_path / "tuned.safetensors", tuned)
    delta = weight_delta(tmp_path / "tuned.safetensors", tmp_path / "base.safetensors")
    np.testing.assert_array_equal(np.asarray(delta["fc.kernel"]), tuned["fc.kernel"] - base["fc.kernel"])
    df = frame(analyze_delta(tmp_path / "tuned.safetensors", tmp_path / "base.safetensors", progress=False))
    df = df.set_index("name")
    expected = top_eigenvalue(tuned["fc.kernel"] - base["fc.kernel"])
    assert df.loc["fc.kernel", "lambda_max"] == pytest.approx(expected, rel=1e-5)
    assert df.loc["head.kernel", "status"] == "skipped"
    assert df.loc["head.kernel", "reason"] == "shape (100, 20) in the base model: no delta"
    assert df.loc["extra.kernel", "reason"] == "not in the base model: no delta"


@pytest.mark.slow
def test_series_is_one_long_table_in_step_order(tmp_path):
    rng = np.random.default_rng(5)
    paths, weights = [], {}
    for step in (10, 1, 2):  # given out of order; "epoch_10" sorts before "epoch_2" as text
        w = rng.standard_t(3, size=(140, 90)).astype(np.float32) * (1 + step / 10)
        weights[step] = w
        paths.append(tmp_path / f"epoch_{step}.safetensors")
        checkpoints.write_safetensors(paths[-1], {"fc.kernel": w, "fc.bias": np.zeros(90, np.float32)})
    series = analyze_series(paths, progress=False)
    assert list(series["step"]) == [1, 1, 2, 2, 10, 10]
    assert list(series["checkpoint"].drop_duplicates()) == [str(tmp_path / f"epoch_{s}.safetensors") for s in (1, 2, 10)]
    fc = series[series["name"] == "fc.kernel"]
    np.testing.assert_allclose(fc["lambda_max"], [top_eigenvalue(weights[s]) for s in (1, 2, 10)], rtol=1e-6)
    assert (series.loc[series["name"] == "fc.bias", "status"] == "skipped").all()
    out = tmp_path / "trajectories.png"
    plot_trajectories(series, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_series_base_and_compare(tmp_path, capsys):
    import pandas as pd

    from rmtkit.cli import main

    rng = np.random.default_rng(9)
    w0 = rng.standard_normal((100, 70)).astype(np.float32)
    w1 = w0 + 0.5 * rng.standard_normal((100, 70)).astype(np.float32)
    for step, w in ((0, w0), (1, w1)):
        checkpoints.write_safetensors(tmp_path / f"epoch_{step}.safetensors", {"fc.kernel": w})
    e0, e1 = str(tmp_path / "epoch_0.safetensors"), str(tmp_path / "epoch_1.safetensors")
    capsys.readouterr()
    assert main(["analyze", e1, e0, "--format", "csv", "-o", str(tmp_path / "s.csv"), "--plots", str(tmp_path / "p")]) == 0
    written = capsys.readouterr().err  # a series says where it wrote, with its sidecar, as one checkpoint does
    assert f"results written to {(tmp_path / 's.csv').resolve()} (provenance in " in written
    assert (tmp_path / "s.csv.meta.json").exists()
    series = pd.read_csv(tmp_path / "s.csv")
    assert list(series["step"]) == [0, 1] and list(series["checkpoint"]) == [e0, e1]
    assert (tmp_path / "p" / "trajectories.png").exists()
    assert main(["analyze", e1, "--base", e0, "--format", "csv", "-o", str(tmp_path / "d.csv")]) == 0
    delta = pd.read_csv(tmp_path / "d.csv")
    assert delta["lambda_max"][0] == pytest.approx(top_eigenvalue(w1.astype(np.float64) - w0), rel=1e-5)
    # A difference gets no training verdict, and every output says it describes W - W_base.
    assert delta["phase"].isna().all() and list(delta["phase_rule"]) == ["difference"]
    assert not any("trained" in w for w in delta["warning"] if isinstance(w, str))
    sidecar = json.loads((tmp_path / "d.csv.meta.json").read_text())
    assert sidecar["rmtkit"]["subject"] == "W - W_base (differences from a base model: no training verdicts)"
    capsys.readouterr()
    assert main(["analyze", e1, "--base", e0, "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("W - W_base (differences from a base model: no training verdicts)\n")
    assert "summary of W - W_base\n" in text
    capsys.readouterr()
    assert main(["compare", e0, e1, "--format", "csv"]) == 0
    out = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert out["rel_frobenius"][0] == pytest.approx(np.linalg.norm(w1 - w0) / np.linalg.norm(w0), rel=1e-6)


def test_trajectories_draw_every_layer_with_whole_step_ticks():
    """39 layers over 5 checkpoints (MiniLM's count): 39 lines per panel, not the first 12, a colour bar
    instead of a 39-entry legend, and steps 1..5 as whole-number ticks (not 1.5, 2.5, ...)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from rmtkit.compare import LEGEND_LAYERS
    from rmtkit.plot import MIN_TEXT_PT

    names = [f"encoder.layer.{i // 6}.m{i % 6}.weight" for i in range(39)]
    series = pd.DataFrame([{"checkpoint": f"epoch_{s}.safetensors", "step": s, "name": n, "status": "ok",
                            "alpha": 2 + i / 10 + s / 5, "mp_soft_rank": 0.5, "phase": "bulk-decay"}
                           for s in range(1, 6) for i, n in enumerate(names)])
    fig = plot_trajectories(series)
    panels = fig.axes[:3]
    for ax in panels:
        assert len([line for line in ax.get_lines() if line.get_label() in names]) == 39
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert 39 > LEGEND_LAYERS and not fig.legends and len(fig.axes) == 4  # the colour bar
    assert fig.axes[3].get_xlabel().startswith("layer, in model order: 1 = encoder.layer.0.m0.weight, 39 = ")
    assert fig.axes[3].xaxis.label.get_fontsize() >= MIN_TEXT_PT
    plt.close(fig)
    few = plot_trajectories(series[series["name"].isin(names[:3])])
    assert [t.get_text() for t in few.legends[0].get_texts()] == names[:3]
    assert min(t.get_fontsize() for t in few.legends[0].get_texts()) >= MIN_TEXT_PT
    plt.close(few)


def test_compare_reads_the_spectra_of_its_two_analyses(monkeypatch):
    """One eigendecomposition per layer and model: the ESD distance reuses the analyses' spectra."""
    from rmtkit import analyzer

    calls = []
    solve = analyzer.matrix_spectra
    monkeypatch.setattr(analyzer, "matrix_spectra", lambda layers, *a, **k: calls.append(len(layers)) or solve(layers, *a, **k))
    a, b = models()
    out = compare(a, b).set_index("name")
    assert calls == [3, 3]  # l1, l2, gone in a; l1, l2, new in b: once each
    assert out.loc["l1.kernel", "esd_ks"] > 0


def test_spectra_and_extras_take_the_analysis_not_its_table():
    import rmtkit
    from rmtkit.compare import spectra_of
    from rmtkit.extra import analyze_extra

    w = {"w": np.random.default_rng(0).standard_normal((90, 60))}
    analysis = rmtkit.analyze(w)
    assert list(spectra_of(analysis)) == ["w"] and spectra_of(analysis)["w"].shape == (60,)
    with pytest.raises(TypeError, match="not a DataFrame"):
        spectra_of(analysis.to_frame())
    with pytest.raises(TypeError, match="not a DataFrame"):
        analyze_extra(w, analysis.to_frame())
