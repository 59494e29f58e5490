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
# # 02 · Power-law fits and the universality classes of heavy-tailed matrices
#
# The ESD of a weight matrix with Pareto-tailed entries, $P(|W_{ij}| > x) \sim x^{-\mu}$, has a power-law tail
# $\rho(\lambda) \sim \lambda^{-\alpha}$ whose exponent depends on $\mu$ ([MM-JMLR] §3.2; docs/theory.md):
# $\alpha \approx \mu/2 + 1$ for very heavy tails ($\mu < 2$), a steeper, size-dependent line for $2 < \mu < 4$,
# and an uninformative fit beyond. This notebook checks rmtkit's fit against the `powerlaw` package, shows
# the truncated fit, the goodness-of-fit tests, and runs a small version of the universality experiment.
#
# `RMTKIT_SMOKE=1` shrinks everything (the test suite does).

# %%
import os

import jax
import matplotlib.pyplot as plt
import numpy as np
import powerlaw

import rmtkit
from rmtkit import ensembles, plot

jax.config.update("jax_enable_x64", True)  # entry point: float64
SMOKE = os.environ.get("RMTKIT_SMOKE", "0") == "1"
M = 200 if SMOKE else 1000
NUM_MU = 10 if SMOKE else 60
key = jax.random.key(0)

# %% [markdown]
# ## 1. The Clauset–Shalizi–Newman fit, against the reference implementation

# %%
x = np.random.default_rng(0).pareto(1.5, 1000) + 1.0  # alpha = 2.5
ours = rmtkit.fit_power_law(x, method="csn")
ref = powerlaw.Fit(x, parameter_ranges={"alpha": [1, 1000]}, verbose=False)
print(f"rmtkit  : alpha {float(ours.alpha):.6f}, xmin {float(ours.xmin):.6f}, D {float(ours.D):.5f}, n_tail {int(ours.n_tail)}")
print(f"powerlaw: alpha {ref.power_law.alpha:.6f}, xmin {ref.power_law.xmin:.6f}, D {ref.power_law.D:.5f}")
assert abs(float(ours.alpha) / ref.power_law.alpha - 1) < 1e-6

# %% [markdown]
# ## 2. A heavy-tailed weight matrix: ESD, tail fit, goodness of fit

# %%
w = ensembles.pareto(key, 2 * M, M, 1.5)
ev = np.asarray(rmtkit.eigenvalues(w))
fit = rmtkit.fit_power_law(ev, method="csn", xmax="max")
print(f"mu = 1.5: alpha = {float(fit.alpha):.3f} (VHT theory {1.5 / 2 + 1:.3f}), xmin = {float(fit.xmin):.3g}, "
      f"n_tail = {int(fit.n_tail)}")
fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
plot.plot_esd(ev, log_x=True, title="ESD, Pareto mu = 1.5", ax=a1)
plot.plot_tail(ev, alpha=float(fit.alpha), xmin=float(fit.xmin), xmax=float(fit.xmax), title="tail fit (xmax = lambda_max)", ax=a2)
fig.tight_layout()
lr = rmtkit.likelihood_ratio_test(ev, rmtkit.fit_power_law(ev, method="csn"), alternative="exponential")
print(f"power law vs exponential: normalized log-likelihood ratio R = {float(lr.normalized_R):.2f}, p = {float(lr.p_value):.3g}")

# %% [markdown]
# ## 3. The universality experiment (small): alpha against mu, Q = 2
#
# The full version is `python -m simulations.universality` (M = 1000, Q in {1, 2, 4}, 100 values of mu).

# %%
mus = np.linspace(0.5, 3.5, NUM_MU)
keys = jax.random.split(jax.random.fold_in(key, 1), NUM_MU)
spectra = np.stack([np.asarray(rmtkit.eigenvalues(ensembles.pareto(k, 2 * M, M, float(mu)))) for k, mu in zip(keys, mus, strict=True)])
fits = rmtkit.fit_power_law(spectra, method="csn", xmax="max")  # one batched call
alphas = np.asarray(fits.alpha)
low = mus <= 2
slope, intercept = np.polyfit(mus[low], alphas[low], 1)
print(f"mu <= 2: alpha = {slope:.3f} mu + {intercept:.3f}   (authors, M = 1000: 0.649 mu + 0.862; VHT theory 0.5 mu + 1)")
print(f"RMSE vs mu/2 + 1 on mu <= 2: {np.sqrt(np.mean((alphas[low] - (mus[low] / 2 + 1)) ** 2)):.3f}")
fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.plot(mus, alphas, "o", ms=4, label=f"rmtkit csn, xmax = lambda_max (M = {M})")
ax.plot(mus[low], mus[low] / 2 + 1, "k-", label="VHT theory")
ax.plot(mus[~low], 1.21 * mus[~low] - 0.0253, "k:", label="authors' MHT regression")
ax.set_xlabel("mu")
ax.set_ylabel("alpha")
ax.set_ylim(0, 12)
ax.legend(fontsize=8)
