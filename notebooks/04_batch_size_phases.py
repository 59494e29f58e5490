# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · The phases appear with the batch size: MiniAlexNet on Fashion-MNIST
#
# [MM-JMLR] §7 trains one model at many batch sizes, nothing else changed, and reads the ESD of its fully
# connected layers: smaller batches self-regularise more, so FC1 should move from random-like (large batches)
# through bleeding-out, bulk+spikes and bulk-decay to heavy-tailed (batch 2). This notebook reads the sweep
# that `scripts/headline.sh` ran with the authors' protocol (their Keras MiniAlexNet: 3x3 pools of stride 3,
# softmax output with MSE, per-image standardisation, SGD 0.01 / momentum 0.9, lr x0.95 per epoch) at the
# scale this 2-core machine carries: conv channels x 0.125 (FC1 512 x 384, FC2 384 x 192), all 60,000
# training images, 40 epochs, 3 seeds per batch size. It is executed on the committed results
# (`docs/results/headline/`, written by `python -m simulations.headline RUNS`).

# %%
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import rmtkit
import simulations
from simulations.train.records import read_csv

jax.config.update("jax_enable_x64", True)  # the fits run in float64, chosen here
RESULTS = Path(simulations.__file__).resolve().parents[1] / "docs" / "results" / "headline"  # in the checkout
runs = read_csv(RESULTS / "runs.csv")  # current column names, whenever the report was written
with np.load(RESULTS / "final_eigenvalues.npz") as z:
    eigenvalues = {tuple(k.split("|")): z[k] for k in z.files}
# The authors' FC1 table (CIFAR-10, full-width MiniAlexNet, eigenvalues pooled over 10 runs).
paper = pd.DataFrame({"batch_size": [2, 4, 8, 16, 32, 100, 250, 1000],
                      "paper_beyond_bulk": ["MP fails", "13.3%", "9.3%", "4.8%", "2.4%", "2.0%", "0", "0"],
                      "paper_phase": ["heavy-tailed", "", "bulk-decay", "", "bulk+spikes", "bleeding-out",
                                      "random-like", "random-like"]})
accuracy = runs.groupby("batch_size").agg(seeds=("seed", "size"), test_acc=("test_acc", "mean"),
                                          test_acc_std=("test_acc", "std"), gap=("gap", "mean"), gap_std=("gap", "std"))
accuracy.round(4)

# %% [markdown]
# ## FC1 and FC2, eigenvalues pooled over seeds
# As the authors did, the eigenvalues of all seeds at one batch size are pooled into one ESD, then fitted
# (`simulations.train.headline.pooled_table`, which calls rmtkit's public fits): the automatic MP fit (share of
# eigenvalues beyond its bulk edge, soft rank `l+ / lambda_max`), the CSN power law, and the phase with the
# rule that decided it.

# %%
from simulations.train.headline import pooled_table

table, fits = pooled_table(runs, eigenvalues)
table = table.rename(columns={"spike_fraction": "beyond_bulk", "stable_rank_mean": "stable_rank",
                              "seed_phases": "per_seed"})
columns = ["batch_size", "mp_sigma", "beyond_bulk", "mp_soft_rank", "stable_rank", "alpha", "phase", "per_seed"]


def pooled(layer):
    return (table.loc[table.layer == layer, columns].reset_index(drop=True),
            {bs: v for (bs, la), v in fits.items() if la == layer})


fc1, fc1_fits = pooled("fc1")
fc2, fc2_fits = pooled("fc2")
pd.set_option("display.width", 200)
print("FC1 (512 x 384 here; 4096 x 384 in the paper)")
print(fc1.merge(paper, on="batch_size", how="left").to_string(index=False, float_format="%.3g"))
print("\nFC2 (384 x 192)")
print(fc2.to_string(index=False, float_format="%.3g"))

