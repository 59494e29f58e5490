"""simulations.generalization: the capacity metrics of a run and their Kendall tau with accuracy."""

import json

import numpy as np
import pandas as pd
import pytest

from simulations import generalization


def test_layer_metrics_by_hand():
    m = generalization.layer_metrics(np.array([1.0, 2.0, 4.0]), 2.0)
    assert m["alpha_hat"] == pytest.approx(2 * np.log10(4))
    assert m["log_alpha_norm"] == pytest.approx(np.log10(1 + 4 + 16))
    assert m["log_spectral_norm"] == pytest.approx(np.log10(4))
    assert m["log_frobenius_norm"] == pytest.approx(np.log10(7))
    assert m["stable_rank"] == pytest.approx(7 / 4)


def _report(folder, alphas, accs, *, n=512, extra_wd_run=False):
    """A report of len(alphas) runs whose FC1 and FC2 have lambda_max 10, so alpha_hat equals alpha."""
    folder.mkdir()
    rows, spectra = [], {}
    for i, (a, acc) in enumerate(zip(alphas, accs, strict=True)):
        run = f"batch_size={2 ** i},seed=0"
        rows.append({"run": run, "batch_size": 2 ** i, "seed": 0, "epochs": 3, "train_size": 60000,
                     "weight_decay": "none", "train_acc": 1.0, "test_acc": acc, "gap": 1.0 - acc,
                     "fc1_N": n, "fc1_M": 384, "fc1_alpha": a, "fc1_mp_softrank": 0.5,
                     "fc2_alpha": a, "fc2_mp_softrank": 0.5})
        for layer in ("fc1", "fc2"):
            spectra[f"{run}|{layer}"] = np.array([1.0, 3.0, 10.0])
    if extra_wd_run:  # rank-collapse runs never enter the tau
        rows.append({**rows[0], "run": "wd", "weight_decay": json.dumps({"fc1": 0.05}), "test_acc": 0.0})
        spectra.update({"wd|fc1": np.ones(3), "wd|fc2": np.ones(3)})
    pd.DataFrame(rows).to_csv(folder / "runs.csv", index=False)
    np.savez(folder / "final_eigenvalues.npz", **spectra)
    return folder


def test_kendall_tau_counts_pairs(tmp_path):
    # alpha_hat increasing; accuracies 0.9, 0.8, 0.85, 0.7: 1 concordant and 5 discordant pairs, tau = -4/6
    report = _report(tmp_path / "a", [2.0, 3.0, 4.0, 5.0], [0.9, 0.8, 0.85, 0.7], extra_wd_run=True)
    metrics = generalization.read_report(report)
    assert len(metrics) == 4 and set(metrics.sweep) == {"FC1 512 x 384"}
    np.testing.assert_allclose(metrics.alpha_hat, [2.0, 3.0, 4.0, 5.0])
    tau = generalization.kendall(metrics).set_index(["target", "metric"]).tau
    assert tau["test_acc", "alpha_hat"] == pytest.approx(-4 / 6)
    assert tau["gap", "alpha_hat"] == pytest.approx(4 / 6)
    assert tau["test_acc", "knob"] == pytest.approx(-4 / 6)  # batch sizes 1, 2, 4, 8: the same order


def test_two_sweeps_pooled_and_written(tmp_path):
    a = _report(tmp_path / "a", [2.0, 3.0, 4.0, 5.0], [0.9, 0.8, 0.85, 0.7])
    b = _report(tmp_path / "b", [2.5, 3.5, 4.5, 5.5], [0.95, 0.94, 0.93, 0.92], n=4096)
    out = tmp_path / "out"
    assert generalization.main([str(a), str(b), "--out", str(out)]) == 0
    tau = pd.read_csv(out / "kendall.csv")
    assert set(tau.scope) == {"FC1 512 x 384", "FC1 4096 x 384", "all sweeps"}
    assert tau[(tau.scope == "FC1 4096 x 384") & (tau.metric == "alpha_hat") & (tau.target == "test_acc")].tau.item() \
        == pytest.approx(-1.0)
    assert (tau[tau.scope == "all sweeps"].runs == 8).all()
    assert "| alpha_hat | - |" in (out / "kendall.md").read_text()
    assert (out / "kendall.png").stat().st_size > 10_000


def test_refusals(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no runs.csv"):
        generalization.read_report(tmp_path)
    mixed = _report(tmp_path / "m", [2.0, 3.0], [0.9, 0.8])
    runs = pd.read_csv(mixed / "runs.csv")
    runs.loc[1, "fc1_N"] = 4096
    runs.to_csv(mixed / "runs.csv", index=False)
    with pytest.raises(ValueError, match="mixes FC1 shapes"):
        generalization.read_report(mixed)
    assert generalization.main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no report to read" in capsys.readouterr().err


def test_a_label_noise_series_of_another_model(tmp_path):
    a = _report(tmp_path / "a", [2.0, 3.0, 4.0, 5.0], [0.9, 0.8, 0.85, 0.7])
    b = _report(tmp_path / "b", [2.5, 3.5, 4.5, 5.5], [0.95, 0.94, 0.93, 0.92], n=4096)
    mlp = _report(tmp_path / "mlp", [2.0, 2.5, 3.0, 6.0, 7.0], [0.85, 0.7, 0.72, 0.5, 0.3], n=784)
    runs = pd.read_csv(mlp / "runs.csv")
    # Two training-set sizes: both enter a label-noise series (only the largest enters a batch sweep).
    runs = runs.assign(model="mlp3", batch_size=16, fc1_M=256, label_noise=[0.0, 0.2, 0.4, 0.6, 0.8],
                       train_size=[4000, 1000, 4000, 1000, 4000])
    runs.to_csv(mlp / "runs.csv", index=False)
    metrics = generalization.read_report(mlp)
    assert set(metrics.sweep) == {"MLP3 FC1 784 x 256"} and len(metrics) == 5
    assert list(metrics.knob) == [0.0, 0.2, 0.4, 0.6, 0.8] and set(metrics.knob_name) == {"label_noise"}
    out = tmp_path / "out"
    assert generalization.main([str(a), str(b), str(mlp), "--out", str(out)]) == 0
    tau = pd.read_csv(out / "kendall.csv").set_index(["scope", "target", "metric"])
    assert set(tau.index.get_level_values(0)) == {"FC1 512 x 384", "FC1 4096 x 384", "MLP3 FC1 784 x 256",
                                                  "MiniAlexNet sweeps pooled", "all sweeps"}
    # Noise 0..0.8 against accuracies 0.85, 0.7, 0.72, 0.5, 0.3: 9 concordant-with-decrease pairs of 10.
    assert tau.loc[("MLP3 FC1 784 x 256", "test_acc", "knob"), "tau"] == pytest.approx(-0.8)
    assert tau.loc[("MiniAlexNet sweeps pooled", "test_acc", "alpha_hat"), "runs"] == 8
    # All series: 13 runs, but batch sizes and noise levels are not one knob, so no baseline.
    assert tau.loc[("all sweeps", "test_acc", "alpha_hat"), "runs"] == 13
    assert np.isnan(tau.loc[("all sweeps", "test_acc", "knob"), "tau"])
    assert "| knob (baseline: batch size or label noise) | - |" in (out / "kendall.md").read_text()
    assert (out / "kendall.png").stat().st_size > 10_000
