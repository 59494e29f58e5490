"""Hydra entry point: ``python -m simulations.train model=minialexnet batch_size=16 ...`` (``-m`` for sweeps).

A single run that fails writes ``FAILED.json`` (with the error) into its folder and exits with status 1.
A job of a sweep trains in a child process (``simulations.train.job``): when it fails or is killed
(SIGKILL, as the OOM killer does) the job writes ``FAILED.json`` and returns normally, so one crash never
takes a sweep down; the collector reports it and rerunning the sweep resumes it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from simulations.entry import CONFIG_DIR, run_typed
from simulations.train.config import TrainConfig, register_configs, shrink
from simulations.train.job import run_in_child, run_job

register_configs()


def train(cfg: TrainConfig, out_dir: str) -> dict | None:
    """One job of a sweep in a child process; a single run in this process (exit status 1 if it fails)."""
    out = Path(out_dir)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        log_file = next((h.baseFilename for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)), None)
        return run_in_child(cfg, out, log_file)
    result = run_job(cfg, out)
    if result is None:
        raise SystemExit(1)
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(dict_cfg: DictConfig) -> dict | None:
    return run_typed(dict_cfg, train, shrink)


if __name__ == "__main__":
    main()
