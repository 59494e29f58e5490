"""The VSDL bridge: an empirical load x temperature diagram measured on real training runs.

``python -m simulations.vsdl.bridge MULTIRUN_DIR`` reads a sweep of ``simulations.train`` runs over the
load knobs (``data.label_noise``, ``data.subset``) and uses every epoch of each run as a point on the
temperature axis (training length; early stopping = higher effective temperature, [MM-VSDL]). It
writes ``bridge.csv`` (one row per run and epoch: validation error, and per watched layer alpha,
MP soft rank and phase) and ``bridge.png`` (maps of the validation error and of FC1's alpha and
phase over label noise x epoch, one row of panels per subset size).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.collect import run_folders


def collect(sweep: str | Path) -> pd.DataFrame:
    """One row per (run, epoch): the run's load knobs, the validation error and the spectral columns per layer."""
    rows = []
    for run, cfg in run_folders(sweep):
        if not (run / "metrics.csv").exists():
            continue
        metrics = pd.read_csv(run / "metrics.csv")[["epoch", "val_acc", "train_loss"]]
        metrics["val_error"] = 1 - metrics.pop("val_acc")
        if (run / "spectral.csv").exists():
            spectral = pd.read_csv(run / "spectral.csv")
            spectral = spectral[spectral["status"] == "ok"]
            wide = spectral.pivot_table(index="epoch", columns="name", values=["alpha", "mp_softrank", "stable_rank"])
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


def figure(table: pd.DataFrame, out: Path, layer: str = "fc1") -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from rmtkit.phases import Phase
    from rmtkit.plot import PHASE_COLORS

    subsets = sorted(table["subset"].dropna().unique())
    fig, axes = plt.subplots(len(subsets), 3, figsize=(15, 3.6 * len(subsets)), squeeze=False)
    labels = Phase.labels()
    for row, subset in zip(axes, subsets, strict=True):
        t = table[table["subset"] == subset]
        noise = sorted(t["label_noise"].unique())
        epochs = sorted(t["epoch"].unique())
        grid = lambda col, t=t, noise=noise, epochs=epochs: t.pivot_table(index="label_noise", columns="epoch",
                                                                          values=col, aggfunc="first").reindex(
            index=noise, columns=epochs)
        extent = (epochs[0] - 0.5, epochs[-1] + 0.5, -0.5, len(noise) - 0.5)
        for ax, col, title, cmap in ((row[0], "val_error", "validation error", "viridis"),
                                     (row[1], f"{layer}_alpha", f"{layer} power-law alpha", "magma")):
            if col not in t:
                continue
            im = ax.imshow(grid(col).to_numpy(float), aspect="auto", origin="lower", extent=extent, cmap=cmap)
            fig.colorbar(im, ax=ax)
            ax.set_title(f"{title} (subset {int(subset)})", fontsize=9)
        if f"{layer}_phase" in t:
            codes = grid(f"{layer}_phase").map(lambda name: labels.index(name) if name in labels else np.nan)
            cmap = ListedColormap([PHASE_COLORS[label] for label in labels])
            row[2].imshow(codes.to_numpy(float), aspect="auto", origin="lower", extent=extent, cmap=cmap, vmin=-0.5,
                          vmax=len(labels) - 0.5)
            row[2].set_title(f"{layer} phase (subset {int(subset)})", fontsize=9)
            for label in labels:
                row[2].plot([], [], "s", color=PHASE_COLORS[label], label=label)
            row[2].legend(fontsize=6, loc="upper right")
        for ax in row:
            ax.set_yticks(range(len(noise)))
            ax.set_yticklabels([f"{v:g}" for v in noise])
            ax.set_ylabel("label noise (lower load)")
            ax.set_xlabel("epoch (training length: longer = lower temperature)")
    fig.tight_layout()
    path = out / "bridge.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


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
