"""Capacity metrics against test accuracy: ``python -m simulations.generalization REPORT... --out OUT``.

The papers' practical claim is that, across a series of trained models, a lower weighted alpha
(``alpha_hat``) or log alpha-norm goes with better generalization. This report tests it on series of
trained models. Each ``REPORT`` is a folder in the format ``python -m simulations.headline`` writes (its
``runs.csv`` and ``final_eigenvalues.npz``; ``python -m simulations.vsdl.bridge`` writes one too). A
report whose label noise varies is a label-noise series (all its runs enter); otherwise it is a batch-size
sweep (no weight decay, the full training set). For every run, each metric is the mean over FC1 and FC2 (the layers whose eigenvalues the reports
commit; the papers average over every layer), computed from the final eigenvalues ``lambda = s^2``:

- ``alpha_hat``: mean of ``alpha * log10 lambda_max`` (alpha: the reference power-law fit in ``runs.csv``);
- ``log_alpha_norm``: mean of ``log10 sum lambda^alpha``;
- ``log_spectral_norm``: mean of ``log10 lambda_max``; ``log_frobenius_norm``: mean of ``log10 sum lambda``;
- ``alpha``, ``stable_rank`` (``sum lambda / lambda_max``) and ``mp_soft_rank`` (``lambda_+ / lambda_max``).

Kendall's tau-b (and its two-sided p-value) is computed between each metric and the test accuracy and the
train-test gap, within each series, over one model's sweeps pooled (FC1 512 x 384 and 4096 x 384), and
over all series pooled (other architectures). The baseline is the knob each series varies (the batch size
or the label noise); a scope that mixes knobs has none. Written to ``--out``: ``metrics.csv`` (one row per run),
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
           "alpha": -1, "stable_rank": -1, "mp_soft_rank": -1, "knob": -1}
TARGETS = ("test_acc", "gap")
#: The baseline: the knob the series varies (the batch size in the headline sweeps, the label noise in the VSDL
#: bridge's runs; lower is better for both). Scopes that mix knobs have no baseline.
BASELINE = "knob"
#: Display names of the models in series labels.
MODEL_NAMES = {"minialexnet": "MiniAlexNet", "mlp3": "MLP3"}
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


def model_name(runs: pd.DataFrame) -> str:
    """The report's model (headline reports written before the column was recorded are MiniAlexNet)."""
    models = set(runs.model) if "model" in runs else {"minialexnet"}
    if len(models) != 1:
        raise ValueError(f"a report mixes models {sorted(models)}; give one report per model")
    (model,) = models
    return MODEL_NAMES.get(model, model)


def sweep_label(runs: pd.DataFrame) -> str:
    """``FC1 N x M`` (MiniAlexNet) or ``<model> FC1 N x M``: what tells the series apart."""
    shapes = {(int(n), int(m)) for n, m in zip(runs.fc1_N, runs.fc1_M, strict=True)}
    if len(shapes) != 1:
        raise ValueError(f"a report mixes FC1 shapes {sorted(shapes)}; give one report per shape")
    (n, m), = shapes
    model = model_name(runs)
    return f"FC1 {n} x {m}" if model == "MiniAlexNet" else f"{model} FC1 {n} x {m}"


def series_knob(runs: pd.DataFrame) -> str:
    """The knob a series varies: ``label_noise`` where it varies (the VSDL bridge), else ``batch_size``."""
    if "label_noise" in runs and runs.label_noise.nunique() > 1:
        return "label_noise"
    return "batch_size"


def read_report(folder: Path) -> pd.DataFrame:
    """One row per batch-size run of the report in ``folder``: knobs, accuracies and the metrics."""
    runs_csv, npz = folder / "runs.csv", folder / "final_eigenvalues.npz"
    if not (runs_csv.is_file() and npz.is_file()):
        raise FileNotFoundError(f"{folder} has no runs.csv and final_eigenvalues.npz (write it with "
                                "python -m simulations.headline)")
    runs = read_csv(runs_csv)  # committed reports may hold fc1_mp_softrank
    knob = series_knob(runs)
    runs = runs[runs.weight_decay.astype(str) == "none"]
    if knob == "batch_size":  # the batch sweep at the full training set (other sizes are another experiment)
        runs = runs[runs.train_size == runs.train_size.max()]
    rows = []
    with np.load(npz) as z:
        for r in runs.to_dict("records"):
            per_layer = [layer_metrics(z[f"{r['run']}|{layer}"], r[f"{layer}_alpha"]) for layer in LAYERS]
            row = {k: r[k] for k in ("run", "batch_size", "seed", "epochs", "train_size", "train_acc", "test_acc",
                                     "gap")}
            row.update(knob_name=knob, knob=r[knob])
            row.update({k: float(np.mean([m[k] for m in per_layer])) for k in per_layer[0]})
            row["mp_soft_rank"] = float(np.mean([r[f"{layer}_mp_soft_rank"] for layer in LAYERS]))
            rows.append(row)
    out = pd.DataFrame(rows)
    out.insert(0, "model", model_name(runs))
    out.insert(0, "sweep", sweep_label(runs))
    return out


