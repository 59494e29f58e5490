"""Typed configuration of the VSDL phase-diagram simulator (the schema behind ``conf/vsdl.yaml``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore


@dataclass
class GridConfig:
    """The (load, T) points simulated: the outer product of ``load`` (examples per weight, P / N; the
    ``alpha`` of the statistical mechanics of learning) and ``T`` (temperature, tau)."""

    load: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0])
    T: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0, 1.5, 2.0])


@dataclass
class MonteCarloConfig:
    """Chains per grid point and their length (one sweep = N single-weight updates)."""

    n: int = 100
    samples: int = 8  # independent teachers / training sets per grid point and start
    sweeps: int = 1000
    burn_in: int = 400  # sweeps discarded before averaging R
    starts: list[str] = field(default_factory=lambda: ["random", "teacher"])


@dataclass
class VSDLConfig:
    """The phase diagram: theory on a fine grid and lines, Monte Carlo on ``grid``, table and figure."""

    student: str = "ising"  # ising | spherical
    grid: GridConfig = field(default_factory=GridConfig)
    mc: MonteCarloConfig = field(default_factory=MonteCarloConfig)
    line_points: int = 25  # temperatures at which the critical and spinodal loads load_c(T), load_sp(T) are solved
    background: int = 48  # theory background resolution per axis
    high_t_tol: float = 0.03  # high-T regime: eps(load = T, T) within this (relative) of its load / T limit
    seed: int = 0
    x64: bool = True
    figures: bool = True
    smoke: bool = False  # debug=smoke (applied by simulations.entry): a 3 x 2 grid, N = 40, 3 samples, 120 sweeps


def shrink(cfg: VSDLConfig) -> VSDLConfig:
    """The seconds-long version of ``cfg`` (``debug=smoke``)."""
    grid = GridConfig(load=[1.0, 2.0, 3.0], T=[0.3, 1.0])
    mc = dataclasses.replace(cfg.mc, n=40, samples=3, sweeps=120, burn_in=40)
    return dataclasses.replace(cfg, grid=grid, mc=mc, line_points=6, background=16, smoke=False)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="vsdl_schema", node=VSDLConfig)
