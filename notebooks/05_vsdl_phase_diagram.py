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
# # 05 · VSDL: the load / temperature phase diagram of a learning perceptron
#
# [MM-VSDL] explain generalization puzzles with two control parameters: a load $P/N$ (data per weight; the
# statistical mechanics of learning calls it $\alpha$, as `simulations.vsdl.theory` does in its formulas and
# arguments, while rmtkit's tables, configs and figures call it `load`, since elsewhere $\alpha$ is the power-law
# exponent) and a temperature $\tau$. Their phase diagram rests on the statistical mechanics of a student perceptron that
# learns a teacher perceptron by Gibbs learning: the student is drawn from $e^{-E/T}$, with $E$ the number of
# training errors ([SST92], [G90], [EVdB01]). This notebook
#
# 1. checks the replica-symmetric (RS) theory of `simulations.vsdl.theory` against the published anchors,
# 2. shows the smooth learning curve of the spherical student and the first-order jump of the Ising student,
# 3. compares Monte Carlo (`simulations.vsdl.montecarlo`) with the theory, including the hysteresis of the
#    metastable window, and
# 4. draws the phase diagram with the simulator behind `python -m simulations.vsdl`.
#
# Set `RMTKIT_SMOKE=1` to shrink every simulation (the test suite does).

# %%
import os
import tempfile
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

from simulations.vsdl import montecarlo as mc
from simulations.vsdl import theory as th
from simulations.vsdl.config import GridConfig, MonteCarloConfig, VSDLConfig
from simulations.vsdl.run import run

jax.config.update("jax_enable_x64", True)  # this notebook is an entry point: it chooses float64
SMOKE = os.environ.get("RMTKIT_SMOKE", "0") == "1"
N = 40 if SMOKE else 100
SAMPLES = 4 if SMOKE else 16
SWEEPS = 150 if SMOKE else 800
key = jax.random.key(0)

# %% [markdown]
# ## 1. The anchors
#
# | quantity | published | source |
# | --- | --- | --- |
# | Ising student, T = 0: transition to perfect generalization | $\alpha_c = 1.245$ | Gyorgyi 1990 |
# | spherical Gibbs learning, T = 0: $\alpha\,\epsilon$ for large $\alpha$ | 0.625 | Opper & Haussler 1991 |
# | Bayes (center of the version space) | 0.442, ratio $\sqrt 2$ | Opper & Haussler 1991 |
# | annealed approximation, Ising threshold | 1.44797 | Seung, Sompolinsky, Tishby 1992 |
# | high-T limit, Ising: $\alpha_c/T$, $\alpha_{sp}/T$ | 1.70, 2.08 | Seung, Sompolinsky, Tishby 1992 |

# %%
load_c, load_sp = th.ising_transition(0.0)
gibbs = 400 * th.generalization_error(400.0, 0.0, "spherical")
bayes = 400 * th.generalization_error(400.0, 0.0, "spherical", "bayes")
print(f"Ising T=0: critical load {load_c:.4f} (1.245), spinodal load {load_sp:.4f}")
print(f"spherical T=0, load 400: load*eps Gibbs = {gibbs:.4f} (0.625), Bayes = {bayes:.4f} (0.442), "
      f"ratio = {gibbs / bayes:.4f} (sqrt 2 = {np.sqrt(2):.4f})")
print(f"annealed Ising threshold: {th.annealed_ising_transition(0.0)[0]:.5f} (1.44797)")
print("high-T Ising load_c/T, load_sp/T: {:.4f}, {:.4f} (1.70, 2.08)".format(*th.high_temperature_ising_transition()))

# %% [markdown]
# ## 2. Learning curves: smooth for continuous weights, a jump for binary weights
#
# The spherical student's error falls like $c/\alpha$; temperature slows learning (at high T only $\alpha/T$
# matters and $\epsilon \to T/\alpha$). The Ising student's poor-generalization branch (dashed) survives beyond
# $\alpha_c$ as a metastable state up to its spinodal, while the equilibrium error drops to 0 at $\alpha_c$.

# %%
load = np.linspace(0.05, 6, 120)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
for T in (0.0, 0.5, 1.0):
    a1.plot(load, th.generalization_error(load, T, "spherical"), label=f"Gibbs, T = {T:g}")
a1.plot(load, th.generalization_error(load, 0.0, "spherical", "bayes"), "k--", label="Bayes, T = 0")
a1.plot(load, [th.annealed(a, 0.0, "spherical").eps_gen for a in load], "k:", label="annealed, T = 0")
a1.set(xlabel="load P / N", ylabel=r"$\epsilon_{gen}$", title="spherical student")
a1.legend(fontsize=8)
for T, color in ((0.0, "C0"), (0.5, "C1"), (1.0, "C2")):
    a2.plot(load, th.generalization_error(load, T, "ising"), color=color, label=f"equilibrium, T = {T:g}")
    poor = th.solve(load, T, "ising")
    a2.plot(load[~poor.perfect], poor.eps_gen[~poor.perfect], "--", color=color)
