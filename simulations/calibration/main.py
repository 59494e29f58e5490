"""Hydra entry point: ``python -m simulations.calibration [overrides]`` (``-m`` for sweeps)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from simulations.calibration.config import register_configs, shrink
from simulations.calibration.run import run
from simulations.entry import CONFIG_DIR, run_typed

register_configs()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="calibration")
def main(dict_cfg: DictConfig) -> None:
    run_typed(dict_cfg, run, shrink)


if __name__ == "__main__":
    main()
