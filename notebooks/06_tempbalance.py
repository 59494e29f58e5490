# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · TempBalance in ten lines: per-layer learning rates from the power-law exponents
#
# TempBalance (Zhou et al., NeurIPS 2023) gives each weight matrix its own learning rate: the layers whose
# spectra are the most heavy-tailed (small exponent $\alpha$, "well trained" in [MM-JMLR]'s reading) get the
# smallest rate, the least heavy-tailed the largest, by a linear map of $\alpha$ onto $[0.5, 1.5] \times$ the
# base rate, refreshed once per epoch (docs/theory.md, "Control"). In rmtkit it is an optax transformation,
# `rmtkit.optim.temperature_balance`, chained after any optimiser. The exponents are computed inside the
# jitted step; the optimiser state holds them, so they can be read, plotted and checkpointed.
#
# This notebook trains a three-layer perceptron on Fashion-MNIST with and without it (one seed: an
# illustration, not a comparison; docs/control.md has the 5-seed comparison and its tests).
# Set `RMTKIT_SMOKE=1` to shrink it (the test suite does).

# %%
import os

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from flax import nnx

from rmtkit import datasets
from rmtkit.optim import matrix_leaves, temperature_balance

SMOKE = os.environ.get("RMTKIT_SMOKE", "0") == "1"
N_TRAIN, EPOCHS, BATCH = (4096, 2, 64) if SMOKE else (60000, 6, 64)
train, test = datasets.load_fashion_mnist("train"), datasets.load_fashion_mnist("test")
x_train = train.images[:N_TRAIN].reshape(N_TRAIN, -1).astype(np.float32) / 255.0
y_train = train.labels[:N_TRAIN].astype(np.int32)
x_test, y_test = test.images.reshape(len(test.labels), -1).astype(np.float32) / 255.0, test.labels.astype(np.int32)
steps_per_epoch = N_TRAIN // BATCH
print(f"{N_TRAIN} training images, {EPOCHS} epochs of {steps_per_epoch} steps, batch {BATCH}")


# %% [markdown]
# ## The model: any Flax NNX module

# %%
class MLP3(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.fc1, self.fc2, self.fc3 = (nnx.Linear(784, 512, rngs=rngs), nnx.Linear(512, 256, rngs=rngs),
                                        nnx.Linear(256, 10, rngs=rngs))

    def __call__(self, x):
        return self.fc3(nnx.relu(self.fc2(nnx.relu(self.fc1(x)))))


# Which leaves TempBalance balances (2-D kernels with >= 50 eigenvalues) and why the others keep factor 1:
for path, why in matrix_leaves(nnx.state(MLP3(nnx.Rngs(0)), nnx.Param).to_pure_dict()).items():
    print(f"{path:12s} {why}")

# %% [markdown]
# ## The ten lines: TempBalance chained after SGD, a jitted step, the loop

# %%
def train_model(control: bool, seed: int = 0):
    model = MLP3(nnx.Rngs(seed))
    tx = optax.sgd(0.05, momentum=0.9)
    tx = optax.chain(tx, temperature_balance(every=steps_per_epoch)) if control else tx   # <- the one line
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, x, y):
        loss = lambda m: optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()  # noqa: E731
        opt.update(model, nnx.grad(loss)(model))

    history, rng = [], np.random.default_rng(seed)
    for _ in range(EPOCHS):
        order = rng.permutation(N_TRAIN)
        for i in range(steps_per_epoch):
            idx = order[i * BATCH:(i + 1) * BATCH]
            step(model, opt, jnp.asarray(x_train[idx]), jnp.asarray(y_train[idx]))
        acc = float((jnp.argmax(model(jnp.asarray(x_test)), -1) == y_test).mean())
        record = {"test_acc": acc}
        if control:  # the state in force: (exponent, factor) of each balanced kernel
            tb = opt.opt_state[1]
            record |= {k: (float(tb.exponents[k]["kernel"][...]), float(tb.factors[k]["kernel"][...]))
                       for k in ("fc1", "fc2")}
        history.append(record)
    return history


plain, balanced = train_model(False), train_model(True)
for epoch, (p, b) in enumerate(zip(plain, balanced, strict=True), start=1):
    print(f"epoch {epoch}: test accuracy SGD {p['test_acc']:.4f}, SGD+TempBalance {b['test_acc']:.4f}; "
          + ", ".join(f"{k} alpha {b[k][0]:.2f} -> factor {b[k][1]:.2f}" for k in ("fc1", "fc2")))

# %% [markdown]
# The exponents in the state are those of the parameters at the start of each epoch (the refresh happens at
# steps $0, K, 2K, \dots$); fc3 has 10 eigenvalues, too few for a power-law fit, and keeps factor 1. With
# two balanced matrices the linear map sends the smaller exponent to 0.5 and the larger to 1.5 however close
# they are: here the two exponents come within a few hundredths of each other, and the factors swap when
# their order does. TempBalance's map is meant for deep networks with many layers, where it spreads the
# factors over the range; on a network this small it is a switch.

# %%
epochs = np.arange(1, EPOCHS + 1)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
axes[0].plot(epochs, [h["test_acc"] for h in plain], "o-", label="SGD")
axes[0].plot(epochs, [h["test_acc"] for h in balanced], "s-", label="SGD + TempBalance")
axes[0].set(xlabel="epoch", ylabel="test accuracy", title="one seed (illustration)")
axes[0].legend(fontsize=8)
for k, marker in (("fc1", "o-"), ("fc2", "s-")):
    axes[1].plot(epochs, [h[k][0] for h in balanced], marker, label=k)
    axes[2].plot(epochs, [h[k][1] for h in balanced], marker, label=k)
axes[1].set(xlabel="epoch (exponents at its start)", ylabel="Hill alpha (xmin at the median)",
            title="exponents in the optimiser state")
axes[2].set(xlabel="epoch", ylabel="learning-rate factor", title="TempBalance's factor per layer", ylim=(0.4, 1.6))
for ax in axes[1:]:
    ax.legend(fontsize=8)
fig.tight_layout()
