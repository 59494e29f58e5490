"""Typed configuration of the universality-class experiment (schema behind ``conf/universality.yaml``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore


@dataclass
class UniversalityConfig:
    """``num_mu`` values of mu drawn uniformly in ``mu_range``; for each Q one Pareto(mu) matrix ``(Q M) x M``."""

    m: int = 1000
    q: list[float] = field(default_factory=lambda: [1.0, 2.0, 4.0])
    num_mu: int = 100
    mu_range: list[float] = field(default_factory=lambda: [0.5, 3.5])
    split_mu: float = 2.0  # the two regressions: mu below / above this
    regression_q: float = 2.0  # the Q of the authors' reference regressions
    method: str = "csn"  # fit_power_law method
    xmax: str | None = "max"  # the paper: truncate at lambda_max
    seed: int = 0
    normalize: bool = True
    x64: bool = True
    smoke: bool = False


def shrink(cfg: UniversalityConfig) -> UniversalityConfig:
    """The seconds-long version of ``cfg`` (``debug=smoke``)."""
    return dataclasses.replace(cfg, m=100, q=cfg.q[:2], num_mu=8, smoke=False)


def register_configs() -> None:
    ConfigStore.instance().store(name="universality_schema", node=UniversalityConfig)
