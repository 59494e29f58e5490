"""Hydra entry point: ``python -m simulations.train model=minialexnet batch_size=16 ...`` (``-m`` for sweeps).

A job that fails writes ``FAILED.json`` (with the error) into its folder and returns normally, so
one crash never takes a sweep down; the collector reports it.
"""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from simulations.entry import CONFIG_DIR
from simulations.train.config import TrainConfig, register_configs

register_configs()
log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(dict_cfg: DictConfig) -> dict | None:
    cfg: TrainConfig = OmegaConf.to_object(dict_cfg)
    from simulations.train.run import configure_threads

    configure_threads(cfg.threads)  # before JAX's backend starts in this process
    import jax

    jax.config.update("jax_enable_x64", cfg.x64)
    logging.getLogger("jax").setLevel(logging.WARNING)
    from simulations.train.run import run

    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        result = run(cfg, out)
    except Exception as err:  # a sweep must survive one bad job: record it and move on
        log.error("run failed: %s", err)
        (out / "FAILED.json").write_text(json.dumps({"error": f"{type(err).__name__}: {err}",
                                                     "traceback": traceback.format_exc()}, indent=1))
        return None
    (out / "FAILED.json").unlink(missing_ok=True)
    log.info("final: %s", {k: v for k, v in result.items() if k in ("train_acc", "test_acc", "gap")})
    return result


if __name__ == "__main__":
    main()
