"""The headline experiment's report: ``python -m simulations.headline RUNS --out docs/results/headline``.

``RUNS`` is the folder ``scripts/headline.sh`` fills (``RUNS=... scripts/headline.sh``):
``batch_size_sweep/`` (the generalization-gap sweep), ``weight_decay/`` and ``weight_decay_40ep/``
(rank collapse), ``training_set_size/`` (FC1 trajectories at smaller training sets). Each part is
optional; what is missing is skipped with a line saying so. Written to ``--out``:

- ``runs.csv``: one row per finished run (its knobs, accuracies, dead units, per-layer metrics and
  phase with its reason, from the final checkpoint); ``final_eigenvalues.npz``: the final eigenvalues
  (``lambda = s^2``) of FC1 and FC2 of every run, keyed ``"<run>|<layer>"`` (what notebook 04 reads);
- ``pooled.csv``: per batch size and layer, the eigenvalues of all seeds pooled (as the authors
  pooled their runs): MP sigma, fraction of eigenvalues beyond the bulk, MP soft rank, power-law
  alpha, phase and its reason, with the per-seed stable rank and accuracies as mean and std;
- ``pooled_esd_<layer>.png``: one panel per batch size (MP fit drawn where the bulk holds, log
  axes where it does not); ``confusion.csv``: the classifier's labels against the paper's;
- ``trajectories.csv`` / ``trajectories.png``: FC1 soft rank, stable rank, alpha and phase per
  epoch of every run (the figure: batch 2 and 16, seed 0, for each training-set size), recomputed
  from the per-epoch checkpoints with this version's classifier where the runs kept them
  (:mod:`simulations.train.trajectories`);
- ``rank_collapse.csv`` / ``rank_collapse.png``: FC1's hard rank at several thresholds, near-zero
  eigenvalues and dead units per L2 strength, and the ESD near zero on a log axis;
- ``tables.md``: the README's tables, made from these CSVs;
- ``side_by_side.md`` (``--beside REPORT ...``): this report's pooled and per-seed figures row by row beside
  those of other reports of the sweep at other network shapes, the distinct phases of each and whether
  they follow the paper's order (:func:`side_by_side`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.train.records import read_csv, run_knobs
from simulations.train.report_tables import LAYERS, PAPER_FC1, markdown, phase_order, side_by_side
from simulations.train.trajectories import spectrum_figures, trajectories, trajectory_figure

__all__ = ["LAYERS", "NEAR_ZERO", "PAPER_FC1", "confusion", "esd_grid", "finished_runs", "main", "markdown",
           "phase_order", "pooled_table", "rank_collapse", "rank_collapse_figure", "relabel", "relabelled_runs",
           "run_table", "side_by_side", "trajectories", "trajectory_figure"]

#: Thresholds (relative to lambda_max) at which "near zero" eigenvalues are counted.
NEAR_ZERO = (1e-2, 1e-3, 1e-4, 1e-6)


def finished_runs(folder: Path) -> list[Path]:
    """Run folders under ``folder`` with a ``DONE.json``, sorted."""
    return sorted(p.parent for p in Path(folder).rglob("DONE.json"))


def _final_weights(run: Path) -> dict[str, np.ndarray]:
    from rmtkit.checkpoints import read_safetensors

    cfg = json.loads((run / "config.json").read_text())
    path = run / "checkpoints" / f"epoch_{cfg['epochs']:03d}.safetensors"
    if not path.is_file():  # runs that kept no per-epoch checkpoints (analysis.checkpoints=false)
        path = run / "final_weights.safetensors"
    return {k: np.asarray(v, np.float64) for k, v in read_safetensors(path).items()}


def run_table(runs: list[Path]) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """One row per run (knobs, accuracies, per-layer analyzer figures) and each run's final eigenvalues."""
    import rmtkit

    rows, spectra = [], {}
    for run in runs:
        done = json.loads((run / "DONE.json").read_text())
        weights = _final_weights(run)
        df = rmtkit.analyze(weights, min_evals=10, progress=False).to_frame().set_index("name")
        row = {**run_knobs(run), **{k: done[k] for k in ("train_acc", "test_acc", "gap") if k in done}}
        shapes = done.get("layer_shapes", {})
        for conv in ("conv1", "conv2"):  # output channels (HWIO kernels): the shape of the network that ran
            row[f"{conv}_channels"] = shapes[conv][-1] if conv in shapes else None
        for layer in LAYERS:
            row[f"{layer}_dead_units"] = done.get(f"{layer}_dead_units")
            for col in ("N", "M", "alpha", "num_spikes", "mp_sigma", "mp_soft_rank", "stable_rank", "hard_rank",
                        "phase", "phase_reason"):
                row[f"{layer}_{col}"] = df.loc[layer, col]
            spectra[(run.name, layer)] = np.asarray(rmtkit.eigenvalues(weights[layer], normalize=False))
        rows.append(row)
    return pd.DataFrame(rows), spectra