# %%
fig, axes = plt.subplots(2, 4, figsize=(15, 6))
for ax, (bs, (ev, q, mp, pl, phase)) in zip(axes.ravel(), fc1_fits.items(), strict=False):
    if int(mp.status) == 0 and phase in ("random-like", "bleeding-out", "bulk+spikes"):
        ax.hist(ev, bins=80, density=True, color="0.65")
        grid = np.linspace(float(mp.lambda_minus), float(mp.lambda_plus), 300)[1:-1]
        ax.plot(grid, np.asarray(rmtkit.marchenko_pastur_pdf(grid, q, float(mp.sigma))), "k", lw=1.2,
                label=rf"MP $\sigma$={float(mp.sigma):.3g}")
        ax.set_xlabel(r"$\lambda$")
    else:  # no MP bulk: log axes, the power-law tail drawn
        ax.hist(ev, bins=np.geomspace(ev[ev > 0].min(), ev.max(), 60), density=True, color="0.65")
        xm, a = float(pl.xmin), float(pl.alpha)
        grid = np.geomspace(xm, ev.max(), 50)
        ax.plot(grid, np.mean(ev >= xm) * (a - 1) / xm * (grid / xm) ** -a, "k", lw=1.2, label=rf"$\alpha$={a:.2f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\lambda$ (log)")
    ax.set_title(f"batch {bs}: {phase}", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
axes[0, 0].set_ylabel("density")
axes[1, 0].set_ylabel("density")
fig.suptitle("FC1 ESD, seeds pooled per batch size")
fig.tight_layout()

# %% [markdown]
# ## Does FC1 still move at the end of training?
# The learning rate falls to 13% of its start by epoch 40 (x0.95 per epoch). If FC1's soft rank, stable
# rank and exponent have flattened by then, training longer on the same schedule would not bring the
# layer closer to the paper's small-batch phases; more SGD steps (more data per epoch) might.

# %%
traj = read_csv(RESULTS / "trajectories.csv")
traj = traj[traj.seed == 0]
fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
for (bs, size), t in traj.groupby(["batch_size", "train_size"]):
    t = t.sort_values("epoch")
    for ax, col in zip(axes, ("mp_soft_rank", "stable_rank", "alpha"), strict=True):
        ax.plot(t.epoch, t[col], "-" if bs == 2 else "--", label=f"batch {bs}, {size:,} images")
for ax, title in zip(axes, ("MP soft rank", "stable rank", r"power-law $\alpha$"), strict=True):
    ax.set_title(f"FC1 {title}")
    ax.set_xlabel("epoch")
axes[0].legend(fontsize=8)
fig.tight_layout()
last = traj.sort_values("epoch").groupby(["batch_size", "train_size"]).tail(11)
moves = last.groupby(["batch_size", "train_size"]).agg(
    softrank_epoch_30=("mp_soft_rank", "first"), softrank_end=("mp_soft_rank", "last"),
    stable_rank_epoch_30=("stable_rank", "first"), stable_rank_end=("stable_rank", "last"),
    phase_end=("phase", "last"))
moves.round(3)

# %% [markdown]
# ## Conclusion
# Computed from the tables above (the same numbers as the README's):

# %%
order = fc1.sort_values("batch_size", ascending=False)
distinct = list(dict.fromkeys(order.phase.dropna()))
print(f"FC1 phases from batch {order.batch_size.iloc[0]} down to {order.batch_size.iloc[-1]}: "
      + " -> ".join(f"{p} (batch {', '.join(map(str, order.batch_size[order.phase == p]))})" for p in distinct))
print(f"{len(distinct)} distinct FC1 phases (the paper: 5 of the 5+1); FC2: {fc2.phase.nunique()} distinct.")
print(f"MP soft rank of FC1 falls from {order.mp_soft_rank.iloc[0]:.2f} to {order.mp_soft_rank.iloc[-1]:.2f}, "
      f"stable rank from {order.stable_rank.iloc[0]:.0f} to {order.stable_rank.iloc[-1]:.0f}; "
      f"test accuracy from {accuracy.test_acc.iloc[-1]:.3f} (batch {accuracy.index[-1]}) to "
      f"{accuracy.test_acc.iloc[0]:.3f} (batch {accuracy.index[0]}).")

# %% [markdown]
# At this scale (3 seeds; conv width 0.125, 40 epochs, Fashion-MNIST) the batch size alone takes FC1 through
# three of the 5+1 phases, in the paper's order. Per seed (`per_seed`): random-like at batch 100-1000,
# bleeding-out at 4-32 (batch 32 is random-like in one seed), bulk-decay at 2. The pooled spectra label batch
# 4 and 8 bulk-decay: three seeds pooled are a 3x larger sample, and the MP bulk test (`D * n_bulk`) grows
# with the sample when the bulk deviates systematically from MP. Bulk+spikes and heavy-tailed do not appear:
# at each batch size our FC1 has about as many eigenvalues beyond the MP bulk as the paper's at 2-4 times the
# batch, and the outliers stay close to the bulk edge. FC1 stops moving by epoch ~20 as the learning rate
# decays, while more images per epoch (5,000 -> 20,000 -> 60,000) take it further: the remaining distance is
# in the SGD steps taken early, the data set and the width, not in the number of epochs.
