"""Hydra entry point: ``python -m simulations.vsdl [overrides]`` (``debug=smoke`` for seconds)."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import jax
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from simulations.vsdl.config import VSDLConfig, register_configs
from simulations.vsdl.run import run

register_configs()

#: conf/ at the repository root (absolute: Hydra resolves relative paths against the module name).
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="vsdl")
def main(dict_cfg: DictConfig) -> None:
    cfg: VSDLConfig = OmegaConf.to_object(dict_cfg)
    jax.config.update("jax_enable_x64", cfg.x64)
    logging.getLogger("jax").setLevel(logging.WARNING)  # no backend-probing chatter in run logs
    run(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    main()