a2.set(xlabel="load P / N", ylabel=r"$\epsilon_{gen}$", title="Ising student (dashed: poor branch)")
a2.legend(fontsize=8)
fig.tight_layout()
for T in (0.0, 0.5, 1.0):
    print(f"Ising T={T:g}: critical load {th.ising_transition(T)[0]:.4f}, spinodal load {th.ising_transition(T)[1]:.4f}")

# %% [markdown]
# ## 3. Monte Carlo against the theory
#
# Spherical student at T = 0: exact heat bath inside the version space (truncated Gaussians); at T > 0 and for the
# Ising student: Metropolis with incremental stabilities. Each point: `SAMPLES` teachers, error bars over them.

# %%
points = {"spherical": ([1.0, 2.0, 2.0], [0.0, 0.0, 0.5]), "ising": ([1.0, 2.0, 3.5], [0.5, 1.0, 1.0])}
for student, (loads, temps) in points.items():
    for vs in (True, False):
        sel = [i for i, t in enumerate(temps) if (t == 0) == vs]
        if not sel:
            continue
        res = mc.simulate(jax.random.fold_in(key, len(student) + vs), student=student, n=N,
                          load=[loads[i] for i in sel], T=[temps[i] for i in sel], samples=SAMPLES, sweeps=SWEEPS,
                          start="teacher" if vs else "random", version_space=vs)
        table = mc.summarize(res, SWEEPS // 3)
        table["theory"] = th.generalization_error(table.load.to_numpy(), table["T"].to_numpy(), student)
        for row in table.itertuples():
            print(f"{student:9s} load={row.load:4.2f} T={row.T:4.2f}: MC eps = {row.eps_gen:.4f} "
                  f"± {row.eps_gen_err:.4f}, theory {row.theory:.4f}")

# %% [markdown]
# ### Hysteresis in the metastable window
#
# Between $\alpha_c(T)$ and $\alpha_{sp}(T)$ a random start stays in the poor state while a teacher start stays at
# $R = 1$. At finite N the barriers are finite: deeper in the window some random starts do escape.

# %%
T_w = 0.3
a_c, a_sp = th.ising_transition(T_w)
a_w = a_c + 0.2 * (a_sp - a_c)
fig, ax = plt.subplots(figsize=(6, 3.5))
for start, color in (("random", "C3"), ("teacher", "C0")):
    res = mc.simulate(jax.random.fold_in(key, 7), student="ising", n=N, load=[a_w], T=[T_w], samples=SAMPLES,
                      sweeps=SWEEPS, start=start)
    eps = np.arccos(np.clip(res.trace.R, -1, 1)) / np.pi
    ax.plot(eps.T, color=color, alpha=0.5, lw=0.8)
    ax.plot([], [], color=color, label=f"{start} start")
    print(f"{start:7s} start at load={a_w:.3f}, T={T_w}: final eps per chain {np.round(eps[:, -1], 3)}")
ax.axhline(float(th.solve(a_w, T_w, "ising").eps_gen), color="k", ls="--", lw=1, label="RS poor state")
ax.set(xlabel="sweep", ylabel=r"$\epsilon_{gen}$", title=f"Ising, N = {N}, load {a_w:.2f} in "
       f"[{a_c:.2f}, {a_sp:.2f}], T = {T_w}")
ax.legend(fontsize=8)

# %% [markdown]
# ## 4. The phase diagram
#
# The simulator behind `python -m simulations.vsdl` (here called as a library): RS background and lines, Monte
# Carlo points colored by their error, one panel per start.

# %%
if SMOKE:
    cfg = VSDLConfig(grid=GridConfig(load=[1.0, 2.0, 3.0], T=[0.3, 1.0]),
                     mc=MonteCarloConfig(n=N, samples=3, sweeps=100, burn_in=30), line_points=6, background=16)
else:
    cfg = VSDLConfig()
out = Path(tempfile.mkdtemp(prefix="vsdl_"))
table = run(cfg, out)
print(table[["load", "T", "start", "eps_gen_mc", "eps_gen_mc_err", "eps_gen_theory", "region"]].to_string(index=False))
img = plt.imread(out / "phase_diagram.png")
fig, ax = plt.subplots(figsize=(12, 5))
ax.imshow(img)
ax.axis("off")
