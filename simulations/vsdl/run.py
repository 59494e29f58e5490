"""The VSDL phase diagram: theory lines and background, Monte Carlo on a (load, T) grid, regions, table, figure.

The load is the number of examples per weight, ``P / N`` (the ``alpha`` of the statistical mechanics of
learning and of ``simulations.vsdl.theory``); everything the user sees (config keys, CSV columns, figure
labels) calls it ``load``, since elsewhere in rmtkit ``alpha`` is the power-law exponent.

Regions ([MM-VSDL]; [SST92] §VI for the Ising student), per grid point:
- ``poor``: the poor-generalization state is the equilibrium (Ising: load < load_c(T); spherical: always,
  where eps falls smoothly with the load and there is no transition);
- ``metastable``: load_c(T) <= load < load_sp(T): perfect generalization is the equilibrium, the poor state
  survives as a metastable state (coexistence: random starts stay poor, teacher starts stay perfect);
- ``perfect``: load >= load_sp(T): only the R = 1 state is left;
- ``high_temperature`` (a flag on top of the phase): T >= T_ht, the crossover temperature where learning is
  governed by load / T alone: there eps(load = T, T) is within ``high_t_tol`` of its high-temperature limit.
"""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from scipy.optimize import brentq
from tqdm.auto import tqdm

from simulations.vsdl import montecarlo, theory
from simulations.vsdl.config import VSDLConfig

log = logging.getLogger(__name__)

COLUMNS = ["student", "load", "T", "start", "sampler", "n", "samples", "R_mc", "eps_gen_mc", "eps_gen_mc_err",
           "train_error_mc", "train_error_mc_err", "eps_gen_theory", "train_error_theory", "eps_gen_poor",
           "load_c", "load_sp", "phase", "high_temperature", "region"]


def validate(cfg: VSDLConfig) -> None:
    """Raise ``ValueError`` naming the offending field."""
    if cfg.student not in theory.STUDENTS:
        raise ValueError(f"student must be one of {theory.STUDENTS}, got {cfg.student!r}")
    if not cfg.grid.load or min(cfg.grid.load) <= 0:
        raise ValueError(f"grid.load must be a non-empty list of loads > 0, got {cfg.grid.load}")
    if not cfg.grid.T or min(cfg.grid.T) < 0:
        raise ValueError(f"grid.T must be a non-empty list of temperatures >= 0, got {cfg.grid.T}")
    bad = set(cfg.mc.starts) - set(montecarlo.STARTS)
    if bad or not cfg.mc.starts:
        raise ValueError(f"mc.starts must be a non-empty subset of {montecarlo.STARTS}, got {cfg.mc.starts}")
    if not 0 <= cfg.mc.burn_in < cfg.mc.sweeps:
        raise ValueError(f"mc.burn_in must be in [0, mc.sweeps = {cfg.mc.sweeps}), got {cfg.mc.burn_in}")
    if cfg.mc.n < 2 or cfg.mc.samples < 2:
        raise ValueError(f"mc.n and mc.samples must be >= 2 (error bars need 2 samples), got {cfg.mc.n}, "
                         f"{cfg.mc.samples}")
    if not 0 < cfg.high_t_tol < 1:
        raise ValueError(f"high_t_tol must be in (0, 1), got {cfg.high_t_tol}")


def transition_lines(temperatures) -> pd.DataFrame:
    """The critical and spinodal loads ``load_c(T)``, ``load_sp(T)`` of the Ising student at each temperature."""
    lines = [theory.ising_transition(T) for T in temperatures]
    return pd.DataFrame({"T": np.asarray(temperatures, float), "load_c": [a for a, _ in lines],
                         "load_sp": [b for _, b in lines]})


def high_temperature_crossover(student: str, tol: float) -> float:
    """``T_ht``: the temperature above which eps(load = T, T) is within ``tol`` of its load / T limit."""
    limit = theory.high_temperature(1.0, student).eps_gen

    def deviation(T):
        return abs(float(theory.solve(T, T, student).eps_gen) / limit - 1) - tol

    return float(brentq(deviation, 0.05, 200.0, xtol=1e-4))


