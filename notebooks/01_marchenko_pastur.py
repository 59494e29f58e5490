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
# # 01 · The Marchenko–Pastur law, its edge, and spikes
#
# The eigenvalues of the correlation matrix $X = W^\top W / N$ of a random $N \times M$ matrix with iid entries
# of variance $\sigma^2$ follow the Marchenko–Pastur (MP) law with edges $\lambda_\pm = \sigma^2(1 \pm 1/\sqrt{Q})^2$,
# $Q = N/M$ ([MM-JMLR] §3). This notebook checks rmtkit's MP functions against sampled matrices, shows the
# Tracy–Widom scale of the edge, the BBP transition of a planted spike, and the automatic MP fit.
#
# Set `RMTKIT_SMOKE=1` to shrink every size (the test suite does).

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import rmtkit
from rmtkit import ensembles, plot

jax.config.update("jax_enable_x64", True)  # this notebook is an entry point: it chooses float64
SMOKE = os.environ.get("RMTKIT_SMOKE", "0") == "1"
M = 200 if SMOKE else 1000
SEEDS = 4 if SMOKE else 20
key = jax.random.key(0)

# %% [markdown]
# ## 1. The law against sampled Gaussian matrices

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
for ax, q in zip(axes, [1.0, 2.0, 4.0], strict=True):
    w = ensembles.gaussian(jax.random.fold_in(key, int(q)), int(q * M), M)
    ev = rmtkit.eigenvalues(w)
    fit = rmtkit.fit_marchenko_pastur(ev, q)
    plot.plot_esd(ev, q=q, fit=fit, bins=50, title=f"Gaussian, Q = {q:g}, M = {M}", ax=ax)
    lo, hi = rmtkit.marchenko_pastur_edges(q)
    print(f"Q={q:g}: edges theory [{float(lo):.3f}, {float(hi):.3f}], fitted sigma {float(fit.sigma):.4f}, "
          f"spikes {int(fit.num_spikes)}, D {float(fit.D):.4f}")
fig.tight_layout()

# %% [markdown]
# ## 2. Moments: theory (Narayana numbers) vs the empirical spectrum

# %%
q = 2.0
ev = np.asarray(rmtkit.eigenvalues(ensembles.gaussian(key, int(q * M), M)))
for k in range(1, 5):
    theory = float(rmtkit.marchenko_pastur_moment(k, q))
    print(f"E[lambda^{k}]: theory {theory:.4f}, sample {np.mean(ev**k):.4f}")
assert abs(np.mean(ev) - 1) < 0.02

# %% [markdown]
# ## 3. The edge fluctuates on the Tracy–Widom scale $\Delta_{TW} \propto M^{-2/3}$
#
# The gap between the largest eigenvalue and $\lambda_+$, in units of $\Delta_{TW}$, stays of order one as $M$ grows:
# that is why the fit calls an eigenvalue a spike only beyond $\lambda_+ + 3\,\Delta_{TW}$.

# %%
sizes = [100, 200] if SMOKE else [100, 300, 1000]
for m in sizes:
    w = ensembles.gaussian(jax.random.fold_in(key, m), 2 * m, m, shape=(SEEDS,))
    top = rmtkit.eigenvalues(w)[:, -1]
    z = (top - rmtkit.marchenko_pastur_edges(2.0)[1]) / rmtkit.tracy_widom_scale(2.0, m)
    print(f"M={m:5d}: (lambda_max - l+) / Delta_TW = {float(z.mean()):+.2f} ± {float(z.std()):.2f}  (TW1: -1.21 ± 1.27)")

# %% [markdown]
# ## 4. The BBP transition: a spike leaves the bulk at $S = Q^{-1/4}$
#
# With $W = G + \sqrt{N} S\, u v^\top$, the top eigenvalue sticks to $\lambda_+$ below the threshold and follows
# $(1/Q + S^2)(1 + 1/S^2)$ above it.

# %%
q = 2.0
strengths = np.linspace(0.2, 2.5, 8 if SMOKE else 24)
w = ensembles.spiked(jax.random.fold_in(key, 99), int(q * M), M, jnp.asarray(strengths)[:, None], shape=(strengths.size,))
top = np.asarray(rmtkit.eigenvalues(w)[:, -1])
theory = np.asarray(rmtkit.spike_position(strengths, q))
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(strengths, top, "o", label="largest eigenvalue (one draw)")
ax.plot(strengths, theory, "-", label="theory")
ax.axvline(float(rmtkit.bbp_threshold(q)), color="k", ls=":", label="BBP threshold")
ax.set_xlabel("signal strength S")
ax.set_ylabel(r"$\lambda_{max}$")
ax.legend()
above = strengths > 1.5 * float(rmtkit.bbp_threshold(q))
print("max relative error above 1.5x threshold:", float(np.max(np.abs(top[above] / theory[above] - 1))))

# %% [markdown]
# ## 5. The automatic fit on planted spikes: $k = 5$ at 3× the BBP threshold

# %%
strength = 3 * float(rmtkit.bbp_threshold(q))
w = ensembles.spiked(jax.random.fold_in(key, 5), int(q * M), M, jnp.full(5, strength), shape=(SEEDS,))
fit = rmtkit.fit_marchenko_pastur(rmtkit.eigenvalues(w), q)
print("spikes found per draw:", np.asarray(fit.num_spikes))
print("fitted sigma:", np.round(np.asarray(fit.sigma), 4))
assert (np.asarray(fit.num_spikes) == 5).mean() >= 0.75
