"""Capacity metrics against test accuracy: ``python -m simulations.generalization REPORT... --out OUT``.

The papers' practical claim is that, across a series of trained models, a lower weighted alpha
(``alpha_hat``) or log alpha-norm goes with better generalization. This report tests it on the headline
sweeps. Each ``REPORT`` is a folder that ``python -m simulations.headline`` wrote (its ``runs.csv`` and
``final_eigenvalues.npz``); only the batch-size sweep's runs enter (no weight decay, the full training
set). For every run, each metric is the mean over FC1 and FC2 (the layers whose eigenvalues the reports
commit; the papers average over every layer), computed from the final eigenvalues ``lambda = s^2``:

- ``alpha_hat``: mean of ``alpha * log10 lambda_max`` (alpha: the reference power-law fit in ``runs.csv``);
- ``log_alpha_norm``: mean of ``log10 sum lambda^alpha``;
- ``log_spectral_norm``: mean of ``log10 lambda_max``; ``log_frobenius_norm``: mean of ``log10 sum lambda``;
- ``alpha``, ``stable_rank`` (``sum lambda / lambda_max``) and ``mp_soft_rank`` (``lambda_+ / lambda_max``).

Kendall's tau-b (and its two-sided p-value) is computed between each metric and the test accuracy and the
train-test gap, within each sweep and over all sweeps pooled (other architectures: FC1 512 x 384 against
4096 x 384). The baseline is the batch size itself. Written to ``--out``: ``metrics.csv`` (one row per run),
``kendall.csv``, ``kendall.md`` (the table of the docs) and ``kendall.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from simulations.train.records import read_csv

LAYERS = ("fc1", "fc2")
#: Metric -> sign of its Kendall tau with test accuracy if "lower is better" holds, as the papers claim
#: (the batch size: smaller batches generalize better in the papers' sweep). With the gap the sign flips.
METRICS = {"alpha_hat": -1, "log_alpha_norm": -1, "log_spectral_norm": -1, "log_frobenius_norm": -1,
           "alpha": -1, "stable_rank": -1, "mp_soft_rank": -1, "batch_size": -1}
TARGETS = ("test_acc", "gap")
BASELINE = "batch_size"
MIN_RUNS = 4


def layer_metrics(evals: np.ndarray, alpha: float) -> dict[str, float]:
    """The norm-based metrics of one layer from its eigenvalues ``lambda = s^2`` and its power-law alpha."""
    ev = np.clip(np.asarray(evals, np.float64), 0.0, None)
    top = ev.max()
    ratio = ev / top
    # log10 sum lambda^alpha, written as alpha log10 lambda_max + log10 sum (lambda/lambda_max)^alpha
    alpha_norm = alpha * np.log10(top) + np.log10(np.sum(np.where(ratio > 0, ratio, 0.0) ** alpha))
    return {"alpha_hat": alpha * np.log10(top), "log_alpha_norm": alpha_norm, "log_spectral_norm": np.log10(top),
            "log_frobenius_norm": np.log10(ev.sum()), "alpha": alpha, "stable_rank": ev.sum() / top}


def sweep_label(runs: pd.DataFrame) -> str:
    """``FC1 N x M``, the shape that tells the sweeps apart."""
    shapes = {(int(n), int(m)) for n, m in zip(runs.fc1_N, runs.fc1_M, strict=True)}
    if len(shapes) != 1:
        raise ValueError(f"a report mixes FC1 shapes {sorted(shapes)}; give one report per shape")
    (n, m), = shapes
    return f"FC1 {n} x {m}"


def read_report(folder: Path) -> pd.DataFrame:
    """One row per batch-size run of the report in ``folder``: knobs, accuracies and the metrics."""
    runs_csv, npz = folder / "runs.csv", folder / "final_eigenvalues.npz"
    if not (runs_csv.is_file() and npz.is_file()):
        raise FileNotFoundError(f"{folder} has no runs.csv and final_eigenvalues.npz (write it with "
                                "python -m simulations.headline)")
    runs = read_csv(runs_csv)  # committed reports may hold fc1_mp_softrank
    runs = runs[(runs.weight_decay.astype(str) == "none") & (runs.train_size == runs.train_size.max())]
    rows = []
    with np.load(npz) as z:
        for r in runs.to_dict("records"):
            per_layer = [layer_metrics(z[f"{r['run']}|{layer}"], r[f"{layer}_alpha"]) for layer in LAYERS]
            row = {k: r[k] for k in ("run", "batch_size", "seed", "epochs", "train_acc", "test_acc", "gap")}
            row.update({k: float(np.mean([m[k] for m in per_layer])) for k in per_layer[0]})
            row["mp_soft_rank"] = float(np.mean([r[f"{layer}_mp_soft_rank"] for layer in LAYERS]))
            rows.append(row)
    out = pd.DataFrame(rows)
    out.insert(0, "sweep", sweep_label(runs))
    return out


def kendall(metrics: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau-b of every metric with every target, per sweep and over all sweeps pooled."""
    scopes = [(s, g) for s, g in metrics.groupby("sweep", sort=False)]
    if metrics.sweep.nunique() > 1:
        scopes.append(("all sweeps", metrics))
    rows = []
    for scope, g in scopes:
        if len(g) < MIN_RUNS:
            continue
        for target in TARGETS:
            for metric, sign in METRICS.items():
                ok = np.isfinite(g[metric]) & np.isfinite(g[target])
                tau, p = stats.kendalltau(g.loc[ok, metric], g.loc[ok, target])
                expected = sign if target == "test_acc" else -sign
                rows.append({"scope": scope, "target": target, "metric": metric, "runs": int(ok.sum()),
                             "tau": tau, "p": p, "expected_sign": expected,
                             "agrees": bool(np.sign(tau) == expected and p < 0.05)})
    return pd.DataFrame(rows)


