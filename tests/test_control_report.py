"""The spectral-control report: paired comparison with plain SGD, from run folders written here."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from simulations.train.control_report import load_runs, main, paired_against, paired_summary

# test accuracy per (optimizer, seed); seed 3 of tempbalance failed.
ACC = {"sgd": [0.80, 0.82, 0.81, 0.79], "sgd+tempbalance": [0.81, 0.85, 0.80, None]}


def _write_runs(root):
    for opt, accs in ACC.items():
        for seed, acc in enumerate(accs):
            run = root / "tempbalance" / f"model=mlp3,optimizer.name={opt},seed={seed}"
            run.mkdir(parents=True)
            cfg = {"model": {"name": "mlp3"}, "data": {"label_noise": 0.0}, "optimizer": {"name": opt},
                   "seed": seed, "epochs": 10, "batch_size": 32}
            (run / "config.json").write_text(json.dumps(cfg))
            if acc is None:
                (run / "FAILED.json").write_text(json.dumps({"error": "boom"}))
            else:
                (run / "DONE.json").write_text(json.dumps({"test_acc": acc, "train_acc": acc + 0.05, "gap": 0.05,
                                                            "train_seconds": 1.0}))


def test_paired_summary_by_hand(tmp_path):
    _write_runs(tmp_path)
    runs = load_runs(tmp_path)
    assert len(runs) == 7  # the failed run is left out
    summary = paired_summary(runs).set_index("optimizer")
    assert summary.loc["sgd", "seeds"] == 4
    assert summary.loc["sgd", "test_acc_mean"] == pytest.approx(0.805)
    tb = summary.loc["sgd+tempbalance"]
    diff = np.array([0.01, 0.03, -0.01])  # seeds 0, 1, 2 only (paired)
    assert tb["paired_seeds"] == 3
    assert tb["diff_mean"] == pytest.approx(diff.mean())
    assert tb["diff_std"] == pytest.approx(diff.std(ddof=1))
    assert (tb["wins"], tb["losses"]) == (2, 1)
    t = diff.mean() / (diff.std(ddof=1) / math.sqrt(3))  # paired t, 2 degrees of freedom
    p_t = 1 - t / math.sqrt(2 + t * t)  # two-sided p of Student's t with 2 dof, closed form
    assert tb["t_p"] == pytest.approx(p_t, rel=1e-6)
    # exact Wilcoxon, n = 3, ranks 1 (0.01), 3 (0.03), 2 (-0.01): W- = 2; P(W <= 2) two-sided = 2 * 3/8.
    assert tb["wilcoxon_p"] == pytest.approx(0.75)


def test_main_writes_tables(tmp_path, capsys):
    _write_runs(tmp_path / "runs")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "tables.md").read_text()
    assert "| Fashion-MNIST | mlp3 | sgd+tempbalance | 3 | 82.00 +- 2.65 | +1.00 +- 2.00 | 2 / 1 |" in md
    assert pd.read_csv(tmp_path / "out" / "runs.csv").shape[0] == 7
    assert (tmp_path / "out" / "paired.png").stat().st_size > 10_000
    assert "left out (failed)" in capsys.readouterr().err


def test_paired_against_any_reference(tmp_path):
    _write_runs(tmp_path)
    runs = load_runs(tmp_path)
    rev = paired_against(runs, "sgd", "sgd+tempbalance").iloc[0]  # the reverse comparison: signs flip
    assert rev["paired_seeds"] == 3
    assert rev["diff_mean"] == pytest.approx(-0.01)
    assert (rev["wins"], rev["losses"]) == (1, 2)
    assert rev["wilcoxon_p"] == pytest.approx(0.75)


def test_paired_figure_tick_labels_do_not_run_together(tmp_path):
    """Four optimisers per panel, 3.6 inches wide: no two x labels of a panel may overlap, none under 8 pt."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simulations.train.control_report import paired_figure

    rows = [{"setting": s, "model": "mlp3", "optimizer": opt, "seed": seed, "test_acc": 0.8 + 0.01 * seed}
            for s in ("Fashion-MNIST", "20% label noise", "headline protocol", "x")
            for opt in ("sgd", "sgd+tempbalance", "sgd+alphadecay", "sgd+weightdecay") for seed in range(3)]
    captured = {}
    close = plt.close
    plt.close = lambda fig=None: captured.setdefault("fig", fig)  # keep the figure to measure it
    try:
        paired_figure(pd.DataFrame(rows), tmp_path)
    finally:
        plt.close = close
    fig = captured["fig"]
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        labels = ax.get_xticklabels()
        assert len(labels) == 4 and min(t.get_fontsize() for t in labels) >= 8
        rotation = np.deg2rad(labels[0].get_rotation())
        if rotation == 0:  # side by side: their boxes must not overlap
            boxes = [t.get_window_extent(renderer) for t in labels]
            assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), ax.get_title()
        else:  # parallel slanted lines, one per tick: their distance must exceed a line of text
            ticks = ax.transData.transform(np.column_stack([ax.get_xticks(), np.zeros(4)]))[:, 0]
            height = 1.2 * labels[0].get_fontsize() * fig.dpi / 72
            assert np.diff(ticks).min() * np.sin(rotation) >= height, ax.get_title()
    plt.close(fig)
