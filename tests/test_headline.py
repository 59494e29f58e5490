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
    assert sorted(traj.epoch.unique()) == [0, 1, 2] and set(traj.batch_size) == {16, 64} and len(traj) == 12
    # Every epoch (the initialisation included) has its checkpoint: recomputed with this classifier; the final
    # epoch's figures are then those of runs.csv, which the analyzer computed from the final weights by its own path.
    assert set(traj.labels) == {"v2"}
    last = traj[traj.epoch == 2].merge(table, on=["batch_size", "seed"])
    np.testing.assert_allclose(last.alpha, last.fc1_alpha, rtol=1e-6)
    np.testing.assert_allclose(last.stable_rank, last.fc1_stable_rank, rtol=1e-6)
    assert list(last.phase) == list(last.fc1_phase) and "recomputed from the per-epoch checkpoints" in tables
    assert tables.startswith("Network: MiniAlexNet, FC1 384 x 160 (Q 2.40), conv 4/10 (conv1/conv2 output")
    assert "\n\nLabels by rmtkit's phase classifier version 2" in tables
    assert list(table.conv1_channels) == [4] * 4 and list(table.conv2_channels) == [10] * 4
    assert set(table.model) == {"minialexnet"} and (table.label_noise == 0).all()
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


def _report(folder, n, c1, c2, labels):
    """A hand-made report: runs.csv and pooled.csv of a sweep whose per-seed FC1 labels are ``labels``
    (``{batch: [seed 0's, seed 1's]}``); FC2 is random-like everywhere."""
    folder.mkdir()
    runs, pooled = [], []
    for bs, per_seed in labels.items():
        for seed, label in enumerate(per_seed):
            runs.append({"run": f"batch_size={bs},seed={seed}", "batch_size": bs, "seed": seed, "test_acc": 0.9,
                         "gap": 0.05, "conv1_channels": c1, "conv2_channels": c2, "fc1_N": n, "fc1_M": 384,
                         "fc1_phase": label, "fc2_N": 384, "fc2_M": 192, "fc2_phase": "random-like"})
        for layer, seeds in (("fc1", per_seed), ("fc2", ["random-like"] * len(per_seed))):
            pooled.append({"batch_size": bs, "layer": layer, "seeds": len(seeds), "mp_sigma": 1.25,
                           "spike_fraction": 0.02, "mp_soft_rank": 0.5, "alpha": 4.0, "phase": seeds[0],
                           "seed_phases": ",".join(seeds), "stable_rank_mean": 40.0, "stable_rank_std": 2.0,
                           "test_acc_mean": 0.9, "test_acc_std": 0.01, "gap_mean": 0.05, "gap_std": 0.002})
    pd.DataFrame(runs).to_csv(folder / "runs.csv", index=False)
    pd.DataFrame(pooled).to_csv(folder / "pooled.csv", index=False)
    return folder


def test_side_by_side_counts_distinct_phases_and_checks_the_papers_order(tmp_path):
    narrow = _report(tmp_path / "narrow", 512, 12, 32, {2: ["bulk-decay", "bleeding-out"], 16: ["bleeding-out"] * 2,
                                                        1000: ["random-like"] * 2})
    wide = _report(tmp_path / "wide", 4096, 12, 256, {2: ["heavy-tailed"] * 2, 8: ["bulk+spikes", "bulk-decay"],
                                                      16: ["bleeding-out", "bulk+spikes"], 1000: ["random-like"] * 2})
    assert headline.main(["--relabel", str(tmp_path / "absent"), "--beside", str(narrow)]) == 2
    text = headline.side_by_side([narrow, wide])
    assert "FC1 512 x 384 (Q 1.33), conv 12/32" in text and "FC1 4096 x 384 (Q 10.67), conv 12/256" in text
    # Batch 8 ran only at the wide shape; the paper labels batch 8 bulk-decay, on the first row of the batch only.
    assert "| 8 | FC1 512 x 384 (Q 1.33), conv 12/32 | not run |" + "  |" * 9 + " bulk-decay |" in text
    assert "| 8 | FC1 4096 x 384 (Q 10.67), conv 12/256 | 2 | 0.900 ± 0.010 |" in text
    assert "| bulk+spikes | bulk+spikes, bulk-decay |  |" in text  # the wide row of batch 8: no paper label
    summary = text.split("**Distinct phases")[1]
    assert ("FC1 512 x 384 (Q 1.33), conv 12/32, FC1: 3 distinct: bulk-decay (2), bleeding-out (2, 16), "
            "random-like (1000). In the paper's order as the batch grows: seed 0 yes (3 batch sizes); "
            "seed 1 yes (3 batch sizes)") in summary
    # Wide, seed 0: heavy-tailed, bulk+spikes, bleeding-out, random-like; seed 1: heavy-tailed, bulk-decay,
    # bulk+spikes, random-like. Both in the paper's order; five distinct labels over the two seeds.
    assert "conv 12/256, FC1: 5 distinct: heavy-tailed (2), bulk+spikes (8, 16), bulk-decay (8), bleeding-out (16)" in summary
    assert "conv 12/256, FC1: 5 distinct" in summary and "seed 0 yes (4 batch sizes); seed 1 yes (4 batch sizes)" in summary
    assert "conv 12/32, FC2: 1 distinct: random-like (2, 16, 1000)" in summary and "tau (batch size, phase) nan" in summary


def test_phase_order_flags_a_step_back():
    runs = pd.DataFrame({"batch_size": [2, 4, 8, 2, 4, 8], "seed": [0, 0, 0, 1, 1, 1],
                         "fc1_phase": ["bulk-decay", "bleeding-out", "bulk+spikes",  # seed 0 steps back at 8
                                       "heavy-tailed", "bulk-decay", "rank-collapse"]})  # rank-collapse: outside
    order = headline.phase_order(runs, "fc1")
    assert order["monotone"] == {0: (False, [2, 4, 8]), 1: (False, [2, 4, 8])}
    assert list(order["distinct"]) == ["bulk-decay", "heavy-tailed", "bleeding-out", "bulk+spikes", "rank-collapse"]
    perfect = headline.phase_order(runs.assign(fc1_phase=["heavy-tailed", "bulk-decay", "random-like"] * 2), "fc1")
    assert perfect["tau"] == pytest.approx(-1.0) and perfect["monotone"][0][0]


@pytest.mark.slow
def test_trajectory_rows_without_a_checkpoint_keep_the_recorded_figures(runs, tmp_path):
    import shutil

    run = shutil.copytree(runs / "batch_size_sweep" / "batch_size=16,seed=0", tmp_path / "sweep" / "run")
    (run / "checkpoints" / "epoch_001.safetensors").unlink()
    recorded = pd.read_csv(run / "spectral.csv").query("name == 'fc1'").set_index("epoch")
    traj = headline.trajectories(tmp_path / "sweep").set_index("epoch")
    assert list(traj.labels) == ["v2", "recorded", "v2"]
    assert traj.loc[1, "alpha"] == recorded.loc[1, "alpha"] and traj.loc[1, "phase"] == recorded.loc[1, "phase"]
    plain = headline.trajectories(tmp_path / "sweep", relabel=False).set_index("epoch")
    assert set(plain.labels) == {"recorded"} and list(plain.alpha) == list(recorded.alpha)