def markdown(tau: pd.DataFrame) -> str:
    """One table per target: metrics as rows, scopes as columns (tau, p), the baseline last."""
    lines = []
    for target, name in (("test_acc", "test accuracy"), ("gap", "train-test gap")):
        t = tau[tau.target == target]
        scopes = list(dict.fromkeys(t.scope))
        runs = t.groupby("scope", sort=False).runs.max()
        head = ["metric", "lower is better: expected sign"] + [f"{s} ({runs[s]} runs)" for s in scopes]
        lines += [f"**Kendall tau with the {name}** (tau-b; p two-sided; bold: the expected sign at p < 0.05)", "",
                  "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for metric in METRICS:
            cells = [metric + (" (baseline)" if metric == BASELINE else ""),
                     "+" if t[t.metric == metric].expected_sign.iloc[0] > 0 else "-"]
            for s in scopes:
                r = t[(t.metric == metric) & (t.scope == s)].iloc[0]
                cell = f"{r.tau:+.2f} (p {r.p:.2g})"
                cells.append(f"**{cell}**" if r.agrees else cell)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(metrics: pd.DataFrame, tau: pd.DataFrame, path: Path) -> None:
    """Left: tau with the test accuracy per metric and scope. Middle, right: alpha_hat and log alpha-norm
    against test accuracy, one marker per sweep, coloured by batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1.25, 1, 1]})
    axes[2].sharey(axes[1])
    t = tau[tau.target == "test_acc"]
    scopes = list(dict.fromkeys(t.scope))
    names = list(METRICS)
    y = np.arange(len(names))
    h = 0.8 / len(scopes)
    for i, s in enumerate(scopes):
        vals = [t[(t.scope == s) & (t.metric == m)].tau.iloc[0] for m in names]
        axes[0].barh(y + (i - (len(scopes) - 1) / 2) * h, vals, height=h, label=s)
    axes[0].set_yticks(y, [m + (" (baseline)" if m == BASELINE else "") for m in names])
    axes[0].invert_yaxis()
    axes[0].axvline(0, color="k", lw=0.8)
    axes[0].set_xlim(-1, 1)
    axes[0].set_xlabel("Kendall tau with test accuracy (lower-is-better: negative)")
    axes[0].legend(fontsize=9, loc="lower right")
    markers = dict(zip(dict.fromkeys(metrics.sweep), "osD^v", strict=False))
    norm = LogNorm(metrics.batch_size.min(), metrics.batch_size.max())
    for ax, metric, label in ((axes[1], "alpha_hat", "alpha_hat (mean of FC1, FC2)"),
                              (axes[2], "log_alpha_norm", "log10 alpha-norm (mean of FC1, FC2)")):
        for s, g in metrics.groupby("sweep", sort=False):
            sc = ax.scatter(g[metric], g.test_acc, c=g.batch_size, norm=norm, cmap="viridis", marker=markers[s],
                            edgecolors="k", linewidths=0.4, s=40)
            ax.scatter([], [], marker=markers[s], color="0.7", edgecolors="k", linewidths=0.4, s=40, label=s)
        ax.set_xlabel(label)
        ax.legend(fontsize=9, loc="lower right")
    axes[1].set_ylabel("test accuracy")
    axes[2].tick_params(labelleft=False)
    fig.colorbar(sc, ax=axes[1:], label="batch size")
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", help="folders written by python -m simulations.headline")
    parser.add_argument("--out", default="docs/results/generalization", help="where the tables and figure go")
    args = parser.parse_args(argv)
    frames = []
    for folder in map(Path, args.reports):
        try:
            frames.append(read_report(folder))
        except (FileNotFoundError, ValueError, KeyError) as err:
            print(f"generalization: skipped {folder}: {err}", file=sys.stderr)
    if not frames:
        print("generalization: error: no report to read", file=sys.stderr)
        return 2
    metrics = pd.concat(frames, ignore_index=True)
    tau = kendall(metrics)
    if tau.empty:
        print(f"generalization: error: fewer than {MIN_RUNS} runs in every sweep", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics.to_csv(out / "metrics.csv", index=False)
    tau.to_csv(out / "kendall.csv", index=False)
    (out / "kendall.md").write_text(markdown(tau))
    figure(metrics, tau, out / "kendall.png")
    print(markdown(tau))
    print(f"written to {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
