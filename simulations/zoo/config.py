"""Typed configuration of the model zoo (the schema behind ``conf/zoo.yaml``) and its two resolvers.

One job analyses one ``checkpoint``. A multirun sweeps ``checkpoint`` (``-m checkpoint=A,B``) or the
paths and globs of ``checkpoints`` (``conf/zoo.yaml`` turns them into the sweep with
``${zoo.sweep:${checkpoints}}``); each model writes into the folder ``${zoo.model:${checkpoint}}``,
a name that stays the same from one run to the next, so that a rerun finds the models it finished.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from rmtkit.analysis import AnalyzeOptions
from rmtkit.checkpoints import READERS

#: The defaults below are :class:`rmtkit.analysis.AnalyzeOptions`'s, read from it (tests/test_options.py checks
#: the fields one by one); OmegaConf has no ``Literal``, so a choice is a ``str`` here and
#: :func:`rmtkit.analyze` checks it.
_DEFAULT = AnalyzeOptions()


@dataclass
class ZooAnalysisConfig:
    """Options of :func:`rmtkit.analyze` (fields and defaults of :class:`rmtkit.analysis.AnalyzeOptions`)."""

    layers: list[str] | None = None  # globs, substrings or re:REGEX of the names to keep
    exclude: list[str] | None = None
    types: list[str] | None = None  # dense | conv | embedding | dense_general
    min_evals: int = _DEFAULT.min_evals
    max_evals: int | None = _DEFAULT.max_evals
    conv_layout: str = _DEFAULT.conv_layout
    normalize: bool = _DEFAULT.normalize  # lambda = s^2 (False, [MPM-NC]) or s^2 / N (True, [MM-JMLR])
    precision: str = _DEFAULT.precision
    pl_method: str = _DEFAULT.pl_method
    pl_xmax: Any = _DEFAULT.pl_xmax  # None, "max" or a number
    randomize: bool = _DEFAULT.randomize
    seed: int = _DEFAULT.seed  # of randomize and of traps
    esd: str = _DEFAULT.esd  # the ESD of the power-law fit: "full" or "farms" (docs/theory.md#farms)
    farms_size: int = _DEFAULT.farms_size
    farms_q: float = _DEFAULT.farms_q
    farms_windows: int = _DEFAULT.farms_windows
    vectors: bool = _DEFAULT.vectors  # eigenvector-localization columns
    traps: bool = _DEFAULT.traps  # correlation-trap columns (seeded)


@dataclass
class ZooConfig:
    """One model of the zoo: where it is, how to analyse it, where the eigenvalues are kept.

    Attributes:
        checkpoint: this job's model: a ``.safetensors`` file, an HF model folder, a ``.npz`` or a
            PyTorch file (whatever :func:`rmtkit.checkpoints.load_weights` reads).
        checkpoints: paths and globs (``ckpts/epoch_*.safetensors``) swept as ``checkpoint`` by ``-m``.
        analysis: the options of :func:`rmtkit.analyze`.
        spectra_cache: a folder of eigenvalues shared by the jobs (:mod:`rmtkit.cache`): a rerun with
            other fit options reads the spectra instead of computing them. None: no cache.
        progress: :func:`rmtkit.analyze`'s progress bar (None: only for models of over 20 matrices).
    """

    checkpoint: str = MISSING
    checkpoints: list[str] = field(default_factory=list)
    analysis: ZooAnalysisConfig = field(default_factory=ZooAnalysisConfig)
    spectra_cache: str | None = None
    progress: bool | None = None
    smoke: bool = False


def shrink(cfg: ZooConfig) -> ZooConfig:
    """``debug=smoke``: only the layers with min(N, M) <= 256 and no randomization (seconds on any model)."""
    top = 256 if cfg.analysis.max_evals is None else min(cfg.analysis.max_evals, 256)
    analysis = dataclasses.replace(cfg.analysis, max_evals=top, randomize=False)
    return dataclasses.replace(cfg, analysis=analysis, smoke=False)


#: File suffixes left out of a model's name (``epoch_3.safetensors`` -> ``epoch_3``): those of the formats
#: rmtkit reads (:data:`rmtkit.checkpoints.READERS`), the first seven in the order names were always made with.
CHECKPOINT_SUFFIXES = (".safetensors", ".npz", ".npy", ".pt", ".pth", ".bin", ".ckpt")
CHECKPOINT_SUFFIXES += tuple(s for s in READERS if s not in CHECKPOINT_SUFFIXES)


def model_name(checkpoint: str) -> str:
    """The model's folder and its ``model`` column: its file name without the suffix, then 8 hex digits
    of the SHA-1 of its absolute path (two ``model.safetensors`` in different folders stay apart).

    >>> model_name("/zoo/gpt2/model.safetensors")
    'model-b3ad6d71'
    """
    path = os.path.abspath(os.path.expanduser(checkpoint))
    stem = Path(path).name
    for suffix in CHECKPOINT_SUFFIXES:
        stem = stem.removesuffix(suffix)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "model"
    return f"{stem}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"


def sweep_of(checkpoints: list[str]) -> str:
    """``checkpoints`` (paths and globs) as the value of a Hydra sweep: ``'a','b'``, globs expanded in sorted order.

    Empty: ``'???'``: a sweep of ``checkpoint`` on the command line replaces it; without one, each
    job stops at its missing ``checkpoint`` (quoted, since a bare ``???`` would be a missing sweep).

    Raises:
        ValueError: a glob matches nothing.
    """
    if not checkpoints:
        return "'???'"
    paths: list[str] = []
    for pattern in checkpoints:
        matches = sorted(glob.glob(os.path.expanduser(pattern))) if re.search(r"[*?\[]", pattern) else [pattern]
        if not matches:
            raise ValueError(f"checkpoints: nothing matches {pattern!r}")
        paths += [p for p in matches if p not in paths]
    return ",".join(_quoted(p) for p in paths)


def _quoted(text: str) -> str:
    """``text`` as a single-quoted Hydra string: a quote escaped, and the backslashes before it or at the end doubled."""
    text = re.sub(r"(\\*)'", lambda m: m[1] * 2 + "\\'", text)
    return "'" + re.sub(r"(\\+)$", lambda m: m[1] * 2, text) + "'"


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="zoo_schema", node=ZooConfig)
    for name, resolver in (("zoo.model", model_name), ("zoo.sweep", sweep_of)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
