"""The headline report's tables: ``tables.md`` of one report and ``side_by_side.md`` of several.

Both are written from the CSVs :mod:`simulations.train.headline` writes (``runs.csv``, ``pooled.csv``,
``rank_collapse.csv``), so they regenerate from a committed report without its runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulations.train.records import read_csv

#: FC1 of MiniAlexNet on CIFAR-10, eigenvalues pooled over 10 runs per batch size ([MM-JMLR] §7, the
#: authors' notebook): share of eigenvalues beyond the MP bulk, MP sigma, and the phase they name.
PAPER_FC1 = pd.DataFrame([
    (2, np.nan, np.nan, "heavy-tailed"), (4, 0.133, 1.387, None), (8, 0.093, 1.243, "bulk-decay"),
    (16, 0.048, 1.206, None), (32, 0.024, 1.205, "bulk+spikes"), (100, 0.020, 1.201, "bleeding-out"),
    (150, 0.013, 1.205, "bleeding-out"), (250, 0.0, 1.20, "random-like"), (500, 0.0, 1.20, "random-like"),
    (1000, 0.0, 1.20, "random-like"),
], columns=["batch_size", "paper_spike_fraction", "paper_mp_sigma", "paper_phase"])

#: The layers whose eigenvalues a report keeps.
LAYERS = ("fc1", "fc2")


def _pm(mean: float, std: float, fmt: str = ".3f") -> str:
    return f"{mean:{fmt}}" if not np.isfinite(std) else f"{mean:{fmt}} ± {std:{fmt}}"


def markdown(out: Path) -> str:
    """``tables.md``: the report's tables, from the CSVs :mod:`simulations.train.headline` wrote to ``out``."""
    from rmtkit.phases import CLASSIFIER_VERSION

    traj = out / "trajectories.csv"
    recorded = not traj.exists() or "labels" not in (t := read_csv(traj)) or (t["labels"] == "recorded").all()
    lines = [f"Labels by rmtkit's phase classifier version {CLASSIFIER_VERSION} (docs/phases.md); the trajectory "
             "phases (trajectories.csv) are " + ("those recorded during training." if recorded else
                                                 "recomputed from the per-epoch checkpoints (its `labels` column)."), ""]
    if (out / "runs.csv").exists():
        lines[:0] = [f"Network: MiniAlexNet, {_shape_name(read_csv(out / 'runs.csv'))} (conv1/conv2 output "
                     "channels where recorded).", ""]
    pooled = read_csv(out / "pooled.csv")
    for layer in LAYERS:
        p = pooled[pooled.layer == layer].sort_values("batch_size")
        paper = layer == "fc1"
        head = ["batch", "seeds", "test acc", "train-test gap", "MP sigma", "beyond bulk", "MP soft rank",
                "stable rank", "alpha", "phase (pooled)", "phase per seed"]
        if paper:
            head += ["paper: beyond bulk", "paper: sigma", "paper: phase"]
        lines += [f"**{layer.upper()}**", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for r in p.itertuples():
            cells = [str(r.batch_size), str(r.seeds), _pm(r.test_acc_mean, r.test_acc_std),
                     _pm(r.gap_mean, r.gap_std), f"{r.mp_sigma:.3f}", f"{r.spike_fraction:.1%}", f"{r.mp_soft_rank:.3f}",
                     _pm(r.stable_rank_mean, r.stable_rank_std, ".1f"), f"{r.alpha:.2f}", str(r.phase),
                     str(r.seed_phases).replace(",", ", ")]
            if paper:
                frac = r.paper_spike_fraction
                cells += ["MP fit fails" if r.batch_size == 2 else ("" if not np.isfinite(frac) else f"{frac:.1%}"),
                          "" if not np.isfinite(r.paper_mp_sigma) else f"{r.paper_mp_sigma:.3f}",
                          "" if not isinstance(r.paper_phase, str) else r.paper_phase]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if (out / "rank_collapse.csv").exists():
        rc = pd.read_csv(out / "rank_collapse.csv").sort_values(["epochs", "weight_decay"])
        head = ["L2", "epochs", "test acc", "FC1 dead units", "numerical rank", "rank at 1e-2 λmax",
                "rank at 1e-4 λmax", "rank at 1e-6 λmax", "FC1 columns with norm² < 1e-4 λmax", "stable rank",
                "λmin / λmax"] + (["phase (rule)"] if "phase" in rc else [])  # older reports: no phase recorded
        lines += ["**Rank collapse (FC1, batch 16)**", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for r in rc.to_dict("records"):
            lines.append("| " + " | ".join([
                r["weight_decay"], str(r["epochs"]), f"{r['test_acc']:.3f}", str(r["fc1_dead_units"]),
                f"{r['numerical_rank']} / {r['M']}", str(r["rank_at_0.01"]), str(r["rank_at_0.0001"]),
                str(r["rank_at_1e-06"]), str(r["fc1_columns_below_0.0001"]), f"{r['stable_rank']:.1f}",
                f"{r['smallest_over_largest_eval']:.2g}"]
                + ([f"{r['phase']} ({r['phase_rule']})" if isinstance(r.get("phase"), str) else "-"] if "phase" in rc
                   else [])) + " |")
        lines.append("")
    return "\n".join(lines)


def _shape_name(runs: pd.DataFrame) -> str:
    """A report's network in words: FC1's shape and, where recorded, the conv channels."""
    n, m = int(runs.fc1_N.iloc[0]), int(runs.fc1_M.iloc[0])
    name = f"FC1 {max(n, m)} x {min(n, m)} (Q {max(n, m) / min(n, m):.2f})"
    if "conv1_channels" in runs and runs.conv1_channels.notna().all():
        name += f", conv {int(runs.conv1_channels.iloc[0])}/{int(runs.conv2_channels.iloc[0])}"
    return name


def phase_order(runs: pd.DataFrame, layer: str) -> dict:
    """How a sweep's per-seed labels of ``layer`` follow the paper's order as the batch grows.

    The paper's order (small batch to large) is heavy-tailed, bulk-decay, bulk+spikes, bleeding-out,
    random-like: decreasing :class:`rmtkit.phases.Phase`. Returns the distinct labels in the order they first
    appear along the batch sizes, with the batch sizes showing each; per seed, whether its labels never step
    back along that order (rank-collapse is outside it and counts as a step back); and Kendall's tau between
    batch size and phase over all per-seed labels (-1: the paper's order, strictly).
    """
    from scipy.stats import kendalltau

    from rmtkit.phases import Phase

    col = f"{layer}_phase"
    table = runs.sort_values(["batch_size", "seed"])
    distinct: dict[str, list[int]] = {}
    for bs, label in zip(table.batch_size, table[col], strict=True):
        sizes = distinct.setdefault(str(label), [])
        if bs not in sizes:
            sizes.append(int(bs))
    monotone = {}
    for seed, group in table.groupby("seed"):
        ranks = [Phase.from_label(p).value for p in group[col]]
        ranks = [-1 if r == Phase.RANK_COLLAPSE else r for r in ranks]
        monotone[int(seed)] = (bool(all(a >= b for a, b in zip(ranks, ranks[1:], strict=False)))
                               and min(ranks) >= 0, list(group.batch_size.astype(int)))
    codes = [Phase.from_label(p).value for p in table[col]]
    tau = kendalltau(table.batch_size, codes).statistic if len(set(codes)) > 1 else float("nan")
    return {"distinct": distinct, "monotone": monotone, "tau": float(tau)}


def side_by_side(reports: list[Path]) -> str:
    """Markdown: the pooled and per-seed figures of several reports of the batch sweep (one per network
    shape), row by row for each batch size, beside the paper's FC1 labels, then how many distinct phases each
    shows and whether they follow the paper's order."""
    from rmtkit.phases import CLASSIFIER_VERSION

    loaded = []
    for report in reports:
        runs, pooled = read_csv(report / "runs.csv"), read_csv(report / "pooled.csv")
        loaded.append((report, _shape_name(runs), runs, pooled))
    lines = [f"Labels by rmtkit's phase classifier version {CLASSIFIER_VERSION}, from each report's committed "
             "eigenvalues and runs. Reports: " + "; ".join(f"{name} in `{report}`" for report, name, _, _ in loaded), ""]
    sizes = sorted(set().union(*(set(p.batch_size) for _, _, _, p in loaded)))
    for layer in LAYERS:
        head = ["batch", "network", "seeds", "test acc", "train-test gap", "MP sigma", "beyond bulk", "MP soft rank",
                "stable rank", "alpha", "phase (pooled)", "phase per seed"] + (["paper"] if layer == "fc1" else [])
        lines += [f"**{layer.upper()}**", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        paper = PAPER_FC1.set_index("batch_size").paper_phase
        for bs in sizes:
            for i, (_, name, _, pooled) in enumerate(loaded):
                row = pooled[(pooled.batch_size == bs) & (pooled.layer == layer)]
                if row.empty:
                    cells = [str(bs), name] + ["not run"] + [""] * 9
                else:
                    r = next(row.itertuples())
                    cells = [str(bs), name, str(r.seeds), _pm(r.test_acc_mean, r.test_acc_std), _pm(r.gap_mean, r.gap_std),
                             f"{r.mp_sigma:.3f}", f"{r.spike_fraction:.1%}", f"{r.mp_soft_rank:.3f}",
                             _pm(r.stable_rank_mean, r.stable_rank_std, ".1f"), f"{r.alpha:.2f}", str(r.phase),
                             str(r.seed_phases).replace(",", ", ")]
                if layer == "fc1":
                    label = paper.get(bs)
                    cells.append(label if i == 0 and isinstance(label, str) else "")
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["**Distinct phases per network (per-seed labels, batch sizes in brackets)**", ""]
    for _, name, runs, _ in loaded:
        for layer in LAYERS:
            order = phase_order(runs, layer)
            seq = ", ".join(f"{label} ({', '.join(map(str, sizes))})" for label, sizes in order["distinct"].items())
            seeds = "; ".join(f"seed {seed} {'yes' if ok else 'no'} ({len(bs)} batch sizes)"
                              for seed, (ok, bs) in order["monotone"].items())
            lines.append(f"- {name}, {layer.upper()}: {len(order['distinct'])} distinct: {seq}. In the paper's order "
                         f"as the batch grows: {seeds}. Kendall tau (batch size, phase) {order['tau']:.2f}.")
    lines.append("")
    return "\n".join(lines)
