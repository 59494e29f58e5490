"""The headline report (simulations/train/headline.py) on a miniature of scripts/headline.sh's folders."""

import json

import numpy as np
import pandas as pd
import pytest

from simulations.train import headline
from simulations.train.config import TrainConfig
from simulations.train.data import DataConfig
from simulations.train.models import ModelConfig
from simulations.train.run import run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    model = ModelConfig(name="minialexnet", conv_width=0.04)  # c2 = 10: FC1 160 x 384, FC2 384 x 192
    data = DataConfig(name="synthetic", subset=256, val_size=200, standardize="image")
    base = dict(model=model, data=data, epochs=2, loss="softmax_mse", progress=False)
    for bs in (16, 64):
        for seed in (0, 1):
            run(TrainConfig(batch_size=bs, seed=seed, **base), root / "batch_size_sweep" / f"batch_size={bs},seed={seed}")
    for wd in ({}, {"fc1": 0.5}):
        cfg = TrainConfig(batch_size=16, **base)
        cfg.optimizer.weight_decay = wd
        run(cfg, root / "weight_decay" / f"wd={json.dumps(wd)}")
    return root


@pytest.mark.slow
def test_report_tables_and_figures(runs, tmp_path):
    assert headline.main([str(runs), "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "runs.csv")
    assert len(table) == 4 and sorted(table.batch_size) == [16, 16, 64, 64]
    assert (table.fc1_N == 384).all() and (table.fc1_M == 160).all() and (table.fc2_M == 192).all()
    assert all(r.endswith(f": {p}") for r, p in zip(table.fc1_phase_reason, table.fc1_phase, strict=True))
    with np.load(tmp_path / "final_eigenvalues.npz") as z:
        assert sorted(z.files)[:2] == ["batch_size=16,seed=0|fc1", "batch_size=16,seed=0|fc2"]
        assert z["batch_size=16,seed=0|fc1"].shape == (160,) and (np.diff(z["batch_size=16,seed=0|fc1"]) >= 0).all()
    pooled = pd.read_csv(tmp_path / "pooled.csv")
    assert len(pooled) == 4 and (pooled.seeds == 2).all() and (pooled.num_evals[pooled.layer == "fc1"] == 320).all()
    fc1 = pooled[pooled.layer == "fc1"].set_index("batch_size")
    assert fc1.loc[16, "test_acc_mean"] == pytest.approx(table[table.batch_size == 16].test_acc.mean())
    assert fc1.loc[16, "paper_spike_fraction"] == pytest.approx(0.048)  # the paper's row for batch 16
    assert np.isnan(fc1.loc[64, "paper_spike_fraction"])  # 64: not in the paper's table
    for layer in ("fc1", "fc2"):
        assert (tmp_path / f"pooled_esd_{layer}.png").stat().st_size > 10_000
    conf = pd.read_csv(tmp_path / "confusion.csv")
    assert conf.empty or set(conf.spectra) <= {"pooled", "per seed"}
    collapse = pd.read_csv(tmp_path / "rank_collapse.csv").set_index("weight_decay")
    assert set(collapse.index) == {"none", '{"fc1": 0.5}'}
    # Strong L2 shrinks FC1 (uniformly, at this budget: lambda_max falls); ranks never exceed M and the rank at a
    # looser threshold is never higher.
    assert collapse.loc['{"fc1": 0.5}', "lambda_max"] < 0.8 * collapse.loc["none", "lambda_max"]
    assert (collapse["rank_at_0.01"] <= collapse["rank_at_1e-06"]).all() and (collapse.numerical_rank <= 160).all()
    assert (tmp_path / "rank_collapse.png").stat().st_size > 10_000
    tables = (tmp_path / "tables.md").read_text()
    assert "**FC1**" in tables and "| 16 | 2 |" in tables and "| 4.8% | 1.206 |" in tables  # the paper's batch-16 row
    assert '| {"fc1": 0.5} | 2 |' in tables
    traj = pd.read_csv(tmp_path / "trajectories.csv")
    assert sorted(traj.epoch.unique()) == [0, 1, 2] and set(traj.batch_size) == {16}
    assert tables.startswith("Labels by rmtkit's phase classifier version 2")
    assert set(collapse["phase_rule"]) <= set(__import__("rmtkit").phases.RULE_CODES.values())


@pytest.mark.slow
def test_relabel_from_committed_eigenvalues_reproduces_the_fits_of_the_weights(runs, tmp_path):
    assert headline.main([str(runs), "--out", str(tmp_path)]) == 0
    before = pd.read_csv(tmp_path / "runs.csv")
    assert headline.main(["--relabel", str(tmp_path)]) == 0
    after = pd.read_csv(tmp_path / "runs.csv")
    for col in ("fc1_alpha", "fc1_mp_sigma", "fc1_stable_rank", "fc2_alpha", "fc2_num_spikes", "fc1_hard_rank"):
        np.testing.assert_allclose(after[col], before[col], rtol=1e-9, err_msg=col)
    assert list(after.fc1_phase) == list(before.fc1_phase) and list(after.fc2_phase) == list(before.fc2_phase)
    assert headline.main(["--relabel", str(tmp_path / "missing")]) == 2
