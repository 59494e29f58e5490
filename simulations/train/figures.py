"""Figures of one training run: ``phases.png`` (alpha and phase, rank measures per epoch) and ``esd_<layer>.png``.

``phases.png`` draws the analyzer's rows of ``spectral.csv`` as they are (no fit is repeated). The
phases are told apart by colour (:data:`rmtkit.plot.PHASE_COLORS`, Okabe-Ito) and by marker
(:data:`PHASE_MARKERS`), so that they stay distinct in grey scale and for any colour vision.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

import rmtkit
from rmtkit.checkpoints import read_safetensors
from rmtkit.plot import LOG_BIN_LABEL, PHASE_COLORS
from simulations.calibration.figures import readable_log_ticks

#: Smallest text in these figures (points).
TEXT_PT = 8
#: One marker per phase, beside its colour.
PHASE_MARKERS = {"random-like": "o", "bleeding-out": "s", "bulk+spikes": "^", "bulk-decay": "D",
                 "heavy-tailed": "v", "rank-collapse": "X"}
#: WeightWatcher's well-trained range of alpha, shaded.
ALPHA_BAND = (2.0, 6.0)
_STABLE, _SOFT = "#0072B2", "#D55E00"


def write_figures(spectral: pd.DataFrame, out: str | Path, *, normalize: bool = False) -> list[Path]:
    """Write ``phases.png`` and, where ``out/checkpoints`` holds the watched weights, ``esd_<layer>.png``.

    Args:
        spectral: the run's ``spectral.csv`` (one analyzer row per epoch and watched layer).
        normalize: the eigenvalue convention of the analysis (``W^T W / N`` or ``W^T W``).
    """
    out = Path(out)
    fig = phases_figure(spectral)
    fig.savefig(out / "phases.png", dpi=100)
    plt.close(fig)
    paths = [out / "phases.png"]
    ckpts = sorted((out / "checkpoints").glob("epoch_*.safetensors"))
    for layer in _layers(spectral):
        fig = esd_over_training_figure(ckpts, layer, normalize=normalize)
        if fig is not None:
            fig.savefig(out / f"esd_{layer}.png", dpi=100)
            plt.close(fig)
            paths.append(out / f"esd_{layer}.png")
    return paths


def phases_figure(spectral: pd.DataFrame) -> plt.Figure:
    """Per watched layer, a row of two panels over the epochs: alpha coloured and marked by phase (the
    ``2 < alpha < 6`` band shaded), and the stable rank (relative to epoch 0) beside the MP soft rank."""
    layers = _layers(spectral)
    rows = _analysed(spectral)
    fig, axes = plt.subplots(len(layers), 2, figsize=(10, 0.4 + 3.0 * len(layers)), squeeze=False,
                             layout="constrained")
    for (a1, a2), layer in zip(axes, layers, strict=True):
        r = rows[rows["name"] == layer].sort_values("epoch")
        alpha_panel(a1, r, title=f"{layer}: power-law exponent and phase")
        rank_panel(a2, r, title=f"{layer}: rank measures")
    present = [p for p in PHASE_COLORS if (rows["phase"] == p).any()]
    handles = [Patch(color="0.9", label=rf"{ALPHA_BAND[0]:g} < $\alpha$ < {ALPHA_BAND[1]:g}")]
    handles += [Line2D([], [], ls="", marker=PHASE_MARKERS[p], color=PHASE_COLORS[p], ms=7, label=p) for p in present]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=TEXT_PT, frameon=False,
               title="phase (colour and marker)", title_fontsize=TEXT_PT)
    return fig


def alpha_panel(ax, rows: pd.DataFrame, *, title: str | None = None):
    """alpha against epoch for one layer, a grey line through the epochs and one marker per epoch in its phase's
    colour and shape."""
    ax.axhspan(*ALPHA_BAND, color="0.9", zorder=0)
    alpha = rows["alpha"].astype(float)
    ax.plot(rows["epoch"], alpha, "-", color="0.6", lw=1, zorder=1)
    for phase, color in PHASE_COLORS.items():
        sel = rows["phase"] == phase
        if sel.any():
            ax.plot(rows.loc[sel, "epoch"], alpha[sel], ls="", marker=PHASE_MARKERS[phase], color=color, ms=6,
                    mec="white", mew=0.5, zorder=2, label=phase)
    finite = alpha[np.isfinite(alpha)]
    if finite.size:
        lo, hi = min(finite.min(), ALPHA_BAND[0]), max(finite.max(), ALPHA_BAND[0] + 1)
        pad = 0.08 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_ylabel(r"power-law exponent $\alpha$")
    _epoch_axis(ax, rows["epoch"])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def rank_panel(ax, rows: pd.DataFrame, *, title: str | None = None):
    """Stable rank divided by its value at the first analysed epoch, and the MP soft rank ``lambda_+ / lambda_max``,
    against epoch. Both are dimensionless; the soft rank is in [0, 1]."""
    epochs = rows["epoch"]
    stable = rows["stable_rank"].astype(float)
    ax.plot(epochs, stable / stable.iloc[0], "o-", ms=3.5, color=_STABLE,
            label=f"stable rank / epoch {int(epochs.iloc[0])}")
    soft = "mp_softrank" if "mp_softrank" in rows else "mp_soft_rank"
    ax.plot(epochs, rows[soft].astype(float), "s--", ms=3.5, color=_SOFT, label=r"MP soft rank $\lambda_+/\lambda_{max}$")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("ratio")
    ax.legend(fontsize=TEXT_PT)
    _epoch_axis(ax, epochs)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def esd_over_training_figure(checkpoints: list[Path], layer: str, *, normalize: bool = False) -> plt.Figure | None:
    """The ESD of ``layer`` at up to five saved epochs (first, last, evenly between) on log-log axes, coloured
    from light (early) to dark (late). None when no checkpoint holds the layer."""
    chosen = list(dict.fromkeys(checkpoints[:: max(1, len(checkpoints) // 4)] + checkpoints[-1:]))
    spectra = {}
    for path in chosen:
        w = read_safetensors(path).get(layer)
        if w is not None:
            ev = np.asarray(rmtkit.eigenvalues(np.asarray(w, np.float64), normalize=normalize))
            spectra[int(path.stem.split("_")[-1])] = ev[ev > 0]
    if not spectra:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    lo = min(ev.min() for ev in spectra.values())
    hi = max(ev.max() for ev in spectra.values())
    per_epoch = max(ev.size for ev in spectra.values())
    edges = np.geomspace(lo, hi * (1 + 1e-9), int(np.clip(2 * np.sqrt(per_epoch), 10, 50)) + 1)
    colors = plt.get_cmap("viridis_r")(np.linspace(0.15, 1.0, len(spectra)))
    for color, (epoch, ev) in zip(colors, sorted(spectra.items()), strict=True):
        # Counts per log-spaced bin: a density per unit lambda would make one tiny eigenvalue a towering bar.
        ax.hist(ev, bins=edges, histtype="step", color=color, lw=1.4, label=f"epoch {epoch}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)
    ax.set_xlabel(r"eigenvalue $\lambda$" + (r" of $W^TW/N$" if normalize else r" of $W^TW$"))
    ax.set_ylabel(LOG_BIN_LABEL)
    ax.set_title(f"ESD of {layer} over training", fontsize=9)
    ax.tick_params(labelsize=TEXT_PT)
    readable_log_ticks(ax)
    ax.legend(fontsize=TEXT_PT)
    return fig


def _analysed(spectral: pd.DataFrame) -> pd.DataFrame:
    """The rows with numbers: status ``ok`` (or ``partial``, whose alpha may be NaN and is then not drawn)."""
    return spectral[spectral["status"].isin(["ok", "partial"])]


def _layers(spectral: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(_analysed(spectral)["name"]))


def _epoch_axis(ax, epochs) -> None:
    """Whole epochs only, the axis spanning the analysed epochs."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(10, max(2, len(epochs)))))
    if len(epochs):
        lo, hi = int(np.min(epochs)), int(np.max(epochs))
        ax.set_xlim(lo - 0.5, hi + 0.5)
    ax.set_xlabel("epoch")
    ax.tick_params(labelsize=TEXT_PT)
