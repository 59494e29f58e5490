"""What every simulator's thin Hydra entry point shares: where the configs are, and config -> typed run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: conf/ at the repository root (absolute: Hydra resolves relative paths against the module name).
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def run_typed(dict_cfg: DictConfig, run: Callable[[Any, str], Any]) -> Any:
    """Convert Hydra's config to its dataclass schema, choose the precision, and call ``run(cfg, output_dir)``.

    The library never sees a ``DictConfig``; precision (``cfg.x64``) is chosen here, at the entry point.
    """
    import jax
    from hydra.core.hydra_config import HydraConfig

    cfg = OmegaConf.to_object(dict_cfg)
    jax.config.update("jax_enable_x64", cfg.x64)
    logging.getLogger("jax").setLevel(logging.WARNING)  # no backend-probing chatter in run logs
    return run(cfg, HydraConfig.get().runtime.output_dir)
