"""Hydra entry point: ``python -m simulations.vsdl [overrides]`` (``debug=smoke`` for seconds)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from simulations.entry import CONFIG_DIR, run_typed
from simulations.vsdl.config import register_configs, shrink
from simulations.vsdl.run import run

register_configs()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="vsdl")
def main(dict_cfg: DictConfig) -> None:
    run_typed(dict_cfg, run, shrink)


if __name__ == "__main__":
    main()
