"""The VSDL simulator: configs compose, a smoke run writes the phase-diagram table and figure, bad configs fail."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from simulations.entry import CONFIG_DIR
from simulations.vsdl.config import GridConfig, MonteCarloConfig, VSDLConfig, register_configs, shrink
from simulations.vsdl.run import COLUMNS, run

ROOT = Path(__file__).resolve().parents[1]


def _compose(overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return OmegaConf.to_object(compose(config_name="vsdl", overrides=overrides))


def _tiny(student="ising", T=(0.3, 1.0), starts=("random", "teacher")):
    return VSDLConfig(student=student, grid=GridConfig(load=[1.0, 3.0], T=list(T)),
                      mc=MonteCarloConfig(n=30, samples=2, sweeps=40, burn_in=10, starts=list(starts)),
                      line_points=4, background=8)


def test_config_composes_to_the_schema_and_the_shared_smoke_switch():
    cfg = _compose([])
    assert isinstance(cfg, VSDLConfig) and isinstance(cfg.mc, MonteCarloConfig)
    assert cfg.student == "ising" and cfg.mc.n == 100 and len(cfg.grid.load) == 9
    smoke = _compose(["debug=smoke", "student=spherical"])
    assert smoke.smoke and smoke.student == "spherical"
    small = shrink(smoke)
    assert small.mc.n == 40 and small.grid.T == [0.3, 1.0] and small.student == "spherical" and not small.smoke


def test_schema_rejects_wrong_types():
    with pytest.raises(Exception, match="samples"):
        _compose(["mc.samples=many"])


def test_smoke_run_writes_table_and_figure(tmp_path):
    table = run(_tiny(), tmp_path)
    assert list(table.columns) == COLUMNS and len(table) == 2 * 2 * 2
    saved = pd.read_csv(tmp_path / "phase_diagram.csv")
    assert list(saved.columns) == COLUMNS and len(saved) == 8
    assert set(saved.phase) <= {"poor", "metastable", "perfect"}
    # load 3 lies beyond the spinodal at T = 0.3 (1.605) and T = 1 (2.846): perfect, eps 0 in theory
    assert (saved[saved.load == 3.0].phase == "perfect").all() and (saved[saved.load == 3.0].eps_gen_theory == 0).all()
    assert (saved[saved.load == 1.0].phase == "poor").all()
    lines = pd.read_csv(tmp_path / "transition_lines.csv")
    assert list(lines.columns) == ["T", "load_c", "load_sp"] and len(lines) == 4
    assert abs(lines.load_c[0] - 1.245) < 1e-3
    assert (tmp_path / "phase_diagram.png").stat().st_size > 10_000


def test_spherical_run_uses_the_version_space_sampler_at_zero_temperature(tmp_path):
    cfg = _tiny("spherical", T=(0.0, 5.0))
    cfg.figures = False
    table = run(cfg, tmp_path)
    zero = table[table["T"] == 0]
    assert (zero.sampler == "version_space").all() and (zero.start == "teacher").all() and len(zero) == 2
    assert (zero.train_error_mc == 0).all()
    assert (table[table["T"] == 5.0].high_temperature).all() and not zero.high_temperature.any()
    assert (table.phase == "poor").all()
    assert not (tmp_path / "phase_diagram.png").exists()


@pytest.mark.parametrize(("field", "value", "match"), [
    ("student", "potts", "student must be one of"),
    ("burn_in", 50, "mc.burn_in"),
    ("starts", ["hot"], "mc.starts"),
    ("load", [0.0, 1.0], "grid.load"),
])
def test_bad_config_raises_a_clear_error(tmp_path, field, value, match):
    cfg = _tiny()
    target = cfg if field == "student" else cfg.grid if field == "load" else cfg.mc
    setattr(target, field, value)
    with pytest.raises(ValueError, match=match):
        run(cfg, tmp_path)


@pytest.mark.slow
def test_cli_smoke_run(tmp_path):
    cmd = [sys.executable, "-m", "simulations.vsdl", "debug=smoke", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == f"written to {tmp_path.resolve()}"
    table = pd.read_csv(tmp_path / "phase_diagram.csv")
    assert len(table) == 3 * 2 * 2 and table.n.unique().tolist() == [40]
    assert (tmp_path / "phase_diagram.png").stat().st_size > 10_000
