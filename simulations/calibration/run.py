"""The calibration sweep: draw ensembles, fit Marchenko-Pastur, compare with the truth, write table and figures."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

import rmtkit
from rmtkit import ensembles
from simulations.calibration.config import SWEPT_PARAMETER, CalibrationConfig
from simulations.calibration.figures import write_figures

log = logging.getLogger(__name__)


def draw(cfg: CalibrationConfig, key: jax.Array, m: int, q: float, value: float) -> tuple[jax.Array, float, float]:
    """``cfg.seeds`` matrices of one cell, the true sigma and the planted spike count (NaN where the law has none)."""
    e = cfg.ensemble
    n = int(round(m * q))
    shape = (cfg.seeds,)
    nan = float("nan")
    match e.name:
        case "gaussian":
            return ensembles.gaussian(key, n, m, value, shape=shape), value, 0
        case "pareto":
            return ensembles.pareto(key, n, m, value, shape=shape), nan, nan
        case "student_t":
            sigma = e.sigma * np.sqrt(value / (value - 2)) if value > 2 else nan
            return ensembles.student_t(key, n, m, value, scale=e.sigma, shape=shape), sigma, nan
        case "spiked":
            strength = value * float(rmtkit.bbp_threshold(n / m))
            planted = e.num_spikes if value > 1 else 0
            w = ensembles.spiked(key, n, m, jnp.full(e.num_spikes, strength), e.sigma, shape=shape)
            return w, e.sigma, planted
        case "bulk_decay":
            return ensembles.bulk_decay(key, n, m, value, e.sigma, shape=shape), nan, nan
        case "low_rank":
            rank = max(1, int(round(value * m)))
            return ensembles.low_rank(key, n, m, rank, e.sigma, shape=shape), nan, nan
    raise ValueError(f"unknown ensemble {e.name!r}; choose one of {sorted(SWEPT_PARAMETER)}")


def run(cfg: CalibrationConfig, out_dir: str | Path) -> pd.DataFrame:
    """Run the sweep described by ``cfg`` and write ``results.<fmt>``, ``summary.csv`` and figures to ``out_dir``.

    Returns:
        One row per draw: ensemble, parameter value, M, N, Q, seed, true and fitted sigma, edges,
        spikes planted and found, KS distance D, capacity metrics, fit status.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.ensemble.name not in SWEPT_PARAMETER:
        raise ValueError(f"unknown ensemble {cfg.ensemble.name!r}; choose one of {sorted(SWEPT_PARAMETER)}")
    cells = list(itertools.product(cfg.ensemble.values, cfg.m, cfg.q))
    rows, examples = [], []
    key = jax.random.key(cfg.seed)
    for i, (value, m, q) in enumerate(tqdm(cells, desc=f"calibration[{cfg.ensemble.name}]", unit="cell")):
        w, sigma_true, planted = draw(cfg, jax.random.fold_in(key, i), int(m), float(q), float(value))
        n = w.shape[-2]
        ev = rmtkit.eigenvalues(w, normalize=cfg.normalize)
        scale = np.sqrt(n) if not cfg.normalize else 1.0
        fit = rmtkit.fit_marchenko_pastur(ev, n / m, tw_factor=cfg.tw_factor)
        svd_ev = rmtkit.eigenvalues(w, normalize=cfg.normalize, method="svd") if cfg.ensemble.name == "low_rank" else ev
        top = ev[:, -1]
        metrics = {
            "lambda_max": top,
            "stable_rank": rmtkit.stable_rank(ev),
            "mp_soft_rank": rmtkit.mp_soft_rank(fit.lambda_plus, top),
            "hard_rank": rmtkit.hard_rank(svd_ev, n, m),
            "entropy": rmtkit.matrix_entropy(svd_ev, n, m),
        }
        cell = pd.DataFrame({
            "ensemble": cfg.ensemble.name,
            "param": SWEPT_PARAMETER[cfg.ensemble.name],
            "value": value,
            "M": m,
            "N": n,
            "Q": n / m,
            "seed": np.arange(cfg.seeds),
            "sigma_true": sigma_true * scale,
            "sigma_fit": np.asarray(fit.sigma),
            "lambda_plus": np.asarray(fit.lambda_plus),
            "spikes_planted": planted,
            "num_spikes": np.asarray(fit.num_spikes),
            "D": np.asarray(fit.D),
            **{k: np.asarray(v) for k, v in metrics.items()},
            "status": [rmtkit.status_reason(s) for s in np.asarray(fit.status)],
        })
        rows.append(cell)
        examples.append((f"{cfg.ensemble.name} {SWEPT_PARAMETER[cfg.ensemble.name]}={value:g} M={m} Q={n / m:g}",
                         np.asarray(ev[0]), n / m, jax.tree.map(lambda a: a[0], fit)))
    table = pd.concat(rows, ignore_index=True)
    _write_table(table, out / f"results.{cfg.table_format}", cfg.table_format)
    summary = summarize(table)
    summary.to_csv(out / "summary.csv", index=False)
    log.info("calibration summary\n%s", summary.to_string(index=False))
    if cfg.figures:
        write_figures(table, examples, out)
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell: median relative sigma error, share within 1%, share with the planted spike count, median D."""
    rel = (table["sigma_fit"] / table["sigma_true"] - 1).abs()
    within = (rel < 0.01).where(table["sigma_true"].notna())
    exact = (table["num_spikes"] == table["spikes_planted"]).where(table["spikes_planted"].notna())
    t = table.assign(sigma_rel_err=rel, within_1pct=within.astype(float), spikes_exact=exact.astype(float))
    return (t.groupby(["ensemble", "param", "value", "M", "Q"], as_index=False)
             .agg(draws=("seed", "size"), sigma_true=("sigma_true", "first"), sigma_fit=("sigma_fit", "median"),
                  sigma_rel_err=("sigma_rel_err", "median"), within_1pct=("within_1pct", "mean"),
                  spikes_planted=("spikes_planted", "first"), spikes_found=("num_spikes", "median"),
                  spikes_exact=("spikes_exact", "mean"), D=("D", "median"), stable_rank=("stable_rank", "median"),
                  mp_soft_rank=("mp_soft_rank", "median")))


def _write_table(table: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        table.to_csv(path, index=False)
    elif fmt == "parquet":
        table.to_parquet(path, index=False)
    else:
        raise ValueError(f"table_format must be 'csv' or 'parquet', got {fmt!r}")
