"""The papers' toy models in Flax NNX ([MM-JMLR] §6; docs/theory.md#training), adapted to 28 x 28 x 1 inputs.

Layer attribute names (``conv1``, ``fc1``, ...) are what the analyzer and the configs call them.
Glorot-normal kernels; biases 0.1 where the paper says so (MiniAlexNet), 0 elsewhere.

On CPU the convolutions run as im2col + one matrix product and the max-pools as strided slices:
XLA's CPU convolution (and its ``select_and_scatter`` pooling gradient) is ~10x slower than that for
these small images (``benchmarks/bench_train.py``). On GPU/TPU ``lax.conv_general_dilated`` and
``lax.reduce_window`` are used. Both paths compute the same function (``tests/test_train.py``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from simulations.train.config import ModelConfig

glorot_normal = nnx.initializers.glorot_normal()


def _use_im2col(impl: str) -> bool:
    if impl not in ("auto", "im2col", "lax"):
        raise ValueError(f"impl must be 'auto', 'im2col' or 'lax', got {impl!r}")
    return impl == "im2col" or (impl == "auto" and jax.default_backend() == "cpu")


def _same_pads(size: int, window: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def conv2d(x: jax.Array, kernel: jax.Array, padding: str = "VALID", *, impl: str = "auto") -> jax.Array:
    """Stride-1 2-D convolution, NHWC input and HWIO kernel, ``padding`` 'VALID' or 'SAME'.

    ``impl='im2col'`` stacks the ``kh * kw`` shifted views of ``x`` along the channels and does one
    matrix product (fast on CPU); ``'lax'`` is ``lax.conv_general_dilated``; ``'auto'`` picks im2col on CPU.
    """
    if padding not in ("VALID", "SAME"):
        raise ValueError(f"padding must be 'VALID' or 'SAME', got {padding!r}")
    if not _use_im2col(impl):
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    kh, kw, c_in, c_out = kernel.shape
    if padding == "SAME":
        x = jnp.pad(x, ((0, 0), _same_pads(x.shape[1], kh, 1), _same_pads(x.shape[2], kw, 1), (0, 0)))
    n, h, w, _ = x.shape
    ho, wo = h - kh + 1, w - kw + 1
    cols = jnp.concatenate([x[:, i:i + ho, j:j + wo, :] for i in range(kh) for j in range(kw)], axis=-1)
    return (cols.reshape(n * ho * wo, kh * kw * c_in) @ kernel.reshape(kh * kw * c_in, c_out)).reshape(
        n, ho, wo, c_out)


def max_pool(x: jax.Array, window: int, stride: int, padding: str = "VALID", *, impl: str = "auto") -> jax.Array:
    """Square max-pool of NHWC ``x``: a reshape (window == stride) or the max of strided slices on CPU.

    'SAME' pads with -inf as ``lax.reduce_window`` does (Keras' ``MaxPooling2D(padding="same")``).
    """
    if padding not in ("VALID", "SAME"):
        raise ValueError(f"padding must be 'VALID' or 'SAME', got {padding!r}")
    if not _use_im2col(impl):
        return nnx.max_pool(x, (window, window), (stride, stride), padding=padding)
    n, h, w, c = x.shape
    if padding == "SAME":
        x = jnp.pad(x, ((0, 0), _same_pads(h, window, stride), _same_pads(w, window, stride), (0, 0)),
                    constant_values=-jnp.inf)
    ho, wo = (x.shape[1] - window) // stride + 1, (x.shape[2] - window) // stride + 1
    if window == stride:  # non-overlapping windows: one reshape and a max
        x = x[:, : ho * stride, : wo * stride, :]
        return x.reshape(n, ho, stride, wo, stride, c).max(axis=(2, 4))
    views = [x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride, :]
             for i in range(window) for j in range(window)]
    out = views[0]
    for v in views[1:]:
        out = jnp.maximum(out, v)
    return out


class Conv(nnx.Conv):
    """``nnx.Conv`` (same parameters, same ``kernel``/``bias`` layout) whose call is :func:`conv2d`."""

    def __call__(self, x: jax.Array) -> jax.Array:
        y = conv2d(x, self.kernel[...], self.padding)
        return y if self.bias is None else y + self.bias[...]


def _dense(n_in: int, n_out: int, bias: float, rngs: nnx.Rngs) -> nnx.Linear:
    return nnx.Linear(n_in, n_out, kernel_init=glorot_normal, bias_init=nnx.initializers.constant(bias), rngs=rngs)


def _conv(c_in: int, c_out: int, size: int, bias: float, padding: str, rngs: nnx.Rngs) -> Conv:
    return Conv(c_in, c_out, (size, size), padding=padding, kernel_init=glorot_normal,
                    bias_init=nnx.initializers.constant(bias), rngs=rngs)


class MLP3(nnx.Module):
    """Flatten -> 3 x Dense(width, ReLU) -> Dense(10) ([MM-JMLR] §6)."""

    def __init__(self, *, width: int = 512, num_classes: int = 10, bias: float = 0.0, rngs: nnx.Rngs):
        self.fc1 = _dense(784, width, bias, rngs)
        self.fc2 = _dense(width, width, bias, rngs)
        self.fc3 = _dense(width, width, bias, rngs)
        self.fc4 = _dense(width, num_classes, bias, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        x = nnx.relu(self.fc1(x))
        x = nnx.relu(self.fc2(x))
        x = nnx.relu(self.fc3(x))
        return self.fc4(x)


class LeNet5(nnx.Module):
    """Conv(20, 5x5) -> MaxPool2 -> Conv(50, 5x5) -> MaxPool2 -> Dense(500) -> Dense(10), the modern variant.

    With 28 x 28 inputs and valid convolutions FC1 is 800 x 500.
    """

    def __init__(self, *, num_classes: int = 10, bias: float = 0.0, rngs: nnx.Rngs):
        self.conv1 = _conv(1, 20, 5, bias, "VALID", rngs)
        self.conv2 = _conv(20, 50, 5, bias, "VALID", rngs)
        self.fc1 = _dense(4 * 4 * 50, 500, bias, rngs)
        self.fc2 = _dense(500, num_classes, bias, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = max_pool(nnx.relu(self.conv1(x)), 2, 2)
        x = max_pool(nnx.relu(self.conv2(x)), 2, 2)
        x = nnx.relu(self.fc1(x.reshape(x.shape[0], -1)))
        return self.fc2(x)


class MiniAlexNet(nnx.Module):
    """Conv(96, 5x5) -> MaxPool(3) -> BN -> Conv(256, 5x5) -> MaxPool(3) -> BN -> Dense(384) -> Dense(192) -> Dense(10).

    The authors' Keras MiniAlexNet ([MM-JMLR] §6 and their public script) on 28 x 28 x 1 inputs: 'same'
    convolutions with ReLU; ``MaxPooling2D((3, 3), padding="same")``, whose stride is the pool size, so
    28 -> 10 -> 4 and FC1 is ``16 * c2`` x 384 (4096 x 384 at full width, Q = 10.67); BatchNorm with
    Keras' defaults (momentum 0.99, epsilon 1e-3); Glorot-normal kernels and biases 0.1 in every layer.
    The output is the logits; the paper's softmax is applied by the loss (``loss="softmax_mse"``).
    ``conv_width`` scales the conv channels (96, 256) as a budget knob; ``channels=(c1, c2)`` sets them
    separately (FC1 is ``16 * c2`` x 384 whatever ``c1``). FC1/FC2 keep 384/192 units.
    ``pool_stride=2`` is the earlier variant of this suite (overlapping pools, FC1 ``49 * c2`` x 384).
    """

    def __init__(self, *, conv_width: float = 1.0, channels: tuple[int, int] | None = None, pool_stride: int = 3,
                 num_classes: int = 10, bias: float = 0.1, rngs: nnx.Rngs):
        if pool_stride not in (2, 3):
            raise ValueError(f"pool_stride must be 3 (the authors' Keras pools) or 2, got {pool_stride}")
        c1, c2 = channels if channels is not None else (max(1, round(96 * conv_width)), max(1, round(256 * conv_width)))
        self.pool_stride = pool_stride
        side = math.ceil(math.ceil(28 / pool_stride) / pool_stride)  # after two 'same' pools of stride s
        self.conv1 = _conv(1, c1, 5, bias, "SAME", rngs)
        self.bn1 = nnx.BatchNorm(c1, momentum=0.99, epsilon=1e-3, rngs=rngs)
        self.conv2 = _conv(c1, c2, 5, bias, "SAME", rngs)
        self.bn2 = nnx.BatchNorm(c2, momentum=0.99, epsilon=1e-3, rngs=rngs)
        self.fc1 = _dense(side * side * c2, 384, bias, rngs)
        self.fc2 = _dense(384, 192, bias, rngs)
        self.fc3 = _dense(192, num_classes, bias, rngs)

    def activations(self, x: jax.Array) -> dict[str, jax.Array]:
        """The ReLU outputs of ``fc1`` and ``fc2`` and the logits (``fc3``) of a batch ``x``.

        ``x`` is cast to the parameters' dtype first: BatchNorm keeps its running statistics in float32, and a
        float64 batch (under ``jax_enable_x64``) would otherwise be written into them with a lossy cast.
        """
        x = jnp.asarray(x, self.conv1.kernel.dtype)
        x = self.bn1(max_pool(nnx.relu(self.conv1(x)), 3, self.pool_stride, "SAME"))
        x = self.bn2(max_pool(nnx.relu(self.conv2(x)), 3, self.pool_stride, "SAME"))
        h1 = nnx.relu(self.fc1(x.reshape(x.shape[0], -1)))
        h2 = nnx.relu(self.fc2(h1))
        return {"fc1": h1, "fc2": h2, "fc3": self.fc3(h2)}

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.activations(x)["fc3"]


class Tiny(nnx.Module):
    """A two-layer MLP (784 -> width -> 10) for fast tests; ``fc1`` is 784 x width."""

    def __init__(self, *, width: int = 64, num_classes: int = 10, bias: float = 0.0, rngs: nnx.Rngs):
        self.fc1 = _dense(784, width, bias, rngs)
        self.fc2 = _dense(width, num_classes, bias, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc2(nnx.relu(self.fc1(x.reshape(x.shape[0], -1))))


MODELS = {"mlp3": MLP3, "lenet5": LeNet5, "minialexnet": MiniAlexNet, "tiny": Tiny}


def build_model(cfg: ModelConfig, *, seed: int) -> nnx.Module:
    """Instantiate the model of ``cfg`` with parameters drawn from ``seed``."""
    rngs = nnx.Rngs(params=seed)
    match cfg.name:
        case "mlp3" | "tiny":
            return MODELS[cfg.name](width=cfg.width, rngs=rngs)
        case "lenet5":
            return LeNet5(rngs=rngs)
        case "minialexnet":
            return MiniAlexNet(channels=cfg.conv_channels(), pool_stride=cfg.pool_stride, rngs=rngs)
    raise ValueError(f"unknown model {cfg.name!r}; choose one of {sorted(MODELS)}")


def weight_matrices(model: nnx.Module) -> dict[str, jax.Array]:
    """``{layer: kernel}`` of every Linear/Conv layer, by attribute name (``fc1``, ``conv2``...)."""
    return {name: module.kernel[...] for name, module in vars(model).items()
            if isinstance(module, nnx.Linear | nnx.Conv)}