def relabelled_runs(runs: pd.DataFrame, spectra: dict[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    """``runs`` with every per-layer fit and label recomputed from the committed final eigenvalues.

    What :func:`run_table` computes from the weights, from their eigenvalues alone (``lambda = s^2``, as
    :func:`rmtkit.analyze` by default): the fits, the stable and hard rank, the phase and its reason. The entries
    are not committed, so the effective-rank collapse rule is not applied (it needs them; no spectrum of the
    batch-size sweep has the 75% of eigenvalues below 1e-2 lambda_max it asks for).
    """
    out = runs.copy()
    for layer in LAYERS:
        if f"{layer}_N" not in out:
            continue
        figures = spectrum_figures([spectra[(r, layer)] for r in out.run], out[f"{layer}_N"], out[f"{layer}_M"])
        for col, values in figures.items():
            out[f"{layer}_{col}"] = values
    return out


def pooled_table(runs: pd.DataFrame, spectra: dict) -> tuple[pd.DataFrame, dict]:
    """Per batch size and layer: fits of the eigenvalues pooled over seeds, and per-seed means and stds."""
    import rmtkit
    from rmtkit import phases

    rows, pooled = [], {}
    for bs, layer in ((b, la) for b in sorted(runs.batch_size.unique()) for la in LAYERS):
        group = runs[runs.batch_size == bs]
        ev = np.sort(np.concatenate([spectra[(r, layer)] for r in group.run]))
        q = float(group[f"{layer}_N"].iloc[0] / group[f"{layer}_M"].iloc[0])
        batch, lengths, qs = ev[None], np.array([ev.size]), np.array([q])  # a batch of one: the classifier reuses the fits
        seeds = len(group)  # independent layers pooled: the MP margin and bulk test are calibrated for it
        mp = rmtkit.fit_marchenko_pastur(batch, qs, lengths=lengths, pooled=seeds)
        pl = rmtkit.fit_power_law(batch, lengths=lengths, method="csn")
        why = phases.explain_phase(batch, qs, lengths=lengths, mp=mp, pl=pl, pooled=seeds)[0]
        mp, pl = (type(f)(*(np.asarray(v)[0] for v in f)) for f in (mp, pl))
        ok = int(mp.status) == 0
        rows.append({
            "batch_size": bs, "layer": layer, "seeds": len(group), "num_evals": ev.size,
            "mp_sigma": float(mp.sigma) if ok else np.nan,
            "spike_fraction": int(mp.num_spikes) / ev.size if ok else np.nan,
            "mp_soft_rank": float(mp.lambda_plus) / ev[-1] if ok else np.nan,
            "alpha": float(pl.alpha), "phase": why["phase"], "phase_reason": why["reason"],
            "stable_rank_mean": group[f"{layer}_stable_rank"].mean(), "stable_rank_std": group[f"{layer}_stable_rank"].std(),
            "test_acc_mean": group.test_acc.mean(), "test_acc_std": group.test_acc.std(),
            "gap_mean": group.gap.mean(), "gap_std": group.gap.std(),
            "seed_phases": ",".join(str(p) for p in group[f"{layer}_phase"]),
        })
        pooled[(bs, layer)] = (ev, q, mp, pl, why["phase"])
    return pd.DataFrame(rows), pooled


def confusion(pooled: pd.DataFrame, runs: pd.DataFrame, layer: str = "fc1") -> pd.DataFrame:
    """Counts of (paper's label, classifier's label) over the batch sizes the paper labels: pooled and per seed."""
    labelled = PAPER_FC1.dropna(subset=["paper_phase"])
    rows = []
    for kind, table, col in (("pooled", pooled[pooled.layer == layer], "phase"), ("per seed", runs, f"{layer}_phase")):
        merged = table.merge(labelled, on="batch_size")
        for (paper, ours), n in merged.groupby(["paper_phase", col], dropna=False).size().items():
            rows.append({"spectra": kind, "paper": paper, "rmtkit": ours, "count": int(n)})
    return pd.DataFrame(rows, columns=["spectra", "paper", "rmtkit", "count"])


def esd_grid(pooled: dict, layer: str, path: Path, seeds: dict[int, int] | None = None) -> None:
    """One panel per batch size: the pooled ESD, with the MP fit where the bulk holds, else on log axes.

    ``seeds`` (batch size -> seeds pooled): named in each panel's title when they differ across panels.
    """
    import matplotlib.pyplot as plt

    import rmtkit
    from rmtkit.plot import LOG_BIN_LABEL, PHASE_COLORS, log_histogram

    sizes = sorted(bs for bs, la in pooled if la == layer)
    cols = 4
    fig, axes = plt.subplots(-(-len(sizes) // cols), cols, figsize=(3.4 * cols, 2.9 * -(-len(sizes) // cols)),
                             squeeze=False)
    for ax, bs in zip(axes.ravel(), sizes, strict=False):
        ev, q, mp, pl, phase = pooled[(bs, layer)]
        bulk_holds = int(mp.status) == 0 and phase in ("random-like", "bleeding-out", "bulk+spikes")
        if bulk_holds:
            ax.hist(ev, bins=80, density=True, color="0.65")
            lp = float(mp.lambda_plus)
            grid = np.linspace(float(mp.lambda_minus), lp, 300)[1:-1]
            n_out = int(np.sum(ev > float(mp.threshold)))
            ax.plot(grid, np.asarray(rmtkit.marchenko_pastur_pdf(grid, q, float(mp.sigma))), color="k", lw=1.2,
                    label=rf"MP fit, $\sigma$={float(mp.sigma):.3g}")
            ax.axvline(lp, color="k", ls="--", lw=0.8, label=rf"$\lambda_+$; {n_out} of {ev.size} beyond")
            ax.set_xlabel(r"$\lambda$ ($s^2$)", fontsize=8)
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi * 1.45)  # room above the bars for the legend, clear of the edge's line
            legend_at = "upper left"
        else:
            pos = ev[ev > 0]
            per_bin = log_histogram(ax, pos, 60, color="0.65")  # counts per log-spaced bin
            ax.set_ylabel(LOG_BIN_LABEL, fontsize=8)
            if np.isfinite(float(pl.alpha)):
                xm = float(pl.xmin)
                grid = np.geomspace(xm, pos.max(), 50)
                frac = np.mean(pos >= xm)
                dens = frac * (float(pl.alpha) - 1) / xm * (grid / xm) ** (-float(pl.alpha))
                ax.plot(grid, dens * grid * per_bin, color="k", lw=1.2, label=rf"power law $\alpha$={float(pl.alpha):.2f}")
            ax.set_xlabel(r"$\lambda$ ($s^2$, log)", fontsize=8)
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi * 4)  # room above the bars for the legend
            legend_at = "upper right"
        n = seeds[bs] if seeds and len(set(seeds.values())) > 1 else None
        named = f" ({n} seed{'s' if n > 1 else ''})" if n else ""
        ax.set_title(f"batch {bs}{named}: {phase}", fontsize=9, color=PHASE_COLORS.get(phase, "k"))
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc=legend_at, frameon=False)
    for ax in axes.ravel()[len(sizes):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        if not ax.get_ylabel():  # a linear panel (a log panel names its per-bin counts itself)
            ax.set_ylabel("density", fontsize=8)
    fig.suptitle(f"{layer.upper()} ESD, eigenvalues pooled over seeds, by batch size", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _seeds(pooled: pd.DataFrame, layer: str) -> dict[int, int]:
    rows = pooled[pooled.layer == layer]
    return dict(zip(rows.batch_size.astype(int), rows.seeds.astype(int), strict=True))


def rank_collapse(runs: list[Path]) -> tuple[pd.DataFrame, dict]:
    """FC1 per L2 strength: hard rank at several thresholds, near-zero eigenvalues, dead units, the phase."""
    import rmtkit

    rows, spectra = [], {}
    for run in runs:
        knobs = run_knobs(run)
        done = json.loads((run / "DONE.json").read_text())
        w = _final_weights(run)["fc1"]
        s = np.linalg.svd(w, compute_uv=False)
        ev = np.sort(s**2)
        row = {**knobs, "test_acc": done["test_acc"], "train_acc": done["train_acc"],
               "fc1_dead_units": done.get("fc1_dead_units"), "M": ev.size,
               "numerical_rank": int(np.linalg.matrix_rank(w)),  # tol = s_max * max(N, M) * eps
               "lambda_max": float(ev[-1]), "stable_rank": float(ev.sum() / ev[-1]), "smallest_over_largest_eval": float(ev[0] / ev[-1])}
        for t in NEAR_ZERO:
            row[f"rank_at_{t:g}"] = int(np.sum(ev >= t * ev[-1]))
        # A dead unit gets no gradient from the data, so L2 alone would shrink its column of FC1 geometrically
        # and leave one near-zero eigenvalue: count the columns that shrank, to compare with the dead units.
        col_norms = np.linalg.norm(w, axis=0)
        for t in NEAR_ZERO:
            row[f"fc1_columns_below_{t:g}"] = int(np.sum(col_norms**2 < t * ev[-1]))
        fc1 = rmtkit.analyze({"fc1": w}, progress=False).to_frame().iloc[0]  # the label a reader gets
        row.update(phase=fc1["phase"], phase_rule=fc1["phase_rule"], alpha=fc1["alpha"])
        rows.append(row)
        spectra[(knobs["weight_decay"], knobs["epochs"])] = ev
    return pd.DataFrame(rows), spectra


def rank_collapse_figure(spectra: dict, path: Path) -> None:
    """FC1's eigenvalues relative to the largest, on a log axis, one curve per L2 strength (and length)."""
    import matplotlib.pyplot as plt

    def strength(wd: str) -> float:
        return json.loads(wd).get("fc1", 0.0) if wd != "none" else 0.0

    items = sorted(spectra.items(), key=lambda kv: (kv[0][1], strength(kv[0][0]), kv[0][0]))
    fig, ax = plt.subplots(figsize=(8, 4.2))
    cmap = plt.get_cmap("viridis")
    for i, ((wd, epochs), ev) in enumerate(items):
        rel = ev / ev[-1]
        label = "no L2" if wd == "none" else ", ".join(f"{k} {v:g}" for k, v in json.loads(wd).items())
        ax.hist(rel, bins=np.geomspace(1e-9, 1, 91), histtype="step", lw=1.4, color=cmap(i / max(1, len(items) - 1)),
                ls="-" if epochs <= 10 else "--", label=f"{label}, {epochs} epochs")
    ax.axvline(1e-2, color="0.4", ls=":", lw=1)
    ax.text(8e-3, 0.97, "1e-2: one bin of a\nlinear 100-bin histogram", transform=ax.get_xaxis_transform(), ha="right",
            va="top", fontsize=8, color="0.3")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\lambda / \lambda_{max}$ (log)")
    ax.set_ylabel("eigenvalues per bin")
    ax.set_title("FC1 eigenvalues by L2 strength (batch 16, seed 0)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def relabel(out: Path) -> int:
    """Recompute the per-run and pooled labels of the report in ``out`` from its committed eigenvalues."""
    runs_csv, npz = out / "runs.csv", out / "final_eigenvalues.npz"
    if not (runs_csv.is_file() and npz.is_file()):
        print(f"headline: error: {out} has no runs.csv and final_eigenvalues.npz to relabel", file=sys.stderr)
        return 2
    with np.load(npz) as z:
        spectra = {tuple(k.split("|")): z[k] for k in z.files}
    runs = relabelled_runs(read_csv(runs_csv), spectra)  # committed files may hold mp_softrank
    runs.to_csv(runs_csv, index=False)
    pooled, fits = pooled_table(runs, spectra)
    pooled.merge(PAPER_FC1, on="batch_size", how="left").to_csv(out / "pooled.csv", index=False)
    confusion(pooled, runs).to_csv(out / "confusion.csv", index=False)
    for layer in LAYERS:
        esd_grid(fits, layer, out / f"pooled_esd_{layer}.png", _seeds(pooled, layer))
    (out / "tables.md").write_text(markdown(out))
    print(f"relabelled {len(runs)} runs in {out.resolve()}")
    return 0


def _write_side_by_side(beside: list[str], out: Path) -> int:
    """``out/side_by_side.md`` of the reports ``beside`` and ``out``; 2 (and why, on stderr) when one is missing."""
    missing = [str(p) for p in (*map(Path, beside), out) if not (p / "pooled.csv").is_file()]
    if missing:
        print(f"headline: error: no pooled.csv in {', '.join(missing)}: no side-by-side table", file=sys.stderr)
        return 2
    (out / "side_by_side.md").write_text(side_by_side([*map(Path, beside), out]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="?", help="the folder scripts/headline.sh wrote (RUNS)")
    parser.add_argument("--relabel", metavar="REPORT", help="instead of RUNS: recompute the labels of a written report "
                        "(its runs.csv and final_eigenvalues.npz) with this version's classifier, in place")
    parser.add_argument("--out", default="docs/results/headline", help="where the tables and figures go")
    parser.add_argument("--beside", metavar="REPORT", nargs="+", default=[],
                        help="written reports of the same sweep at other network shapes: also write side_by_side.md "
                        "(theirs, then this one, row by row)")
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)  # the report's fits run in float64, chosen here
    if args.relabel:
        code = relabel(Path(args.relabel))
        return code if code or not args.beside else _write_side_by_side(args.beside, Path(args.relabel))
    if args.runs is None:
        parser.error("give RUNS (the folder scripts/headline.sh wrote) or --relabel REPORT")
    root, out = Path(args.runs), Path(args.out)
    if not root.is_dir():
        print(f"headline: error: {root} is not a folder", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    sweep = finished_runs(root / "batch_size_sweep")
    if sweep:
        runs, spectra = run_table(sweep)
        runs.to_csv(out / "runs.csv", index=False)
        np.savez_compressed(out / "final_eigenvalues.npz", **{f"{r}|{layer}": ev for (r, layer), ev in spectra.items()})
        pooled, fits = pooled_table(runs, spectra)
        pooled.merge(PAPER_FC1, on="batch_size", how="left").to_csv(out / "pooled.csv", index=False)
        confusion(pooled, runs).to_csv(out / "confusion.csv", index=False)
        for layer in LAYERS:
            esd_grid(fits, layer, out / f"pooled_esd_{layer}.png", _seeds(pooled, layer))
        print(pooled[["batch_size", "layer", "seeds", "mp_sigma", "spike_fraction", "mp_soft_rank", "alpha", "phase",
                      "stable_rank_mean", "test_acc_mean", "test_acc_std", "gap_mean"]].to_string(
            index=False, float_format=lambda v: f"{v:.4g}"))
    else:
        print(f"no finished run under {root / 'batch_size_sweep'}")
    traj = pd.concat([trajectories(root / part) for part in ("training_set_size", "batch_size_sweep")],
                     ignore_index=True)  # a missing part adds an empty frame
    if len(traj):
        traj.to_csv(out / "trajectories.csv", index=False)
        trajectory_figure(traj, out / "trajectories.png")
    collapse_runs = finished_runs(root / "weight_decay") + finished_runs(root / "weight_decay_40ep")
    if collapse_runs:
        table, ev = rank_collapse(collapse_runs)
        table.to_csv(out / "rank_collapse.csv", index=False)
        rank_collapse_figure(ev, out / "rank_collapse.png")
        print(table.drop(columns=["run"]).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if (out / "pooled.csv").exists():
        (out / "tables.md").write_text(markdown(out))
    if args.beside and _write_side_by_side(args.beside, out):
        return 2
    print(f"written to {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