def classify(student: str, load, T, load_c, load_sp, T_ht: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase, high-temperature flag and region label (module docstring) of each point."""
    load, T = np.asarray(load, float), np.asarray(T, float)
    if student == "ising":
        phase = np.where(load < load_c, "poor", np.where(load < load_sp, "metastable", "perfect"))
    else:
        phase = np.full(load.shape, "poor")
    hot = T >= T_ht
    region = np.where(hot, np.char.add(phase.astype(str), ", high-T"), phase)
    return phase, hot, region


def simulate_grid(cfg: VSDLConfig, key: jax.Array) -> pd.DataFrame:
    """Monte Carlo at every grid point and start: one vmapped call per (start, T row), all loads x samples."""
    load = np.asarray(cfg.grid.load, float)
    jobs = []
    for start in cfg.mc.starts:
        for T in cfg.grid.T:
            version_space = cfg.student == "spherical" and T == 0
            if version_space and start != "teacher":
                continue  # at T = 0 the spherical student is sampled exactly in the version space, from the teacher
            jobs.append((start, float(T), version_space))
    tables = []
    for i, (start, T, version_space) in enumerate(tqdm(jobs, desc=f"vsdl[{cfg.student}] Monte Carlo", unit="row")):
        result = montecarlo.simulate(jax.random.fold_in(key, i), student=cfg.student, n=cfg.mc.n, load=load,
                                     T=np.full(load.size, T), samples=cfg.mc.samples, sweeps=cfg.mc.sweeps,
                                     start="teacher" if version_space else start, version_space=version_space)
        table = montecarlo.summarize(result, cfg.mc.burn_in)
        table.insert(2, "start", "teacher" if version_space else start)
        table.insert(3, "sampler", "version_space" if version_space else "metropolis")
        tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    return out.rename(columns={"R": "R_mc", "eps_gen": "eps_gen_mc", "eps_gen_err": "eps_gen_mc_err",
                               "train_error": "train_error_mc", "train_error_err": "train_error_mc_err"})


def run(cfg: VSDLConfig, out_dir: str | Path) -> pd.DataFrame:
    """Build the phase diagram and write ``phase_diagram.csv``, ``transition_lines.csv`` and the figure.

    Returns:
        One row per grid point and start, columns ``COLUMNS``.
    """
    validate(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_max = max(cfg.grid.T)
    T_ht = high_temperature_crossover(cfg.student, cfg.high_t_tol)
    lines = None
    if cfg.student == "ising":
        lines = transition_lines(np.linspace(0.0, 1.1 * max(t_max, 0.1), cfg.line_points))
        lines.to_csv(out / "transition_lines.csv", index=False)
        log.info("Ising transition lines\n%s", lines.to_string(index=False))
    log.info("high-temperature crossover T_ht = %.3f (tolerance %g)", T_ht, cfg.high_t_tol)

    table = simulate_grid(cfg, jax.random.key(cfg.seed))
    a, T = table.load.to_numpy(), table["T"].to_numpy()
    eq = theory.equilibrium(a, T, cfg.student)
    table["student"] = cfg.student
    table["n"] = cfg.mc.n
    table["eps_gen_theory"] = eq.eps_gen
    table["train_error_theory"] = eq.eps_train
    table["eps_gen_poor"] = theory.solve(a, T, cfg.student).eps_gen if cfg.student == "ising" else eq.eps_gen
    if lines is not None:
        per_T = {t: theory.ising_transition(t) for t in np.unique(T)}
        table["load_c"] = [per_T[t][0] for t in T]
        table["load_sp"] = [per_T[t][1] for t in T]
    else:
        table["load_c"] = table["load_sp"] = np.nan
    phase, hot, region = classify(cfg.student, a, T, table.load_c, table.load_sp, T_ht)
    table["phase"], table["high_temperature"], table["region"] = phase, hot, region
    table = table[COLUMNS]
    table.to_csv(out / "phase_diagram.csv", index=False)
    log.info("VSDL phase diagram\n%s", table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if cfg.figures:
        draw(cfg, table, lines, T_ht, out / "phase_diagram.png")
    return table


def theory_background(student: str, load_max: float, t_max: float, points: int):
    """Equilibrium eps on a ``points x points`` grid of (load, T): arrays load, T, eps of that shape."""
    load, T = np.meshgrid(np.linspace(load_max / points, load_max, points), np.linspace(0.0, t_max, points))
    return load, T, theory.equilibrium(load, T, student).eps_gen


def draw(cfg: VSDLConfig, table: pd.DataFrame, lines: pd.DataFrame | None, T_ht: float, path: Path) -> None:
    """Theory background and lines, with the simulation points colored by eps_gen (one panel per start)."""
    import matplotlib.pyplot as plt  # the caller's backend: a notebook keeps showing its figures

    load_max, t_max = 1.1 * max(cfg.grid.load), 1.1 * max(max(cfg.grid.T), 0.1)
    ga, gT, geps = theory_background(cfg.student, load_max, t_max, cfg.background)
    starts = list(dict.fromkeys(table.start))
    fig, axes = plt.subplots(1, len(starts), figsize=(5.4 * len(starts), 4.6), squeeze=False,
                             layout="constrained")
    for ax, start in zip(axes[0], starts, strict=True):
        mesh = ax.pcolormesh(ga, gT, geps, cmap="viridis", vmin=0, vmax=0.5, shading="auto", alpha=0.55)
        if lines is not None:
            ax.plot(lines.load_c, lines["T"], "w-", lw=2, label="critical load: perfect generalization wins")
            ax.plot(lines.load_sp, lines["T"], "w--", lw=2, label="spinodal load: poor state disappears")
            ax.fill_betweenx(lines["T"], lines.load_c, lines.load_sp, facecolor="none", edgecolor="w", hatch="//",
                             lw=0, label="metastable (coexistence)")
            tilde_c, tilde_sp = theory.high_temperature_ising_transition()
            tt = np.linspace(0, t_max, 10)
            ax.plot(tilde_c * tt, tt, ":", color="0.85", lw=1, label="high-T limits load / T = 1.70, 2.08")
            ax.plot(tilde_sp * tt, tt, ":", color="0.85", lw=1)
        ax.axhline(T_ht, color="tab:red", lw=1, ls="-.", label=f"high-T crossover $T_{{ht}}$ = {T_ht:.2f}")
        sub = table[table.start == start]
        ax.scatter(sub.load, sub["T"], c=sub.eps_gen_mc, cmap="viridis", vmin=0, vmax=0.5, s=90,
                   edgecolors="k", linewidths=1.0, zorder=3)
        ax.set_xlim(0, load_max)
        ax.set_ylim(0, t_max)
        ax.set_xlabel("load P / N (training examples per weight)")
        ax.set_ylabel(r"temperature $\tau = T$")
        ax.set_title(f"{cfg.student} student, MC from {start} start (N = {cfg.mc.n})", fontsize=9)
    fig.colorbar(mesh, ax=axes[0].tolist(), label=r"$\epsilon_{gen}$ (background: RS theory; dots: MC)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=7, facecolor="0.7")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
