"""The VSDL bridge: an empirical load x temperature diagram measured on real training runs.

``python -m simulations.vsdl.bridge MULTIRUN_DIR`` reads a sweep of ``simulations.train`` runs over the
load knobs (``data.label_noise``, ``data.subset``) and uses every epoch of each run as a point on the
temperature axis (training length; early stopping = higher effective temperature, [MM-VSDL]). It
writes ``bridge.csv`` (one row per run and epoch: validation error, and per watched layer alpha,
MP soft rank and phase) and ``bridge.png`` (maps of the validation error and of FC1's alpha and
phase over label noise x epoch, one row of panels per subset size). It also writes the finished runs'
final FC1 and FC2 as a report of the headline's format (``runs.csv`` and ``final_eigenvalues.npz``,
:func:`simulations.train.headline.run_table`), which ``python -m simulations.generalization`` reads as
one more series of trained models (MLP3, label noise as its knob).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.train.collect import run_folders
from simulations.train.records import read_csv


def collect(sweep: str | Path) -> pd.DataFrame:
    """One row per (run, epoch): the run's load knobs, the validation error and the spectral columns per layer."""
    rows = []
    for run, cfg in run_folders(sweep):
        if not (run / "metrics.csv").exists():
            continue
        metrics = pd.read_csv(run / "metrics.csv")[["epoch", "val_acc", "train_loss"]]
        metrics["val_error"] = 1 - metrics.pop("val_acc")
        if (run / "spectral.csv").exists():
            spectral = read_csv(run / "spectral.csv")  # runs written before the rename: mp_softrank
            spectral = spectral[spectral["status"] == "ok"]
            wide = spectral.pivot_table(index="epoch", columns="name", values=["alpha", "mp_soft_rank", "stable_rank"])
            wide.columns = [f"{layer}_{col}" for col, layer in wide.columns]
            phases = spectral.pivot(index="epoch", columns="name", values="phase").add_suffix("_phase")
            metrics = metrics.merge(wide.join(phases), left_on="epoch", right_index=True, how="left")
        metrics.insert(0, "subset", cfg["data"]["subset"])
        metrics.insert(0, "label_noise", cfg["data"]["label_noise"])
        metrics.insert(0, "run", str(run.relative_to(sweep)))
        rows.append(metrics)
    if not rows:
        raise FileNotFoundError(f"{sweep}: no training runs (config.json + metrics.csv) found")
    return pd.concat(rows, ignore_index=True)


#: The colour range of alpha: logarithmic, so 2 < alpha < 6 spans most of it; larger alphas (up to ~30 in
#: the first epochs of a random-like layer) take the top colour, and the colour bar says so with an arrow.
ALPHA_RANGE = (1.5, 12.0)


