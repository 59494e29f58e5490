"""What every simulator's thin Hydra entry point shares: where the configs are, and config -> typed run.

Each simulator's ``main.py`` is ``run_typed(dict_cfg, run, shrink)``: the config becomes its dataclass
schema, ``debug=smoke`` (``cfg.smoke``) is applied here and nowhere else, the precision is chosen, and the
output folder is printed when the run ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

#: conf/ at the repository root (absolute: Hydra resolves relative paths against the module name).
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")

Config = TypeVar("Config")


def typed_config(dict_cfg: DictConfig, shrink: Callable[[Config], Config]) -> Config:
    """Hydra's config as its dataclass schema, shrunk to seconds by ``shrink`` when ``cfg.smoke`` is set."""
    cfg = OmegaConf.to_object(dict_cfg)
    return shrink(cfg) if cfg.smoke else cfg


def run_typed(dict_cfg: DictConfig, run: Callable[[Any, str], Any], shrink: Callable[[Config], Config]) -> Any:
    """Type the config (:func:`typed_config`), choose the precision, call ``run(cfg, output_dir)``, say where it wrote.

    The library never sees a ``DictConfig``; precision (``cfg.x64``) is chosen here, at the entry point.
    """
    import jax
    from hydra.core.hydra_config import HydraConfig

    cfg = typed_config(dict_cfg, shrink)
    jax.config.update("jax_enable_x64", cfg.x64)
    logging.getLogger("jax").setLevel(logging.WARNING)  # no backend-probing chatter in run logs
    out = HydraConfig.get().runtime.output_dir
    result = run(cfg, out)
    print(f"written to {Path(out).resolve()}", flush=True)
    return result
