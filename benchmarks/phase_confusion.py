"""Held-out evaluation of the 5+1 phase classifier (:mod:`rmtkit.phases`): the confusion matrix.

Draws fresh matrices from each phase's calibration range (:func:`rmtkit.phases.sample_phase`) for
every ``M`` in ``--sizes`` and ``Q`` in ``--ratios``, ``--draws`` per phase and cell, computes the
eigenvalues of ``W^T W / N`` (float64), classifies them with the default
:class:`rmtkit.phases.PhaseCriteria` (and each matrix's :func:`rmtkit.phases.entry_top_share`), and prints the 6 x 6 confusion matrix with the overall and
per-phase accuracy (and per cell). The default ``--seed`` is the held-out one: the criteria were
tuned on draws with seeds 100 and 101, which use other keys.

Usage::

    python benchmarks/phase_confusion.py                  # held-out set, as in docs/phases.md
    python benchmarks/phase_confusion.py --sizes 200 --draws 4 --markdown
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import rmtkit
from rmtkit import phases
from rmtkit.phases import Phase


def cell_key(root: jax.Array, m: int, q: int, phase: Phase, draw: int) -> jax.Array:
    """The key of one draw: a pure function of the seed and the draw's coordinates."""
    key = root
    for part in (m, q, int(phase), draw):
        key = jax.random.fold_in(key, part)
    return key


def run(seed: int, sizes: list[int], ratios: list[int], draws: int, verbose: bool = True) -> dict:
    """Classify ``draws`` fresh matrices per phase and ``(M, Q)`` cell; return truths, predictions, details."""
    root = jax.random.key(seed)
    truth, pred, cells, params = [], [], [], []
    for m in sizes:
        for q in ratios:
            t0 = time.perf_counter()
            ws, lab, par = [], [], []
            for phase in Phase:
                for d in range(draws):
                    key = cell_key(root, m, q, phase, d)
                    par.append(phases.sample_phase_params(key, phase, q * m, m))
                    ws.append(np.asarray(phases.sample_phase(key, phase, q * m, m)))
                    lab.append(phase.label)
            ev = np.asarray(rmtkit.eigenvalues(np.stack(ws)))
            share = [phases.entry_top_share(w) for w in ws]  # the entries, as the analyzer passes them
            out = phases.classify_phases(ev, np.full(len(ws), float(q)), entry_share=share)
            truth += lab
            pred += [p if p is not None else "undetermined" for p in out]
            cells += [(m, q)] * len(ws)
            params += par
            if verbose:
                acc = np.mean(np.array(lab) == out)
                print(f"M={m:5d} Q={q}: {len(ws)} matrices, accuracy {acc:.3f} ({time.perf_counter() - t0:.1f} s)",
                      flush=True)
    return {"truth": np.array(truth), "pred": np.array(pred), "cells": cells, "params": params}


def confusion(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Counts ``[true phase, predicted label]``; columns are the six labels plus ``undetermined``."""
    rows = Phase.labels()
    cols = rows + ["undetermined"]
    mat = np.zeros((len(rows), len(cols)), int)
    for t, p in zip(truth, pred, strict=True):
        mat[rows.index(t), cols.index(p)] += 1
    return mat, cols


def report(res: dict, markdown: bool = False) -> str:
    truth, pred = res["truth"], res["pred"]
    mat, cols = confusion(truth, pred)
    rows = Phase.labels()
    lines = []
    if markdown:
        lines.append("| true \\ predicted | " + " | ".join(cols) + " | accuracy |")
        lines.append("|" + " --- |" * (len(cols) + 2))
        for i, r in enumerate(rows):
            lines.append(f"| {r} | " + " | ".join(str(v) for v in mat[i]) + f" | {mat[i, i] / mat[i].sum():.3f} |")
    else:
        width = max(len(c) for c in cols) + 1
        lines.append(" " * 14 + "".join(f"{c:>{width}}" for c in cols) + f"{'accuracy':>{width}}")
        for i, r in enumerate(rows):
            lines.append(f"{r:14s}" + "".join(f"{v:>{width}d}" for v in mat[i]) + f"{mat[i, i] / mat[i].sum():>{width}.3f}")
    overall = np.trace(mat[:, : len(rows)]) / mat.sum()
    lines.append("")
    lines.append(f"overall accuracy: {overall:.4f} ({np.trace(mat[:, :len(rows)])}/{mat.sum()})")
    lines.append("per-phase accuracy: " + ", ".join(f"{r} {mat[i, i] / mat[i].sum():.3f}" for i, r in enumerate(rows)))
    wrong = [(c, t, p, par) for c, t, p, par in zip(res["cells"], truth, pred, res["params"], strict=True) if t != p]
    if wrong:
        lines.append("")
        lines.append("misclassified draws (M, Q, true -> predicted, generator parameters):")
        for (m, q), t, p, par in wrong:
            shown = {k: (np.round(v, 3).tolist() if isinstance(v, np.ndarray) else (round(v, 4) if isinstance(v, float) else v))
                     for k, v in par.items()}
            lines.append(f"  M={m} Q={q}: {t} -> {p}  {shown}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7, help="root seed (7: the held-out set of docs/phases.md)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000], help="values of M")
    parser.add_argument("--ratios", type=int, nargs="+", default=[1, 2, 4], help="values of Q = N / M")
    parser.add_argument("--draws", type=int, default=8, help="draws per phase and (M, Q) cell")
    parser.add_argument("--markdown", action="store_true", help="print the confusion matrix as a Markdown table")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)  # precision chosen at the entry point
    t0 = time.perf_counter()
    res = run(args.seed, args.sizes, args.ratios, args.draws)
    print()
    print(f"seed {args.seed}, M in {args.sizes}, Q in {args.ratios}, {args.draws} draws per phase and cell "
          f"({len(res['truth'])} matrices, {time.perf_counter() - t0:.0f} s)")
    print("criteria: " + ", ".join(f"{k}={v}" for k, v in phases.criteria_table()))
    print()
    print(report(res, markdown=args.markdown))


if __name__ == "__main__":
    main()