def draw(table: pd.DataFrame, layer: str = "fc1"):
    """The figure of :func:`figure`: per subset size, maps of validation error, ``layer``'s alpha and phase."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

    from rmtkit.phases import Phase
    from rmtkit.plot import MIN_TEXT_PT, PHASE_COLORS

    subsets = sorted(table["subset"].dropna().unique())
    fig, axes = plt.subplots(len(subsets), 3, figsize=(16, 3.6 * len(subsets)), squeeze=False)
    labels = Phase.labels()
    for row, subset in zip(axes, subsets, strict=True):
        t = table[table["subset"] == subset]
        noise = sorted(t["label_noise"].unique())
        epochs = sorted(t["epoch"].unique())
        grid = lambda col, t=t, noise=noise, epochs=epochs: t.pivot_table(index="label_noise", columns="epoch",
                                                                          values=col, aggfunc="first").reindex(
            index=noise, columns=epochs)
        extent = (epochs[0] - 0.5, epochs[-1] + 0.5, -0.5, len(noise) - 0.5)
        if "val_error" in t:
            im = row[0].imshow(grid("val_error").to_numpy(float), aspect="auto", origin="lower", extent=extent,
                               cmap="viridis")
            fig.colorbar(im, ax=row[0])
            row[0].set_title(f"validation error (subset {int(subset)})", fontsize=9)
        if f"{layer}_alpha" in t:
            alpha = grid(f"{layer}_alpha").to_numpy(float)
            im = row[1].imshow(alpha, aspect="auto", origin="lower", extent=extent, cmap="magma",
                               norm=LogNorm(*ALPHA_RANGE, clip=False))
            finite = alpha[np.isfinite(alpha)]
            extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
                (bool(finite.size and finite.min() < ALPHA_RANGE[0]), bool(finite.size and finite.max() > ALPHA_RANGE[1]))]
            bar = fig.colorbar(im, ax=row[1], extend=extend)
            bar.ax.yaxis.set_major_locator(FixedLocator([2, 3, 4, 6, 8, 12]))
            bar.ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
            bar.ax.yaxis.set_minor_locator(NullLocator())
            row[1].set_title(f"{layer} power-law alpha (subset {int(subset)}; log colour scale)", fontsize=9)
        if f"{layer}_phase" in t:
            codes = grid(f"{layer}_phase").map(lambda name: labels.index(name) if name in labels else np.nan)
            cmap = ListedColormap([PHASE_COLORS[label] for label in labels])
            row[2].imshow(codes.to_numpy(float), aspect="auto", origin="lower", extent=extent, cmap=cmap, vmin=-0.5,
                          vmax=len(labels) - 0.5)
            row[2].set_title(f"{layer} phase (subset {int(subset)})", fontsize=9)
            for label in labels:
                row[2].plot([], [], "s", color=PHASE_COLORS[label], label=label)
            # Beside the map, not on it: every cell of the map is data.
            row[2].legend(fontsize=MIN_TEXT_PT, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        for ax in row:
            ax.set_yticks(range(len(noise)))
            ax.set_yticklabels([f"{v:g}" for v in noise])
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            ax.set_ylabel("label noise (lower load)")
            ax.set_xlabel("epoch (training length: longer = lower temperature)")
    fig.tight_layout()
    return fig


def figure(table: pd.DataFrame, out: Path, layer: str = "fc1") -> Path:
    """Write ``bridge.png`` (:func:`draw`) to ``out``."""
    import matplotlib.pyplot as plt

    fig = draw(table, layer)
    path = out / "bridge.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(sweep: Path, out: Path) -> int:
    """``runs.csv`` and ``final_eigenvalues.npz`` of the finished runs under ``sweep``, as the headline writes
    them (the final FC1 and FC2 analysed in float64); returns how many runs."""
    import jax

    from simulations.train.headline import finished_runs, run_table

    runs = finished_runs(sweep)
    if not runs:
        return 0
    jax.config.update("jax_enable_x64", True)  # the report's fits run in float64, chosen here
    try:
        table, spectra = run_table(runs)
    except KeyError as err:  # a model without an analysed FC1 and FC2 (the smoke runs' tiny MLP)
        print(f"bridge: no runs.csv: the final weights have no analysed layer {err}", file=sys.stderr)
        return 0
    table.to_csv(out / "runs.csv", index=False)
    np.savez_compressed(out / "final_eigenvalues.npz", **{f"{r}|{layer}": ev for (r, layer), ev in spectra.items()})
    return len(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", help="a multirun folder of simulations.train, e.g. multirun/vsdl_bridge")
    parser.add_argument("--out", help="where to write bridge.csv and bridge.png (default: the sweep folder)")
    parser.add_argument("--layer", default="fc1")
    args = parser.parse_args(argv)
    try:
        table = collect(args.sweep)
    except FileNotFoundError as err:
        print(f"bridge: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or args.sweep)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "bridge.csv", index=False)
    figure(table, out, args.layer)
    write_report(Path(args.sweep), out)
    last = table.sort_values("epoch").groupby(["subset", "label_noise"]).tail(1)
    best = table.loc[table.groupby(["subset", "label_noise"])["val_error"].idxmin()]
    summary = last[["subset", "label_noise", "epoch", "val_error", f"{args.layer}_alpha", f"{args.layer}_phase"]].merge(
        best[["subset", "label_noise", "epoch", "val_error"]].rename(columns={"epoch": "best_epoch",
                                                                             "val_error": "best_val_error"}),
        on=["subset", "label_noise"])
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"written to {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
