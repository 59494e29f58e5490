"""Typed configuration of the calibration simulator (the schema behind ``conf/calibration.yaml``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

#: The parameter each ensemble sweeps (``values``) and what its values mean.
SWEPT_PARAMETER = {
    "gaussian": "sigma",  # entry std: the MP fit must recover it
    "pareto": "mu",  # tail exponent of the entries
    "student_t": "nu",  # degrees of freedom (tail exponent)
    "spiked": "strength",  # signal strength in units of the BBP threshold q^(-1/4)
    "bulk_decay": "decay",  # population-spectrum decay exponent
    "low_rank": "rank_fraction",  # rank / M
}


@dataclass
class EnsembleConfig:
    """One ensemble and the values of its swept parameter (see ``SWEPT_PARAMETER``)."""

    name: str = "gaussian"
    values: list[float] = field(default_factory=lambda: [1.0])
    sigma: float = 1.0  # noise scale where the swept parameter is not sigma itself
    num_spikes: int = 5  # spiked: rank of the planted signal


@dataclass
class CalibrationConfig:
    """A sweep: every ensemble value x M x Q, each with ``seeds`` independent draws (batched)."""

    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    m: list[int] = field(default_factory=lambda: [500])
    q: list[float] = field(default_factory=lambda: [1.0, 2.0, 4.0])
    seeds: int = 20
    seed: int = 0
    normalize: bool = True  # eigenvalues of W^T W / N (True) or W^T W (False)
    tw_factor: float = 3.0
    x64: bool = True  # float64 eigenvalues and fits
    table_format: str = "csv"  # csv | parquet
    figures: bool = True
    smoke: bool = False  # debug=smoke: M = 100, one Q, one value, 3 seeds


def shrink(cfg: CalibrationConfig) -> CalibrationConfig:
    """The seconds-long version of ``cfg`` (``debug=smoke``)."""
    ensemble = dataclasses.replace(cfg.ensemble, values=cfg.ensemble.values[:1])
    return dataclasses.replace(cfg, ensemble=ensemble, m=[100], q=cfg.q[-1:], seeds=3, smoke=False)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="calibration_schema", node=CalibrationConfig)
    cs.store(group="ensemble", name="ensemble_schema", node=EnsembleConfig)