def kendall(metrics: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau-b of every metric with every target, per sweep and over all sweeps pooled."""
    scopes = [(s, g) for s, g in metrics.groupby("sweep", sort=False)]
    if metrics.model.nunique() > 1:  # one model's sweeps pooled (other shapes), then every series
        scopes += [(f"{m} sweeps pooled", g) for m, g in metrics.groupby("model", sort=False) if g.sweep.nunique() > 1]
    if metrics.sweep.nunique() > 1:
        scopes.append(("all sweeps", metrics))
    rows = []
    for scope, g in scopes:
        if len(g) < MIN_RUNS:
            continue
        for target in TARGETS:
            for metric, sign in METRICS.items():
                ok = np.isfinite(g[metric]) & np.isfinite(g[target])
                if metric == BASELINE and g.knob_name.nunique() > 1:
                    ok[:] = False  # batch sizes and noise levels do not rank against each other
                tau, p = stats.kendalltau(g.loc[ok, metric], g.loc[ok, target]) if ok.sum() > 1 else (np.nan, np.nan)
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
            cells = [metric + (" (baseline: batch size or label noise)" if metric == BASELINE else ""),
                     "+" if t[t.metric == metric].expected_sign.iloc[0] > 0 else "-"]
            for s in scopes:
                r = t[(t.metric == metric) & (t.scope == s)].iloc[0]
                cell = f"{r.tau:+.2f} (p {r.p:.2g})" if np.isfinite(r.tau) else "-"
                cells.append(f"**{cell}**" if r.agrees else cell)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(metrics: pd.DataFrame, tau: pd.DataFrame, path: Path) -> None:
    """Left: tau with the test accuracy per metric and scope. Then alpha_hat and log alpha-norm against test
    accuracy for the batch-size sweeps (one marker per sweep, coloured by batch size), and one panel of
    alpha_hat per series with another knob (each point labelled with its value)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    by_batch = metrics[metrics.knob_name == "batch_size"]
    others = [(s, g) for s, g in metrics.groupby("sweep", sort=False) if g.knob_name.iloc[0] != "batch_size"]
    panels = (2 if len(by_batch) else 0) + len(others)
    fig, axes = plt.subplots(1, 1 + panels, figsize=(5.6 + 4.1 * panels, 4.6),
                             gridspec_kw={"width_ratios": [1.3] + [1] * panels}, squeeze=False)
    axes = axes[0]
    t = tau[tau.target == "test_acc"]
    scopes = list(dict.fromkeys(t.scope))
    names = list(METRICS)
    y = np.arange(len(names))
    h = 0.8 / len(scopes)
    for i, s in enumerate(scopes):
        vals = [t[(t.scope == s) & (t.metric == m)].tau.iloc[0] for m in names]
        axes[0].barh(y + (i - (len(scopes) - 1) / 2) * h, vals, height=h, label=s)
    axes[0].set_yticks(y, ["batch size or\nlabel noise (baseline)" if m == BASELINE else m for m in names])
    axes[0].invert_yaxis()
    axes[0].axvline(0, color="k", lw=0.8)
    axes[0].set_xlim(-1, 1)
    axes[0].set_xlabel("Kendall tau with test accuracy\n(lower is better: negative)")
    axes[0].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    markers = dict(zip(dict.fromkeys(by_batch.sweep), "osD^v", strict=False))
    rest = list(axes[1:])
    if len(by_batch):
        norm = LogNorm(by_batch.batch_size.min(), by_batch.batch_size.max())
        pair = rest[:2]
        rest = rest[2:]
        pair[1].sharey(pair[0])
        for ax, metric, label in ((pair[0], "alpha_hat", "alpha_hat (mean of FC1, FC2)"),
                                  (pair[1], "log_alpha_norm", "log10 alpha-norm (mean of FC1, FC2)")):
            for s, g in by_batch.groupby("sweep", sort=False):
                sc = ax.scatter(g[metric], g.test_acc, c=g.batch_size, norm=norm, cmap="viridis", marker=markers[s],
                                edgecolors="k", linewidths=0.4, s=40)
                ax.scatter([], [], marker=markers[s], color="0.7", edgecolors="k", linewidths=0.4, s=40, label=s)
            ax.set_xlabel(label)
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
        pair[0].set_ylabel("test accuracy")
        pair[1].tick_params(labelleft=False)
        pair[0].set_title("batch-size sweeps", fontsize=9)
        fig.colorbar(sc, ax=pair, label="batch size", pad=0.02)
    for ax, (s, g) in zip(rest, others, strict=True):
        knob = g.knob_name.iloc[0].replace("_", " ")
        for size, sub in g.groupby("train_size"):
            ax.scatter(sub.alpha_hat, sub.test_acc, marker="o" if size == g.train_size.max() else "s",
                       facecolors="none", edgecolors="k", linewidths=0.8, s=40, label=f"{size:,} training images")
        for x, yv, k in zip(g.alpha_hat, g.test_acc, g.knob, strict=True):
            ax.annotate(f"{k:g}", (x, yv), xytext=(5, -3), textcoords="offset points", fontsize=7, color="0.3")
        ax.set_xlabel("alpha_hat (mean of FC1, FC2)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{s}: {knob} beside each point", fontsize=9)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
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
