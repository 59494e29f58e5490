"""The spectral-control comparison's report: ``python -m simulations.control_report RUNS --out docs/results/tempbalance``.

``RUNS`` is the folder ``scripts/tempbalance.sh`` fills: one sweep folder per setting
(``tempbalance/``: LeNet5 and MLP3; ``tempbalance_noise/``: MLP3 with label noise;
``tempbalance_minialexnet/``: the headline's MiniAlexNet), each run trained with ``optimizer.name``
``sgd``, ``sgd+tempbalance``, ``sgd+alphadecay`` or ``sgd+weightdecay`` (uniform weight decay,
AlphaDecay's baseline) and a seed. Runs of one setting, model and seed
share their data, initialisation and batch order, so each control is compared *paired* with plain
SGD of the same seed. Written to ``--out``:

- ``runs.csv``: one row per finished run (setting, model, optimiser, seed, accuracies, gap, time);
- ``summary.csv``: per setting, model and optimiser: test accuracy mean and std over seeds, and
  against plain SGD the paired difference (mean, std), the paired t-test's p value, the exact
  Wilcoxon signed-rank test's p value and how many seeds improved;
- ``alphadecay_vs_weightdecay.csv``: the same paired comparison of AlphaDecay with uniform weight
  decay at its base value (what the per-matrix map adds beyond weight decay as such);
- ``paired.png``: test accuracy per seed, the runs of one seed joined by a line;
- ``tables.md``: the README's table, made from ``summary.csv``.

Unfinished and failed runs are listed and left out; a control is compared only on the seeds where
both it and plain SGD finished.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from simulations.train.collect import collect

BASE = "sgd"
#: How each sweep folder of scripts/tempbalance.sh is shown in the table and figure.
SETTINGS = {"tempbalance": "Fashion-MNIST", "tempbalance_noise": "20% label noise",
            "tempbalance_minialexnet": "headline protocol"}
#: Optimisers in table order.
ORDER = ("sgd", "sgd+tempbalance", "sgd+alphadecay", "sgd+weightdecay")


def load_runs(runs: str | Path) -> pd.DataFrame:
    """Finished runs of every sweep folder under ``runs`` (one row each), with a ``setting`` column."""
    frames = []
    for sweep in sorted(p for p in Path(runs).iterdir() if p.is_dir()):
        try:
            table = collect(sweep)
        except FileNotFoundError:
            continue
        table.insert(0, "setting", SETTINGS.get(sweep.name, sweep.name))
        frames.append(table)
    if not frames:
        raise FileNotFoundError(f"{runs}: no sweep folders with runs")
    table = pd.concat(frames, ignore_index=True)
    for _, row in table[table["status"] != "done"].iterrows():
        print(f"left out ({row['status']}): {row['setting']}/{row['run']}", file=sys.stderr)
    done = table[table["status"] == "done"]
    cols = {"setting": "setting", "model.name": "model", "data.label_noise": "label_noise",
            "optimizer.name": "optimizer", "seed": "seed", "epochs": "epochs", "batch_size": "batch_size",
            "test_acc": "test_acc", "train_acc": "train_acc", "gap": "gap", "train_seconds": "train_seconds"}
    out = done[list(cols)].rename(columns=cols)
    order = list(dict.fromkeys([*SETTINGS.values(), *out["setting"]]))  # scripts/tempbalance.sh's order
    out["setting"] = pd.Categorical(out["setting"], categories=[s for s in order if s in set(out["setting"])])
    return out.sort_values(["setting", "model", "optimizer", "seed"])


def _paired(acc: pd.Series, ref: pd.Series) -> dict:
    """``acc - ref`` over the seeds both have: mean, std, wins, losses, paired t and exact Wilcoxon p."""
    seeds = acc.index.intersection(ref.index)
    diff = acc[seeds] - ref[seeds]
    row = {"paired_seeds": len(seeds), "diff_mean": diff.mean(), "diff_std": diff.std(ddof=1),
           "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum())}
    if len(seeds) >= 2 and np.ptp(diff.to_numpy()) > 0:
        row["t_p"] = scipy.stats.ttest_rel(acc[seeds], ref[seeds]).pvalue
    if len(seeds) >= 2 and (diff != 0).any():
        row["wilcoxon_p"] = scipy.stats.wilcoxon(diff, method="exact").pvalue
    return row


def _accuracies(group: pd.DataFrame, opt: str) -> pd.Series:
    return group[group["optimizer"] == opt].set_index("seed")["test_acc"]


def paired_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per setting, model and optimiser: accuracy over seeds, and the paired comparison with plain SGD."""
    rows = []
    for (setting, model), group in runs.groupby(["setting", "model"], sort=True, observed=True):
        base = _accuracies(group, BASE)
        for opt in sorted(group["optimizer"].unique(), key=lambda o: (ORDER + (o,)).index(o)):
            acc = _accuracies(group, opt)
            row = {"setting": setting, "model": model, "optimizer": opt, "seeds": len(acc),
                   "test_acc_mean": acc.mean(), "test_acc_std": acc.std(ddof=1)}
            if opt != BASE:
                row.update(_paired(acc, base))
            rows.append(row)
    return pd.DataFrame(rows)


