"""FC1 per epoch for the headline report: ``trajectories.csv`` and ``trajectories.png``.

A run's ``spectral.csv`` holds the analyzer's rows the training loop wrote after each epoch, with the labels
of the classifier version that process loaded. Where the run kept its per-epoch checkpoints, the figures and
labels are recomputed here from those weights with this version's classifier (the ``labels`` column says
which: ``"v<N>"`` or ``"recorded"``), so a report's trajectories and its final labels come from one classifier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rmtkit.status import RowStatus
from simulations.train.records import read_csv, run_knobs

__all__ = ["spectrum_figures", "trajectories", "trajectory_figure"]

#: The per-epoch columns a trajectory keeps.
COLUMNS = ("epoch", "alpha", "mp_soft_rank", "stable_rank", "num_spikes", "phase")


def spectrum_figures(evs: list[np.ndarray], n: np.ndarray, m: np.ndarray) -> dict[str, np.ndarray | list]:
    """Fits, ranks and labels of a batch of spectra (eigenvalues ``lambda = s^2`` of ``N x M`` layers).

    What :func:`rmtkit.analyze` computes per layer, from the eigenvalues alone and for many layers at once:
    ``alpha``, ``num_spikes``, ``mp_sigma``, ``mp_soft_rank``, ``stable_rank``, ``hard_rank``, ``phase`` and
    ``phase_reason``. The entries are not used, so the effective-rank collapse rule (it needs them) is not applied.
    """
    import rmtkit
    from rmtkit import phases

    evs = [np.sort(np.asarray(e, np.float64)) for e in evs]
    width = max(len(e) for e in evs)
    batch = np.stack([np.pad(e, (0, width - len(e))) for e in evs])
    lengths = np.array([len(e) for e in evs])
    n, m = np.asarray(n, float), np.asarray(m, float)
    q = n / m
    mp = rmtkit.fit_marchenko_pastur(batch, q, lengths=lengths)
    pl = rmtkit.fit_power_law(batch, lengths=lengths, method="csn")
    hard = np.asarray(rmtkit.hard_rank(batch, n, m, lengths=lengths))
    why = phases.explain_phase(batch, q, lengths=lengths, mp=mp, pl=pl, hard_rank=hard)
    top = batch.max(axis=1)
    return {"alpha": np.asarray(pl.alpha), "num_spikes": np.asarray(mp.num_spikes), "mp_sigma": np.asarray(mp.sigma),
            "mp_soft_rank": np.asarray(mp.lambda_plus) / top, "stable_rank": batch.sum(axis=1) / top,
            "hard_rank": hard, "phase": [w["phase"] for w in why], "phase_reason": [w["reason"] for w in why]}


def _relabelled(run: Path, recorded: pd.DataFrame, layer: str) -> pd.DataFrame:
    """``recorded``'s rows recomputed from the run's ``checkpoints/epoch_NNN.safetensors`` where they exist."""
    import rmtkit
    from rmtkit.checkpoints import read_safetensors
    from rmtkit.phases import CLASSIFIER_VERSION

    out = recorded.assign(labels="recorded").reset_index(drop=True)
    paths = [run / "checkpoints" / f"epoch_{int(e):03d}.safetensors" for e in out.epoch]
    have = [i for i, p in enumerate(paths) if p.is_file()]
    if not have:
        return out
    evs, shapes = [], []
    for i in have:
        w = np.asarray(read_safetensors(paths[i])[layer], np.float64)
        evs.append(np.asarray(rmtkit.eigenvalues(w, normalize=False)))
        shapes.append((max(w.shape), min(w.shape)))
    n, m = np.array(shapes, float).T
    figures = spectrum_figures(evs, n, m)
    for col in COLUMNS[1:]:
        out[col] = out[col].astype(object if col == "phase" else float)
        out.loc[have, col] = figures[col]
    out.loc[have, "labels"] = f"v{CLASSIFIER_VERSION}"
    return out


def trajectories(folder: Path, layer: str = "fc1", relabel: bool = True) -> pd.DataFrame:
    """``layer``'s per-epoch rows of every run under ``folder``, tagged with batch size, training-set size and seed.

    With ``relabel``, the epochs whose checkpoint the run kept are recomputed with this version's classifier.
    """
    frames = []
    for run in sorted(p.parent for p in Path(folder).rglob("spectral.csv")):
        if not (run / "config.json").exists():
            continue
        knobs = run_knobs(run)
        sp = read_csv(run / "spectral.csv")
        sp = sp[(sp.name == layer) & (sp.status == RowStatus.OK)][list(COLUMNS)]
        sp = _relabelled(run, sp, layer) if relabel else sp.assign(labels="recorded")
        frames.append(sp.assign(batch_size=knobs["batch_size"], train_size=knobs["train_size"], seed=knobs["seed"],
                                finished=(run / "DONE.json").exists()))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _curves(traj: pd.DataFrame) -> list[tuple[pd.DataFrame, str, str, str]]:
    """(rows, line style, colour, legend) per curve: every batch size when one training-set size ran, else
    batch 2 (solid) and 16 (dashed) per training-set size; seed 0."""
    import matplotlib as mpl

    traj = traj[traj.seed == 0]
    sizes = sorted(traj.train_size.unique())
    if len(sizes) == 1:
        batches = sorted(traj.batch_size.unique())
        cmap = mpl.colormaps["viridis"]
        return [(traj[traj.batch_size == bs], "-", mpl.colors.to_hex(cmap(i / max(len(batches) - 1, 1) * 0.9)),
                 f"batch {bs}") for i, bs in enumerate(batches)]
    return [(traj[(traj.batch_size == bs) & (traj.train_size == size)], ls, f"C{i}", f"batch {bs}, {size:,} images")
            for bs, ls in ((2, "-"), (16, "--")) for i, size in enumerate(sizes)]


def trajectory_figure(traj: pd.DataFrame, path: Path) -> None:
    """FC1's MP soft rank, stable rank, alpha and phase per epoch (seed 0): every batch size of a sweep at one
    training-set size, or batch 2 and 16 for each training-set size."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from rmtkit.phases import Phase

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [("mp_soft_rank", "MP soft rank"), ("stable_rank", "stable rank"), ("alpha", r"power-law $\alpha$"),
              ("phase", "phase")]
    labels = Phase.labels()
    curves = [c for c in _curves(traj) if len(c[0])]
    for ax, (col, name) in zip(axes, panels, strict=True):
        for k, (sel, ls, color, legend) in enumerate(curves):
            sel = sel.sort_values("epoch")
            y = sel[col].map(labels.index) if col == "phase" else sel[col]
            if col == "phase":  # a small offset per curve, so that curves on one label stay apart
                y = y + (k - (len(curves) - 1) / 2) * 0.06
            ax.plot(sel.epoch, y, ls, color=color, lw=1.3, label=legend)
        ax.set_xlabel("epoch")
        ax.set_title(f"FC1 {name}", fontsize=9)
        if col == "alpha":  # from ~2 (heavy tails) to ~40 (the edge of an MP bulk)
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(mpl.ticker.LogLocator(subs=(1, 2, 3, 5)))
            ax.yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
        if col == "phase":
            ax.set_yticks(range(len(labels)))
            ax.set_yticklabels(labels, fontsize=8)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="lower center", ncol=len(names), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
