"""Merge a sweep's runs into one table and draw the figures: ``python -m simulations.collect MULTIRUN_DIR``.

Reads every run folder under the sweep (``DONE.json`` finished, ``FAILED.json`` failed, neither:
unfinished; a run whose ``DONE.json`` or ``spectral.csv`` is torn is failed, with the file named, and
the others are read on), writes ``runs.csv`` (one row per run: its overrides, accuracies, gap and the final
spectral metrics of each watched layer), ``capacity.csv`` (Kendall tau and R^2 of the model-level
metrics of [MPM-NC] against test accuracy) and figures against the swept knob (``sweep_<layer>.png``), to the sweep folder
(or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from rmtkit.status import RowStatus, RunStatus
from simulations.train.records import current_key, read_csv

#: [MPM-NC] model-level metrics: name -> (spectral column, how layers combine)
CAPACITY_METRICS = {"alpha_hat": "alpha_weighted", "log_norm": "log_norm", "log_spectral_norm": "log_spectral_norm",
                    "log_alpha_norm": "log_alpha_norm"}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = json.dumps(v) if isinstance(v, dict) else v
    return out


def run_folders(sweep: str | Path) -> Iterator[tuple[Path, dict]]:
    """Every run folder under ``sweep`` (a folder holding the run's ``config.json``) and its config, in path order."""
    for cfg_path in sorted(Path(sweep).rglob("config.json")):
        yield cfg_path.parent, json.loads(cfg_path.read_text())


def collect(sweep: str | Path) -> pd.DataFrame:
    """One row per run folder (:func:`run_folders`) under ``sweep``."""
    rows = []
    for run, cfg in run_folders(sweep):
        row = {"run": str(run.relative_to(sweep)), **_flatten(cfg)}
        if (run / "DONE.json").exists():
            try:
                row.update(_finished(run))
            except (OSError, ValueError, KeyError, TypeError) as err:  # a torn file: this run's failure, not all
                row.update(status=RunStatus.FAILED.value, error=f"unreadable result ({type(err).__name__}: {err})")
        elif (run / "FAILED.json").exists():
            try:
                error = str(json.loads((run / "FAILED.json").read_text())["error"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                error = f"{run / 'FAILED.json'}: unreadable ({type(err).__name__}: {err})"
            row.update(status=RunStatus.FAILED.value, error=error)
        else:
            row.update(status=RunStatus.UNFINISHED.value)
        rows.append(row)
    if not rows:
        raise FileNotFoundError(f"{sweep}: no run folders (config.json) found")
    return pd.DataFrame(rows)


def _finished(run: Path) -> dict:
    """A finished run's ``DONE.json`` figures and capacity metrics; a torn file raises an error naming it."""
    done_path, spectral = run / "DONE.json", run / "spectral.csv"
    try:
        done = json.loads(done_path.read_text())
    except ValueError as err:
        raise ValueError(f"{done_path}: corrupt, not valid JSON ({err})") from None
    if not isinstance(done, dict):
        raise ValueError(f"{done_path}: not a finished run's record (a JSON object is expected)")
    row = {"status": RunStatus.DONE.value, **{current_key(k): v for k, v in done.items()}}  # older runs: mp_softrank
    if spectral.exists():
        try:
            table = read_csv(spectral)
            missing = {"epoch", "status", *CAPACITY_METRICS.values()} - set(table.columns)
            if missing:
                raise ValueError(f"no column {', '.join(sorted(missing))}")
            row.update(_capacity(table))
        except (ValueError, pd.errors.ParserError) as err:  # EmptyDataError is a ValueError
            raise ValueError(f"{spectral}: torn or not a spectral table ({err})") from None
    return row


def _capacity(spectral: pd.DataFrame) -> dict:
    """Model-level [MPM-NC] metrics of the last epoch: means over the analysed layers."""
    last = spectral[(spectral["epoch"] == spectral["epoch"].max()) & (spectral["status"] == RowStatus.OK)]
    return {name: float(last[col].mean()) for name, col in CAPACITY_METRICS.items()}


def capacity_correlations(runs: pd.DataFrame) -> pd.DataFrame:
    """Kendall tau and R^2 (linear fit) of each model-level metric against test accuracy, over finished runs."""
    done = runs[runs["status"] == RunStatus.DONE]
    out = []
    for name in CAPACITY_METRICS:
        if name not in done:
            continue
        sel = done[[name, "test_acc"]].dropna()
        if len(sel) < 3:
            continue
        tau, p = scipy.stats.kendalltau(sel[name], sel["test_acc"])
        r = np.corrcoef(sel[name], sel["test_acc"])[0, 1]
        out.append({"metric": name, "runs": len(sel), "kendall_tau": tau, "p_value": p, "r2": r**2})
    return pd.DataFrame(out)


def _knob(runs: pd.DataFrame) -> str:
    """The swept configuration key: the one that varies most among finished runs (batch size first)."""
    for key in ("batch_size", "optimizer.weight_decay", "data.label_noise", "data.subset", "epochs", "seed"):
        if key in runs and runs[key].astype(str).nunique() > 1:
            return key
    return "batch_size"


def figures(runs: pd.DataFrame, out: Path, layer: str = "fc1") -> Path:
    import matplotlib.pyplot as plt

    from rmtkit.plot import PHASE_COLORS

    done = runs[runs["status"] == RunStatus.DONE].copy()
    knob = _knob(runs)
    numeric = pd.api.types.is_numeric_dtype(done[knob])
    x = done[knob] if numeric else done[knob].astype(str)
    panels = [("test_acc", "test accuracy"), ("gap", "train - test accuracy"), (f"{layer}_alpha", f"{layer} alpha"),
              (f"{layer}_stable_rank", f"{layer} stable rank"), (f"{layer}_mp_soft_rank", f"{layer} MP soft rank"),
              (f"{layer}_hard_rank", f"{layer} hard rank")]
    fig, axes = plt.subplots(2, 4, figsize=(17, 7))
    for ax, (col, title) in zip(axes.ravel(), panels, strict=False):
        if col in done:
            ax.plot(x, done[col], "o", alpha=0.7)
            means = done.groupby(x)[col].mean()
            ax.plot(means.index, means.values, "-", color="C3")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(knob)
        if numeric and done[knob].min() > 0 and done[knob].max() / done[knob].min() > 20:
            ax.set_xscale("log")
    ax = axes.ravel()[6]
    if f"{layer}_phase" in done:
        labels = list(PHASE_COLORS)
        for phase, color in PHASE_COLORS.items():
            sel = done[f"{layer}_phase"] == phase
            ax.scatter(x[sel], [labels.index(phase)] * int(sel.sum()), color=color, s=30)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_title(f"{layer} phase", fontsize=9)
        ax.set_xlabel(knob)
        if numeric and done[knob].min() > 0 and done[knob].max() / done[knob].min() > 20:
            ax.set_xscale("log")
    ax = axes.ravel()[7]
    if "alpha_hat" in done:
        ax.plot(done["alpha_hat"], done["test_acc"], "o")
        ax.set_xlabel("alpha_hat (weighted alpha)")
        ax.set_ylabel("test accuracy")
        ax.set_title("capacity control [MPM-NC]", fontsize=9)
    fig.tight_layout()
    path = out / f"sweep_{layer}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", help="a multirun folder, e.g. multirun/batch_size_sweep")
    parser.add_argument("--out", help="where to write runs.csv, capacity.csv and sweep_<layer>.png (default: the sweep folder)")
    parser.add_argument("--layer", default="fc1", help="the layer whose metrics the figures show")
    args = parser.parse_args(argv)
    try:
        runs = collect(args.sweep)
    except FileNotFoundError as err:
        print(f"collect: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or args.sweep)
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "runs.csv", index=False)
    cap = capacity_correlations(runs)
    cap.to_csv(out / "capacity.csv", index=False)
    if (runs["status"] == "done").any():
        figures(runs, out, args.layer)
    knob = _knob(runs)
    cols = [c for c in (knob, "seed", "status", "train_acc", "test_acc", "gap", f"{args.layer}_alpha",
                        f"{args.layer}_stable_rank", f"{args.layer}_mp_soft_rank", f"{args.layer}_hard_rank",
                        f"{args.layer}_num_spikes", f"{args.layer}_phase") if c in runs]
    print(runs.sort_values(knob)[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(cap):
        print("\ncapacity metrics vs test accuracy:\n" + cap.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    counts = runs["status"].value_counts().to_dict()
    print(f"\n{counts.get('done', 0)} done, {counts.get('failed', 0)} failed, {counts.get('unfinished', 0)} unfinished; "
          f"written to {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