def paired_against(runs: pd.DataFrame, opt: str, ref: str) -> pd.DataFrame:
    """``opt`` minus ``ref`` per setting and model, paired by seed (e.g. AlphaDecay against uniform decay)."""
    rows = []
    for (setting, model), group in runs.groupby(["setting", "model"], sort=True, observed=True):
        acc, base = _accuracies(group, opt), _accuracies(group, ref)
        if len(acc) and len(base):
            rows.append({"setting": setting, "model": model, "optimizer": opt, "reference": ref,
                         **_paired(acc, base)})
    return pd.DataFrame(rows)


def _pm(mean: float, std: float, scale: float = 100.0) -> str:
    return f"{scale * mean:.2f} +- {scale * std:.2f}"


def _test_cells(r) -> str:
    t_p = f"{r['t_p']:.3f}" if pd.notna(r.get("t_p")) else "-"
    w_p = f"{r['wilcoxon_p']:.3f}" if pd.notna(r.get("wilcoxon_p")) else "-"
    return (f"| {100 * r['diff_mean']:+.2f} +- {100 * r['diff_std']:.2f} | {r['wins']:.0f} / {r['losses']:.0f} "
            f"| {t_p} | {w_p} |")


def tables_md(summary: pd.DataFrame, against: pd.DataFrame | None = None) -> str:
    """The README's tables: accuracy in percent, paired differences in points, both tests' p values."""
    lines = ["| setting | model | optimiser | seeds | test accuracy (%) | paired difference to SGD (points) "
             "| better / worse seeds | paired t p | Wilcoxon p |", "|" + " --- |" * 9]
    for _, r in summary.iterrows():
        acc = _pm(r["test_acc_mean"], r["test_acc_std"])
        if r["optimizer"] == BASE:
            lines.append(f"| {r['setting']} | {r['model']} | {r['optimizer']} | {r['seeds']} | {acc} | | | | |")
            continue
        lines.append(f"| {r['setting']} | {r['model']} | {r['optimizer']} | {r['seeds']} | {acc} " + _test_cells(r))
    if against is not None and len(against):
        lines += ["", "| setting | model | comparison | seeds | paired difference (points) | better / worse seeds "
                  "| paired t p | Wilcoxon p |", "|" + " --- |" * 8]
        for _, r in against.iterrows():
            lines.append(f"| {r['setting']} | {r['model']} | {r['optimizer']} - {r['reference']} "
                         f"| {r['paired_seeds']} " + _test_cells(r))
    return "\n".join(lines) + "\n"


def paired_figure(runs: pd.DataFrame, out: Path) -> Path:
    """One panel per setting and model: test accuracy per optimiser, each seed's runs joined by a line."""
    import matplotlib.pyplot as plt

    groups = list(runs.groupby(["setting", "model"], sort=True, observed=True))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.4), squeeze=False)
    for ax, ((setting, model), group) in zip(axes[0], groups, strict=True):
        opts = [o for o in ORDER if o in set(group["optimizer"])]
        wide = group.pivot(index="seed", columns="optimizer", values="test_acc")[opts]
        for seed, row in wide.iterrows():
            ax.plot(range(len(opts)), 100 * row.to_numpy(), "-o", ms=4, alpha=0.7, label=f"seed {seed}")
        ax.plot(range(len(opts)), 100 * wide.mean().to_numpy(), "k_", ms=22, mew=2, label="mean")
        ax.set_xticks(range(len(opts)))
        # Slanted: four optimiser names side by side run together in a 3.6-inch panel.
        ax.set_xticklabels([o.replace("sgd+", "+") for o in opts], fontsize=8, rotation=30, ha="right",
                           rotation_mode="anchor")
        ax.set_title(f"{model} ({setting})", fontsize=9)
        ax.set_ylabel("test accuracy (%)")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)  # off the data
    fig.suptitle("SGD with and without spectral control: paired by seed", fontsize=10)
    fig.tight_layout()
    path = out / "paired.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="the folder scripts/tempbalance.sh filled (RUNS)")
    parser.add_argument("--out", default=None, help="output folder (default: RUNS)")
    args = parser.parse_args(argv)
    out = Path(args.out or args.runs)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(args.runs)
    summary = paired_summary(runs)
    against = paired_against(runs, "sgd+alphadecay", "sgd+weightdecay")
    runs.to_csv(out / "runs.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    against.to_csv(out / "alphadecay_vs_weightdecay.csv", index=False)
    paired_figure(runs, out)
    (out / "tables.md").write_text(tables_md(summary, against))
    print(tables_md(summary, against))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
