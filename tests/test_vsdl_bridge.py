"""The VSDL bridge: a label-noise sweep of real training runs becomes a load x temperature map."""

import subprocess
import sys
from pathlib import Path

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
def test_bridge_on_a_smoke_label_noise_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "simulations.train", "-m", "debug=smoke", "data=synthetic", "data.label_noise=0.0,0.8",
           "progress=false", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert bridge.main([str(sweep)]) == 0
    table = pd.read_csv(sweep / "bridge.csv")
    assert sorted(table.label_noise.unique()) == [0.0, 0.8] and sorted(table.epoch.unique()) == [1, 2]  # smoke: 2 epochs
    assert {"val_error", "fc1_alpha", "fc1_mp_softrank", "fc1_phase"} <= set(table.columns)
    final = table[table.epoch == 2].set_index("label_noise")
    # More label noise, less to learn: the validation error is higher.
    assert final.loc[0.8, "val_error"] > final.loc[0.0, "val_error"]
    assert (sweep / "bridge.png").stat().st_size > 0
    assert bridge.main([str(tmp_path / "empty")]) == 2
