# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Watching the phases appear: batch size and the spectra of FC1
#
# [MM-JMLR] §7: train the same model at different batch sizes, nothing else changed, and watch the ESD of the
# fully connected layers. Smaller batches self-regularise more: FC1's MP soft rank and stable rank fall and the
# phase moves from random-like towards bulk-decay and heavy-tailed. The training suite (`simulations.train`)
# runs the analyzer on the live weights after every epoch; this notebook trains a few models in-process and
# reads the spectral histories.
#
# The full experiment is one command: `python -m simulations.train -m experiment=batch_size_sweep`, then
# `python -m simulations.collect multirun/batch_size_sweep` (see the README for the numbers).
# `RMTKIT_SMOKE=1` uses the tiny model on synthetic data (the test suite does).

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from simulations.train.config import AnalysisConfig, TrainConfig
from simulations.train.data import DataConfig
from simulations.train.models import ModelConfig
from simulations.train.run import run

SMOKE = os.environ.get("RMTKIT_SMOKE", "0") == "1"
if SMOKE:
    model, data, epochs, batches = ModelConfig(name="tiny", width=64), DataConfig(name="synthetic", subset=2048), 3, [8, 64, 512]
else:
    model, data, epochs = ModelConfig(name="minialexnet", conv_width=0.25), DataConfig(subset=5000), 8
    batches = [4, 16, 64, 500]
out = Path(tempfile.mkdtemp(prefix="rmtkit-nb04-"))

results, histories = {}, {}
for bs in batches:
    cfg = TrainConfig(model=model, data=data, batch_size=bs, epochs=epochs, loss="mse", progress=False,
                      analysis=AnalysisConfig(layers=["fc1"], min_evals=10))
    results[bs] = run(cfg, out / f"bs{bs}")
    histories[bs] = pd.read_csv(out / f"bs{bs}" / "spectral.csv")
table = pd.DataFrame({bs: {k: r[k] for k in ("train_acc", "test_acc", "gap", "fc1_alpha", "fc1_mp_softrank",
                                             "fc1_stable_rank", "fc1_phase")} for bs, r in results.items()}).T
table.index.name = "batch size"
table

# %% [markdown]
# ## FC1 over training, per batch size

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for bs, h in histories.items():
    fc1 = h[h.name == "fc1"]
    axes[0].plot(fc1.epoch, fc1.mp_softrank, "o-", ms=3, label=f"batch {bs}")
    axes[1].plot(fc1.epoch, fc1.stable_rank / fc1.stable_rank.iloc[0], "o-", ms=3, label=f"batch {bs}")
    axes[2].plot(fc1.epoch, fc1.alpha, "o-", ms=3, label=f"batch {bs}")
for ax, title in zip(axes, ["MP soft rank", "stable rank / initial", "power-law alpha"], strict=True):
    ax.set_xlabel("epoch")
    ax.set_title(f"FC1: {title}", fontsize=10)
    ax.legend(fontsize=7)
fig.tight_layout()
print("phase of FC1 after the last epoch:", {bs: r["fc1_phase"] for bs, r in results.items()})
print("MP soft rank after the last epoch:", {bs: round(r["fc1_mp_softrank"], 3) for bs, r in results.items()})
