"""Hydra entry point: ``python -m simulations.zoo -m checkpoint=A,B`` or ``-m 'checkpoints=[ckpts/*.safetensors]'``.

Each job analyses one model into ``multirun/zoo/<model>`` (:mod:`simulations.zoo.run`); in a
multirun in a child process (:mod:`simulations.zoo.job`), so that a model that fails or is killed
never stops the others; at the end the per-model tables are merged (:mod:`simulations.zoo.collect`).
A single run (no ``-m``) analyses in this process and exits with status 1 if the model failed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from simulations.entry import CONFIG_DIR, typed_config
from simulations.zoo.config import register_configs, shrink
from simulations.zoo.job import analyse_in_child
from simulations.zoo.run import analyse

register_configs()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="zoo")
def main(dict_cfg: DictConfig) -> dict | None:
    cfg = typed_config(dict_cfg, shrink)
    out = Path(HydraConfig.get().runtime.output_dir)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        log_file = next((h.baseFilename for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)), None)
        return analyse_in_child(cfg, out, log_file)
    result = analyse(cfg, out)
    if result is None:
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
