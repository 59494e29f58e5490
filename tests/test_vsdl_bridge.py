"""The VSDL bridge: a label-noise sweep of real training runs becomes a load x temperature map."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from simulations.entry import CONFIG_DIR
from simulations.train.config import register_configs
from simulations.vsdl import bridge

ROOT = Path(__file__).resolve().parents[1]


def test_bridge_experiment_composes():
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=vsdl_bridge"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params["data.label_noise"] == "0.0,0.2,0.4,0.6,0.8"
    assert cfg.model.name == "mlp3" and cfg.data.subset == 4000 and cfg.epochs == 20


@pytest.mark.slow
def test_bridge_on_a_smoke_label_noise_sweep(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "simulations.train", "-m", "debug=smoke", "data=synthetic", "data.label_noise=0.0,0.8",
           "progress=false", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert bridge.main([str(sweep)]) == 0
    # The smoke runs' tiny MLP has no analysed FC2: no report for simulations.generalization, and stderr says so.
    assert not (sweep / "runs.csv").exists()
    assert "no runs.csv: the final weights have no analysed layer 'fc2'" in capsys.readouterr().err
    table = pd.read_csv(sweep / "bridge.csv")
    assert sorted(table.label_noise.unique()) == [0.0, 0.8] and sorted(table.epoch.unique()) == [1, 2]  # smoke: 2 epochs
    assert {"val_error", "fc1_alpha", "fc1_mp_soft_rank", "fc1_phase"} <= set(table.columns)
    final = table[table.epoch == 2].set_index("label_noise")
    # More label noise, less to learn: the validation error is higher.
    assert final.loc[0.8, "val_error"] > final.loc[0.0, "val_error"]
    assert (sweep / "bridge.png").stat().st_size > 0
    assert bridge.main([str(tmp_path / "empty")]) == 2


def test_bridge_figure_resolves_alpha_2_to_6_with_whole_epochs_and_a_readable_legend():
    """alpha from 2 to 30 over 20 epochs: the colour scale is logarithmic and 2 < alpha < 6 covers most of it
    (a linear scale to 30 made it all black), the epoch ticks are whole numbers, the legend >= 8 pt, off the map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from rmtkit.plot import MIN_TEXT_PT

    rows = [{"subset": s, "label_noise": n, "epoch": e, "val_error": 0.2 + n / 2, "fc1_alpha": 2 + 28 * (e == 1) + e / 5,
             "fc1_phase": "bulk-decay" if e > 8 else "bleeding-out"}
            for s in (1000, 4000) for n in (0.0, 0.4, 0.8) for e in range(1, 21)]
    fig = bridge.draw(pd.DataFrame(rows))
    alpha_maps = [ax.images[0] for ax in fig.axes if "alpha" in ax.get_title()]
    assert len(alpha_maps) == 2
    for im in alpha_maps:
        norm = im.norm
        assert isinstance(norm, LogNorm) and (norm.vmin, norm.vmax) == bridge.ALPHA_RANGE
        share = (np.log(6) - np.log(2)) / (np.log(norm.vmax) - np.log(norm.vmin))
        assert share > 0.5  # 2 < alpha < 6 spans more than half the colours
        assert norm(2.5) < norm(5.5) - 0.3  # two alphas of the well-trained range look different
    for bar in [ax for ax in fig.axes if ax.get_label() == "<colorbar>"][1::2]:
        assert [t.get_text() for t in bar.get_yticklabels()] == ["2", "3", "4", "6", "8", "12"]
    fig.canvas.draw()
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        if "phase" in ax.get_title():
            legend = ax.get_legend()
            assert min(t.get_fontsize() for t in legend.get_texts()) >= MIN_TEXT_PT
            assert legend.get_window_extent().x0 >= ax.get_window_extent().x1  # beside the map
    plt.close(fig)
