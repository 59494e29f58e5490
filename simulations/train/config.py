"""Typed configuration of the training suite: every schema behind ``conf/train.yaml`` and its groups.

The dataclasses hold the defaults; the YAML files hold only what differs from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore


@dataclass
class ModelConfig:
    """Which model, and its size knobs.

    Attributes:
        name: ``mlp3``, ``lenet5``, ``minialexnet`` or ``tiny``.
        width: hidden width of MLP3/Tiny.
        conv_width: MiniAlexNet's uniform channel scale: conv1 ``round(96 w)``, conv2 ``round(256 w)``.
        channels: MiniAlexNet's conv channels ``[c1, c2]``, set separately (overrides ``conv_width``).
            FC1's shape depends only on ``c2`` (``16 c2`` x 384), the cost mostly on ``c1 * c2``:
            ``channels=[12, 256]`` gives the paper's FC1 of 4096 x 384 at a fraction of the full cost.
        pool_stride: MiniAlexNet's pool stride (3: the authors' Keras pools; 2: the earlier variant).
    """

    name: str = "lenet5"
    width: int = 512
    conv_width: float = 1.0
    channels: list[int] | None = None
    pool_stride: int = 3

    def conv_channels(self) -> tuple[int, int]:
        """MiniAlexNet's ``(c1, c2)``: ``channels`` if set, else the paper's (96, 256) scaled by ``conv_width``."""
        if self.channels is None:
            return max(1, round(96 * self.conv_width)), max(1, round(256 * self.conv_width))
        if len(self.channels) != 2 or any(int(c) != c or c < 1 for c in self.channels):
            raise ValueError(f"model.channels must be two positive integers [c1, c2], got {list(self.channels)}")
        return int(self.channels[0]), int(self.channels[1])


@dataclass
class DataConfig:
    """Data set and its knobs.

    Attributes:
        name: ``fashion_mnist`` (the Debian package's idx files) or ``synthetic`` (tests).
        subset: use only this many training examples (the budget knob; None: all 55,000).
        val_size: examples held out of the 60,000 training images for validation; 0 trains on all 60,000
            and validates on the test set (what the authors' Keras script does).
        label_noise: fraction of training labels replaced by uniformly random ones (the load knob).
        standardize: ``image``: each image on its own, ``(x - mean(x)) / max(std(x), 1/sqrt(784))`` (the
            authors' ``tf.image.per_image_standardization``); ``pixel``: per pixel with the training split's
            mean and std.
        seed: seed of the split, the subset and the noise.
        data_dir: folder of the idx files (default: ``$RMTKIT_DATA_DIR`` or the Debian location).
    """

    name: str = "fashion_mnist"
    subset: int | None = None
    val_size: int = 5000
    label_noise: float = 0.0
    standardize: str = "pixel"
    seed: int = 0
    data_dir: str | None = None


@dataclass
class OptimizerConfig:
    """SGD with momentum (Keras' form) and per-epoch exponential decay (the paper: 0.01, 0.9, x0.95), or Adam.

    ``weight_decay`` maps layer names to explicit L2 coefficients added to the loss,
    ``coef * sum(W**2)`` (the Keras ``kernel_regularizer`` of the authors' scripts).
    """

    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    lr_decay: float = 0.95
    weight_decay: dict[str, float] = field(default_factory=dict)


@dataclass
class AnalysisConfig:
    """In-process spectral monitoring of the live weights (rmtkit.analyze) every ``every`` epochs."""

    every: int = 1  # 0: only after the last epoch
    layers: list[str] = field(default_factory=lambda: ["fc1", "fc2"])
    min_evals: int = 10
    normalize: bool = False  # lambda = s^2, as the analyzer's default
    checkpoints: bool = True  # save the watched weights of every analysed epoch


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    batch_size: int = 32
    epochs: int = 10
    loss: str = "cross_entropy"  # cross_entropy | softmax_mse (the paper's: MSE on softmax probabilities) | mse (on logits)
    seed: int = 0
    threads: int = 0  # XLA CPU threads for this process (0: XLA's default); set per job in sweeps
    x64: bool = False
    resume: bool = True  # skip a finished run, continue a killed one from its last epoch (if the configs match)
    fail_at_epoch: int = 0  # testing only: raise after this epoch (a crashing job in a sweep)
    kill_at: str = ""  # testing only: "EPOCH:POINT" SIGKILLs the process there (simulations.train.state.KILL_POINTS)
    smoke: bool = False
    progress: bool = True


def shrink(cfg: TrainConfig) -> TrainConfig:
    """``debug=smoke``: the tiny model on 512 examples (synthetic data stays synthetic) for 2 epochs."""
    model = dataclasses.replace(cfg.model, name="tiny", width=32)
    data = dataclasses.replace(cfg.data, subset=512, val_size=min(cfg.data.val_size, 500))
    analysis = dataclasses.replace(cfg.analysis, layers=["fc1"], min_evals=10)
    return dataclasses.replace(cfg, model=model, data=data, analysis=analysis, epochs=2, batch_size=min(cfg.batch_size, 64),
                               smoke=False)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    cs.store(group="data", name="data_schema", node=DataConfig)
    cs.store(group="optimizer", name="optimizer_schema", node=OptimizerConfig)
    cs.store(group="analysis", name="analysis_schema", node=AnalysisConfig)
