"""Fashion-MNIST (or a synthetic stand-in) as standardised arrays with deterministic splits and label noise."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rmtkit import datasets
from simulations.train.config import DataConfig


class Split(NamedTuple):
    x: np.ndarray  # (n, 28, 28, 1) float32, standardised
    y: np.ndarray  # (n,) int32


class Data(NamedTuple):
    train: Split
    val: Split
    test: Split
    noisy: np.ndarray  # (n_train,) bool: which training labels were randomised


def _synthetic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Images on a fixed random 16-dimensional subspace (plus pixel noise), labelled by a random linear
    teacher on the latent coordinates: learnable from a few thousand examples, 10 classes, no files."""
    fixed = np.random.default_rng(12345)
    basis, teacher = fixed.standard_normal((16, 784)), fixed.standard_normal((16, 10))
    z = rng.standard_normal((n, 16))
    x = (z @ basis / 4 + 0.5 * rng.standard_normal((n, 784))).astype(np.float32)
    return x.reshape(n, 28, 28, 1), np.argmax(z @ teacher, axis=1).astype(np.int32)


def standardize_images(x: np.ndarray) -> np.ndarray:
    """Per-image standardisation, ``(x - mean(x)) / max(std(x), 1 / sqrt(x[0].size))`` over each image's pixels.

    This is ``tf.image.per_image_standardization``, which the authors' Keras script applies to every image.
    """
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean = flat.mean(axis=1, keepdims=True)
    std = np.maximum(flat.std(axis=1, keepdims=True), 1 / np.sqrt(flat.shape[1]))
    return ((flat - mean) / std).astype(np.float32).reshape(x.shape)


def load_data(cfg: DataConfig) -> Data:
    """Load, split (train / validation from the training images; the official test set), subset, add label noise.

    Pixels are scaled to [0, 1], then standardised per image or per pixel (``cfg.standardize``; the
    per-pixel statistics come from the training split only). A missing data set raises
    :class:`rmtkit.datasets.DatasetMissingError` naming the Debian package; never a fallback.
    """
    if not 0 <= cfg.label_noise <= 1:
        raise ValueError(f"label_noise must be in [0, 1], got {cfg.label_noise}")
    if cfg.standardize not in ("image", "pixel"):
        raise ValueError(f"standardize must be 'image' or 'pixel', got {cfg.standardize!r}")
    rng = np.random.default_rng(cfg.seed)
    if cfg.name == "fashion_mnist":
        train_raw = datasets.load_fashion_mnist("train", cfg.data_dir)
        test_raw = datasets.load_fashion_mnist("test", cfg.data_dir)
        x_all = train_raw.images.astype(np.float32)[..., None] / 255.0
        y_all = train_raw.labels.astype(np.int32)
        x_test, y_test = test_raw.images.astype(np.float32)[..., None] / 255.0, test_raw.labels.astype(np.int32)
    elif cfg.name == "synthetic":
        x_all, y_all = _synthetic(rng, 6000)
        x_test, y_test = _synthetic(np.random.default_rng(cfg.seed + 1), 1000)
    else:
        raise ValueError(f"unknown data set {cfg.name!r}; choose fashion_mnist or synthetic")
    if not 0 <= cfg.val_size < len(x_all):
        raise ValueError(f"val_size must be in [0, {len(x_all)}), got {cfg.val_size}")
    order = rng.permutation(len(x_all))
    val_idx, train_idx = order[: cfg.val_size], order[cfg.val_size:]
    if cfg.subset is not None:
        if cfg.subset < 1:
            raise ValueError(f"subset must be positive, got {cfg.subset}")
        train_idx = train_idx[: cfg.subset]
    x_train, y_train = x_all[train_idx], y_all[train_idx].copy()
    noisy = rng.random(len(y_train)) < cfg.label_noise
    y_train[noisy] = rng.integers(0, 10, int(noisy.sum()))
    if cfg.standardize == "image":
        norm = standardize_images
    else:
        mean, std = x_train.mean(0), x_train.std(0) + 1e-6
        norm = lambda x: ((x - mean) / std).astype(np.float32)
    test = Split(norm(x_test), y_test)
    val = Split(norm(x_all[val_idx]), y_all[val_idx]) if cfg.val_size else test
    return Data(Split(norm(x_train), y_train), val, test, noisy)
