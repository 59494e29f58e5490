"""The demo behind ``make demo``: the ensembles, their MP fits, a calibration, and the real Fashion-MNIST spectrum.

Writes figures and ``summary.md`` to ``--out`` (default ``outputs/demo``). Takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import rmtkit
from rmtkit import datasets, ensembles, plot
from rmtkit.phases import mp_bulk_holds
from simulations.calibration.config import CalibrationConfig, EnsembleConfig
from simulations.calibration.figures import readable_log_ticks
from simulations.calibration.run import run as run_calibration

M, Q = 500, 2.0
#: The phase-model ensembles of the gallery: (name in the analysis, panel title, generator).
GALLERY = [
    ("gaussian", "gaussian (Random-like)", lambda k, n, m: ensembles.gaussian(k, n, m)),
    ("spiked_1.3", "spiked S = 1.3x BBP (Bleeding-out)",
     lambda k, n, m: ensembles.spiked(k, n, m, jnp.full(3, 1.3 * Q**-0.25))),
    ("spiked_4", "spiked S = 4x BBP (Bulk+Spikes)", lambda k, n, m: ensembles.spiked(k, n, m, jnp.full(5, 4 * Q**-0.25))),
    ("bulk_decay", "bulk_decay 1.5 (Bulk-decay)", lambda k, n, m: ensembles.bulk_decay(k, n, m, 1.5)),
    ("pareto", "pareto mu = 1.5 (Heavy-Tailed)", lambda k, n, m: ensembles.pareto(k, n, m, 1.5)),
    ("low_rank", f"low_rank r = M/10 = {M // 10} (Rank-collapse)", lambda k, n, m: ensembles.low_rank(k, n, m, M // 10)),
]
#: Columns of the gallery's table in summary.md (those the analysis has).
GALLERY_COLUMNS = ["name", "phase", "mp_holds", "mp_sigma", "num_spikes", "mp_D", "alpha", "n_tail", "mp_soft_rank",
                   "stable_rank", "hard_rank", "entropy", "log_spectral_norm", "warning"]


def gallery(key: jax.Array, out: Path) -> pd.DataFrame:
    """One matrix per phase-model ensemble, analysed as a model's layers; the ESDs drawn from that analysis."""
    n = int(M * Q)
    matrices = {name: np.asarray(gen(jax.random.fold_in(key, i), n, M)) for i, (name, _, gen) in enumerate(GALLERY)}
    analysis = rmtkit.analyze(matrices, normalize=True, min_evals=1)
    fig = gallery_figure(analysis, {name: title for name, title, _ in GALLERY})
    fig.suptitle(f"ESDs of the phase-model ensembles (N = {n}, M = {M}, eigenvalues of $W^TW/N$): "
                 "MP fit where it holds, log axes where it does not", fontsize=11)
    fig.savefig(out / "esd_gallery.png", dpi=110)
    plt.close(fig)
    table = analysis.to_frame()
    table["mp_holds"] = [mp_holds(analysis.layer(name)) for name in table["name"]]
    order = {name: i for i, (name, _, _) in enumerate(GALLERY)}
    table = table.sort_values("name", key=lambda names: names.map(order), ignore_index=True)
    return table[[c for c in GALLERY_COLUMNS if c in table]]


#: The phases whose spectrum is an MP bulk (with spikes): the only ones drawn with their MP fit.
MP_PHASES = ("random-like", "bleeding-out", "bulk+spikes")


def mp_holds(layer) -> bool:
    """Whether the analysis found an MP bulk in this layer: the fit passes the phase decision's test
    (:func:`rmtkit.phases.mp_bulk_holds`) and the phase is one of :data:`MP_PHASES`. (A rank-collapsed
    layer's fit to its few non-null eigenvalues may pass the test; its spectrum is still no MP bulk.)"""
    return bool(mp_bulk_holds(layer.phase_features)) and layer.phase in MP_PHASES


