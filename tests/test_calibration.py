"""The calibration simulator: configs compose, a run writes honest tables and figures, multirun works."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from simulations.calibration.config import (
    SWEPT_PARAMETER,
    CalibrationConfig,
    EnsembleConfig,
    register_configs,
    shrink,
)
from simulations.calibration.run import run
from simulations.entry import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


def _compose(overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return OmegaConf.to_object(compose(config_name="calibration", overrides=overrides))


@pytest.mark.parametrize("name", sorted(SWEPT_PARAMETER))
def test_every_ensemble_config_composes_to_the_schema(name):
    cfg = _compose([f"ensemble={name}"])
    assert isinstance(cfg, CalibrationConfig) and isinstance(cfg.ensemble, EnsembleConfig)
    assert cfg.ensemble.name == name and len(cfg.ensemble.values) >= 2
    smoke = _compose([f"ensemble={name}", "debug=smoke"])
    assert smoke.smoke and smoke.ensemble.name == name
    small = shrink(smoke)
    assert small.m == [100] and small.seeds == 3 and len(small.ensemble.values) == 1 and not small.smoke


def test_schema_rejects_wrong_types():
    with pytest.raises(Exception, match="seeds"):
        _compose(["seeds=many"])


@pytest.mark.slow
def test_run_gaussian_and_spiked_recover_truth(tmp_path):
    cfg = CalibrationConfig(ensemble=EnsembleConfig("gaussian", values=[0.5, 2.0]), m=[300], q=[2.0], seeds=4)
    table = run(cfg, tmp_path / "g")
    assert len(table) == 2 * 4
    assert ((table.sigma_fit / table.sigma_true - 1).abs() < 0.02).all()
    assert (table.num_spikes == 0).mean() >= 0.75
    for name in ("results.csv", "summary.csv", "esd.png", "fits.png"):
        assert (tmp_path / "g" / name).stat().st_size > 0
    saved = pd.read_csv(tmp_path / "g" / "results.csv")
    assert list(saved.sigma_true.unique()) == [0.5, 2.0]

    cfg = CalibrationConfig(ensemble=EnsembleConfig("spiked", values=[4.0], num_spikes=3), m=[400], q=[1.0],
                            seeds=3, figures=False)
    table = run(cfg, tmp_path / "s")
    assert (table.spikes_planted == 3).all() and (table.num_spikes == 3).all()
    summary = pd.read_csv(tmp_path / "s" / "summary.csv")
    assert summary.spikes_exact.tolist() == [1.0]
    assert not (tmp_path / "s" / "esd.png").exists()


def test_run_heavy_tailed_reports_poor_mp_fit(tmp_path):
    cfg = CalibrationConfig(ensemble=EnsembleConfig("pareto", values=[1.0]), m=[200], q=[2.0], seeds=2, figures=False)
    table = run(cfg, tmp_path)
    # No MP bulk: large KS distance, many outliers, MP soft rank near 0, and no truth to compare with.
    assert (table.D > 0.05).all() and (table.num_spikes > 10).all() and (table.mp_soft_rank < 0.1).all()
    assert table.sigma_true.isna().all() and table.spikes_planted.isna().all()


def test_run_rejects_bad_config(tmp_path):
    with pytest.raises(ValueError, match="unknown ensemble 'wishart'"):
        run(CalibrationConfig(ensemble=EnsembleConfig("wishart")), tmp_path)
    with pytest.raises(ValueError, match="table_format"):
        run(CalibrationConfig(m=[50], q=[1.0], seeds=2, table_format="xlsx", figures=False), tmp_path)


@pytest.mark.slow
def test_cli_multirun_with_joblib(tmp_path):
    cmd = [sys.executable, "-m", "simulations.calibration", "-m", "ensemble=gaussian,low_rank", "debug=smoke",
           "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = sorted(tmp_path.glob("*/summary.csv"))
    assert [p.parent.name for p in summaries] == ["0_gaussian", "1_low_rank"]
    low = pd.read_csv(tmp_path / "1_low_rank" / "results.csv")
    assert (low.M == 100).all() and (low.hard_rank == 10).all()  # debug=smoke: rank_fraction 0.1 of M = 100
