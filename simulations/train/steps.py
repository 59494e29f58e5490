"""The training steps: optimizer and loss factories, the jitted chunk of steps, one epoch, evaluation.

Pure of files: :mod:`simulations.train.run` drives them epoch by epoch and
:mod:`simulations.train.state` keeps what a resume needs.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from simulations.train.config import TrainConfig
from simulations.train.control import split_name, with_control
from simulations.train.data import Data
from simulations.train.models import weight_matrices

#: Steps fused into one jitted ``lax.scan`` call: small batches are dispatch-bound otherwise.
MAX_CHUNK_STEPS = 256


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The learning rate falls by ``lr_decay`` after every epoch (a staircase, as Keras' per-epoch scheduler).

    ``sgd`` is Keras' momentum SGD, ``v <- momentum * v - lr_t * g; w <- w + v``: the velocity keeps the
    learning rate each gradient was taken with (``optax.sgd`` instead rescales the whole trace by the
    current rate; the two differ only after a decay). ``adam`` is ``optax.adam`` on the same schedule.
    ``<name>+tempbalance`` / ``<name>+alphadecay`` add rmtkit.optim's spectral control (control.py).
    """
    o = cfg.optimizer
    schedule = optax.exponential_decay(o.lr, transition_steps=steps_per_epoch, decay_rate=o.lr_decay, staircase=True)
    name, control = split_name(o.name)  # "sgd+tempbalance": simulations/train/control.py
    if name == "sgd":
        return with_control(optax.chain(optax.scale_by_learning_rate(schedule), optax.trace(decay=o.momentum)),
                            control, steps_per_epoch)
    if name == "adam":
        return with_control(optax.adam(schedule), control, steps_per_epoch)
    raise ValueError(f"unknown optimizer {o.name!r}; choose sgd or adam")


#: The losses of the training suite; ``softmax_mse`` is the authors' (Keras 'mse' on a softmax output).
LOSSES = ("softmax_mse", "mse", "cross_entropy")


def make_loss(kind: str, weight_decay: dict[str, float]):
    """``loss(model, x, y) -> (total, logits)``: the data term plus ``coef * sum(W**2)`` per named layer.

    ``softmax_mse``: mean over the batch and the classes of ``(softmax(logits) - onehot(y))**2`` (the
    paper's MiniAlexNet); ``mse``: the same on the logits; ``cross_entropy``: softmax cross-entropy.
    """
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")

    def loss(model, x, y):
        logits = model(x)
        if kind == "softmax_mse":
            data = jnp.mean((jax.nn.softmax(logits) - jax.nn.one_hot(y, logits.shape[-1])) ** 2)
        elif kind == "mse":
            data = jnp.mean((logits - jax.nn.one_hot(y, logits.shape[-1])) ** 2)
        else:
            data = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        kernels = weight_matrices(model)
        l2 = sum(coef * jnp.sum(kernels[name] ** 2) for name, coef in weight_decay.items())
        return data + l2, logits

    return loss


def make_train_chunk(graphdef, loss_fn):
    """A jitted ``(state, xs, ys) -> (state, losses, accs)`` running ``len(xs)`` SGD steps in one ``lax.scan``."""

    def step(state, batch):
        model, opt = nnx.merge(graphdef, state)
        x, y = batch
        (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x, y)
        opt.update(model, grads)
        _, state = nnx.split((model, opt))
        return state, (loss, jnp.mean(jnp.argmax(logits, -1) == y))

    @jax.jit
    def chunk(state, xs, ys):
        state, (losses, accs) = jax.lax.scan(step, state, (xs, ys))
        return state, losses, accs

    return chunk


def evaluate(model, split, batch: int = 2000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(split.x), batch):
        logits = _predict(model, jnp.asarray(split.x[i:i + batch]))
        correct += int(jnp.sum(jnp.argmax(logits, -1) == jnp.asarray(split.y[i:i + batch])))
    model.train()
    return correct / len(split.x)


@nnx.jit
def _predict(model, x):
    return model(x)


@nnx.jit
def _ever_active(model, x):
    return {k: jnp.any(v > 0, axis=0) for k, v in model.activations(x).items() if k != "fc3"}


def dead_units(model, x: np.ndarray, batch: int = 2000) -> dict[str, int]:
    """Per ReLU layer of a model with ``activations`` (MiniAlexNet): units never active on any input of ``x``.

    Inference mode (BatchNorm running statistics), as the trained network is used.
    """
    if not hasattr(model, "activations"):
        return {}
    model.eval()
    active = None
    for i in range(0, len(x), batch):
        now = _ever_active(model, jnp.asarray(x[i:i + batch]))
        active = now if active is None else {k: active[k] | now[k] for k in now}
    model.train()
    return {k: int(np.sum(~np.asarray(v))) for k, v in active.items()}


def train_epoch(chunk_fn, state, data: Data, cfg: TrainConfig, epoch: int, steps: int,
                after_first_chunk: Callable[[], None] = lambda: None):
    """One epoch of shuffled mini-batches (the last partial batch dropped), in scanned chunks.

    ``after_first_chunk`` runs once the first chunk is done (the ``kill_at="EPOCH:train"`` testing hook).
    """
    rng = np.random.default_rng([cfg.seed, epoch])
    order = rng.permutation(len(data.train.x))[: steps * cfg.batch_size].reshape(steps, cfg.batch_size)
    chunk = max(1, min(MAX_CHUNK_STEPS, 8192 // cfg.batch_size))
    losses, accs = [], []
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{cfg.epochs}", unit="step", leave=False, disable=not cfg.progress)
    for i in range(0, steps, chunk):
        idx = order[i:i + chunk]
        state, loss, acc = chunk_fn(state, jnp.asarray(data.train.x[idx]), jnp.asarray(data.train.y[idx]))
        if i == 0:
            after_first_chunk()
        losses.append(np.asarray(loss))
        accs.append(np.asarray(acc))
        bar.update(len(idx))
        bar.set_postfix(loss=f"{float(losses[-1].mean()):.4f}", acc=f"{float(accs[-1].mean()):.3f}")
    bar.close()
    return state, float(np.concatenate(losses).mean()), float(np.concatenate(accs).mean())