def gallery_figure(analysis, titles: dict[str, str]) -> plt.Figure:
    """One panel per analysed matrix: its ESD as the analysis resolved it, with the analysis' MP fit (curve,
    ``l+``, spikes) where that fit holds, on log-log axes without it where it does not."""
    names = [name for name in titles if name in analysis.names]
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows), squeeze=False, layout="constrained")
    for ax, name in zip(axes.ravel(), names, strict=False):
        layer = analysis.layer(name)
        holds = mp_holds(layer)
        plot.plot_esd(layer.evals, q=layer.mp_q, fit=layer.mp, mp_holds=holds, log_x=not holds, bins=60,
                      title=f"{titles[name]}\nanalysis: {layer.phase}", ax=ax)
        ax.tick_params(labelsize=8)
        readable_log_ticks(ax)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    return fig


def bbp(key: jax.Array, out: Path) -> float:
    """Top eigenvalue against signal strength with the BBP theory; returns the max error above 1.5x threshold."""
    strengths = np.linspace(0.2, 2.5, 24)
    w = ensembles.spiked(key, int(Q * 1000), 1000, jnp.asarray(strengths)[:, None], shape=(strengths.size,))
    top = np.asarray(rmtkit.eigenvalues(w)[:, -1])
    theory = np.asarray(rmtkit.spike_position(strengths, Q))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(strengths, top, "o", label="largest eigenvalue")
    ax.plot(strengths, theory, "-", label=r"theory $(1/Q + S^2)(1 + 1/S^2)$")
    ax.axvline(float(rmtkit.bbp_threshold(Q)), color="k", ls=":", label=r"BBP threshold $Q^{-1/4}$")
    ax.set_xlabel("signal strength S")
    ax.set_ylabel(r"$\lambda_{max}$")
    ax.set_title("BBP transition, M = 1000, Q = 2", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bbp.png", dpi=110)
    plt.close(fig)
    above = strengths > 1.5 * float(rmtkit.bbp_threshold(Q))
    return float(np.max(np.abs(top[above] / theory[above] - 1)))


def fashion_mnist(out: Path) -> dict:
    """ESD of the standardised Fashion-MNIST training pixels (60000 x 784), analysed as a layer: real data is far from MP."""
    split = datasets.load_fashion_mnist("train")
    x = split.images.reshape(len(split.images), -1).astype(np.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    analysis = rmtkit.analyze({"pixels": x}, normalize=True)
    layer = analysis.layer("pixels")
    fig = data_figure(layer, "Fashion-MNIST pixels")
    fig.savefig(out / "fashion_mnist_esd.png", dpi=110)
    plt.close(fig)
    ev = layer.evals
    _, random_edge = rmtkit.marchenko_pastur_edges(layer.q, 1.0)
    return {"n": x.shape[0], "m": x.shape[1], "phase": layer.phase, "mp_holds": mp_holds(layer),
            "num_spikes": int(layer.mp.num_spikes), "lambda_max": float(ev[-1]), "random_edge": float(random_edge),
            "above_random_edge": int(np.sum(ev > float(random_edge))), "alpha": float(layer.pl.alpha),
            "stable_rank": layer.metrics["stable_rank"], "top10_share": float(ev[-10:].sum() / ev.sum())}


def data_figure(layer, title: str) -> plt.Figure:
    """A data matrix analysed as a layer (unit-variance columns, ``lambda`` of ``X^T X / N``): its ESD on log-log
    axes beside the MP law of a random matrix of the same shape and variance, and its tail with the power-law fit."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.9), layout="constrained")
    holds = mp_holds(layer)
    minus, plus = (float(v) for v in rmtkit.marchenko_pastur_edges(layer.q, 1.0))
    grid = np.geomspace(minus, plus, 400)[1:-1]
    reference = ("MP law of a random matrix\nof the same shape and variance", grid,
                 np.asarray(rmtkit.marchenko_pastur_pdf(grid, layer.q, 1.0)))
    plot.plot_esd(layer.evals, q=layer.mp_q, fit=layer.mp, mp_holds=holds, log_x=True, bins=70, curves=[reference],
                  title=f"{title}: ESD (analysis: {layer.phase})", ax=a1)
    # Below the panel: on log-log axes the histogram and the MP curve leave no corner free.
    a1.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, frameon=False)
    # The analysis' warning speaks of training (under-/over-trained): not shown for data.
    plot.plot_tail(layer.evals, fit=layer.pl, title=f"{title}: tail", ax=a2)
    for ax in (a1, a2):
        ax.tick_params(labelsize=8)
    return fig


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="outputs/demo", help="output folder (default: outputs/demo)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # entry point: float64 eigenvalues and fits
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(args.seed)
    start = time.perf_counter()

    table = gallery(jax.random.fold_in(key, 1), out)
    bbp_err = bbp(jax.random.fold_in(key, 2), out)
    calib = CalibrationConfig(ensemble=EnsembleConfig("gaussian", values=[0.5, 1.0, 2.0]), m=[500], q=[1.0, 2.0, 4.0],
                              seeds=10, seed=args.seed)
    cal = run_calibration(calib, out / "calibration")
    spiked = CalibrationConfig(ensemble=EnsembleConfig("spiked", values=[0.5, 1.5, 3.0], num_spikes=5), m=[500],
                               q=[2.0], seeds=10, seed=args.seed)
    spk = run_calibration(spiked, out / "calibration_spiked")
    fm = fashion_mnist(out)

    rel = (cal.sigma_fit / cal.sigma_true - 1).abs()
    spk_ok = (spk.num_spikes == spk.spikes_planted).mean()
    lines = [
        "# rmtkit demo",
        "",
        f"rmtkit {rmtkit.__version__}, JAX {jax.__version__} on {jax.default_backend()}, float64; "
        f"eigenvalues of W^T W / N; {time.perf_counter() - start:.0f} s.",
        "",
        "## Phase-model ensembles and their automatic Marchenko-Pastur fits",
        "",
        "![gallery](esd_gallery.png)",
        "",
        markdown_table(table),
        "",
        "## Calibration of the MP fit",
        "",
        f"- Gaussian, M = 500, Q in {{1, 2, 4}}, sigma in {{0.5, 1, 2}}, 10 draws each: fitted sigma within 1% of the "
        f"truth in {100 * (rel < 0.01).mean():.0f}% of {len(cal)} draws (median error {100 * rel.median():.2f}%); "
        f"zero spikes found in {100 * (cal.num_spikes == 0).mean():.0f}%. Figures: `calibration/`.",
        f"- Spiked, 5 spikes at 0.5x / 1.5x / 3x the BBP threshold: spike count exact in {100 * spk_ok:.0f}% of draws "
        "(0 planted below the threshold). Figures: `calibration_spiked/`.",
        f"- BBP transition: the top eigenvalue follows (1/Q + S^2)(1 + 1/S^2) within {100 * bbp_err:.1f}% above 1.5x "
        "the threshold. ![bbp](bbp.png)",
        "",
        "## Real data: Fashion-MNIST pixels",
        "",
        f"The {fm['n']} x {fm['m']} standardised training images, analysed as a layer, are {fm['phase']}: "
        f"{fm['above_random_edge']} of {fm['m']} eigenvalues lie above the upper edge of the MP law of a random "
        f"matrix of the same shape and variance (l+ = {fm['random_edge']:.2f}; lambda_max = {fm['lambda_max']:.1f}), "
        + ("the MP fit holds with "
           f"{fm['num_spikes']} spikes; " if fm["mp_holds"] else "no MP bulk fits the spectrum; ")
        + f"power-law alpha = {fm['alpha']:.2f}; the top 10 eigenvalues carry {100 * fm['top10_share']:.0f}% of the "
        f"variance (stable rank {fm['stable_rank']:.1f}). Natural images are strongly correlated: nothing like a "
        "random matrix.",
        "",
        "![fashion-mnist](fashion_mnist_esd.png)",
        "",
    ]
    (out / "summary.md").write_text("\n".join(lines))
    print(f"demo written to {out.resolve()}/summary.md")
    return out


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (numbers to 4 significant digits)."""
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
