"""Fit the ESD tail of Pareto(mu) matrices and regress alpha on mu, as the authors' universality notebook did."""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

import rmtkit
from rmtkit import ensembles
from rmtkit._parallel import host_map
from simulations.universality.config import UniversalityConfig

log = logging.getLogger(__name__)

#: The authors' regressions (M = 1000, Q = 2; [MM-JMLR] §3.2, docs/theory.md#power-laws): (slope, intercept) below and above mu = 2.
AUTHORS_FITS = {"low": (0.649, 0.862), "high": (1.21, -0.0253)}


def vht_theory(mu: np.ndarray) -> np.ndarray:
    """Very-heavy-tailed (Levy) prediction ``alpha = mu / 2 + 1`` ([MM-JMLR] §3.2), valid for ``mu < 2``."""
    return np.asarray(mu) / 2 + 1


def sweep(cfg: UniversalityConfig) -> pd.DataFrame:
    """One row per (Q, mu): the fitted alpha, xmin, D, tail size and lambda_max."""
    key = jax.random.key(cfg.seed)
    mus = np.sort(np.asarray(jax.random.uniform(jax.random.fold_in(key, 0), (cfg.num_mu,), minval=cfg.mu_range[0],
                                                maxval=cfg.mu_range[1])))
    rows = []
    for qi, q in enumerate(cfg.q):
        n = int(round(q * cfg.m))

        def spectrum(i: int, n: int = n, qi: int = qi) -> np.ndarray:
            w = ensembles.pareto(jax.random.fold_in(key, 1000 * (qi + 1) + i), n, cfg.m, float(mus[i]))
            return np.asarray(rmtkit.eigenvalues(w, normalize=cfg.normalize))

        with tqdm(total=len(mus), desc=f"universality Q={q:g}", unit="matrix") as bar:
            # Draws (JAX) and eigenvalues (LAPACK on CPU) side by side, one matrix per thread.
            spectra = host_map(spectrum, range(len(mus)), on_done=lambda _: bar.update(1))
        fit = rmtkit.fit_power_law(np.stack(spectra), method=cfg.method, xmax=cfg.xmax)
        rows.append(pd.DataFrame({
            "Q": q, "N": n, "M": cfg.m, "mu": mus, "alpha": np.asarray(fit.alpha), "xmin": np.asarray(fit.xmin),
            "D": np.asarray(fit.D), "n_tail": np.asarray(fit.n_tail),
            "lambda_max": np.stack(spectra)[:, -1], "status": [rmtkit.status_reason(s) for s in np.asarray(fit.status)],
        }))
    return pd.concat(rows, ignore_index=True)


def regressions(table: pd.DataFrame, split_mu: float) -> pd.DataFrame:
    """Least-squares lines alpha = a mu + b below and above ``split_mu``, per Q, with R^2 and RMSE vs the VHT theory."""
    out = []
    for q, group in table.groupby("Q"):
        for part, sel in (("low", group.mu <= split_mu), ("high", group.mu > split_mu)):
            g = group[sel & group.alpha.notna()]
            if len(g) < 3:
                continue
            a, b = np.polyfit(g.mu, g.alpha, 1)
            resid = g.alpha - (a * g.mu + b)
            r2 = 1 - resid.var() / g.alpha.var()
            ref = AUTHORS_FITS[part]
            out.append({"Q": q, "range": part, "points": len(g), "slope": a, "intercept": b, "r2": r2,
                        "ref_slope": ref[0], "ref_intercept": ref[1],
                        "rmse_vs_vht": float(np.sqrt(np.mean((g.alpha - vht_theory(g.mu)) ** 2)))})
    return pd.DataFrame(out)


def run(cfg: UniversalityConfig, out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the experiment; write ``alpha_vs_mu.csv``, ``regressions.csv`` and ``alpha_vs_mu.png`` to ``out_dir``."""
    if cfg.xmax not in (None, "max"):
        raise ValueError(f"xmax must be null or 'max', got {cfg.xmax!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = sweep(cfg)
    fits = regressions(table, cfg.split_mu)
    table.to_csv(out / "alpha_vs_mu.csv", index=False)
    fits.to_csv(out / "regressions.csv", index=False)
    log.info("regressions of alpha on mu\n%s", fits.to_string(index=False))
    figure(table, fits, cfg).savefig(out / "alpha_vs_mu.png", dpi=110)
    return table, fits


def figure(table: pd.DataFrame, fits: pd.DataFrame, cfg: UniversalityConfig):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    grid = np.linspace(*cfg.mu_range, 100)
    for i, (q, g) in enumerate(table.groupby("Q")):
        ax.plot(g.mu, g.alpha, "o", ms=3.5, alpha=0.7, color=f"C{i}", label=f"Q = {q:g} (M = {cfg.m})")
    ax.plot(grid[grid <= 2], vht_theory(grid[grid <= 2]), "k-", lw=1.5, label=r"VHT theory $\alpha = \mu/2 + 1$")
    for part, (a, b) in AUTHORS_FITS.items():
        sel = grid <= cfg.split_mu if part == "low" else grid > cfg.split_mu
        ax.plot(grid[sel], a * grid[sel] + b, "k:", lw=1.2, label="authors' regressions (Q = 2)" if part == "low" else None)
    ours = fits[fits.Q == cfg.regression_q]
    for _, r in ours.iterrows():
        sel = grid <= cfg.split_mu if r["range"] == "low" else grid > cfg.split_mu
        ax.plot(grid[sel], r.slope * grid[sel] + r.intercept, "--", color="C3", lw=1.2,
                label=f"rmtkit regressions (Q = {cfg.regression_q:g})" if r["range"] == "low" else None)
    ax.axvline(2, color="0.6", lw=0.8)
    ax.set_xlabel(r"Pareto exponent of the entries $\mu$")
    ax.set_ylabel(r"ESD tail exponent $\alpha$ (xmax = $\lambda_{max}$)" if cfg.xmax == "max" else r"ESD tail exponent $\alpha$")
    bound = r"xmax = $\lambda_{max}$" if cfg.xmax == "max" else "no xmax"
    qs = ", ".join(f"{q:g}" for q in sorted(table["Q"].unique()))
    ax.set_title(f"Universality classes: fit_power_law(method=\"{cfg.method}\"), {bound}; Q in {{{qs}}}", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
