"""Figures of the calibration sweep: one example ESD per cell (``esd.png``) and the fits against the truth (``fits.png``).

They draw what :func:`simulations.calibration.run.run` fitted and never fit again. ``fits.png`` shows,
per cell of the sweep, the relative error of the fitted sigma (with the 1% band) and the spike
counts found against those planted, each draw a point, so that a perfect calibration is still a
readable picture rather than points on an identity line.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from rmtkit import plot
from rmtkit.marchenko_pastur import MPFit
from rmtkit.phases import mp_bulk_holds
from rmtkit.resolution import resolve_spectrum

#: Smallest text in these figures (points); the tick labels use it.
TEXT_PT = 8
#: Tolerance band drawn on the sigma panel (relative error).
SIGMA_BAND = 0.01
_POINT, _MEDIAN, _PLANTED = "#0072B2", "#000000", "#D55E00"  # Okabe-Ito


def write_figures(table: pd.DataFrame, examples, out: str | Path) -> list[Path]:
    """Write ``esd.png`` and ``fits.png`` to ``out``; returns their paths.

    Args:
        table: the sweep's table (one row per draw, :func:`simulations.calibration.run.run`).
        examples: per cell ``(title, eigenvalues, q, fit)``: the first draw's spectrum and its unbatched MP fit.
    """
    out = Path(out)
    paths = []
    for name, fig in (("esd.png", esd_figure(examples)), ("fits.png", fits_figure(table))):
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        paths.append(out / name)
    return paths


def mp_fit_holds(fit: MPFit, num_evals: int) -> bool:
    """The phase decision's own test of an MP bulk (:func:`rmtkit.phases.mp_bulk_holds`) on one unbatched fit:
    the fit succeeded, its outliers are few and ``D * n_bulk`` is small."""
    features = {"mp_status": int(fit.status), "spike_fraction": int(fit.num_spikes) / max(num_evals, 1),
                "bulk_ks": float(fit.D) * int(fit.num_bulk)}
    return bool(mp_bulk_holds(features))


def esd_figure(examples) -> plt.Figure:
    """One panel per cell: the first draw's ESD, on linear axes with its MP fit where that fit holds, else
    on log axes without it (null eigenvalues, e.g. of a low-rank matrix, are left out and counted)."""
    cols = min(3, len(examples))
    rows = -(-len(examples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.6 * rows), squeeze=False, layout="constrained")
    for ax, (title, ev, q, fit) in zip(axes.ravel(), examples, strict=False):
        ev = np.sort(np.asarray(ev, float))
        m = ev.size
        resolved = resolve_spectrum(ev, n=int(round(q * m)), m=m, storage_dtype=ev.dtype, compute_dtype=ev.dtype)
        holds = mp_fit_holds(fit, m)
        verdict = "MP fit holds" if holds else "MP fit rejected (no bulk): log axes"
        plot.plot_esd(resolved.evals, q=q, fit=fit, mp_holds=holds, log_x=not holds, bins=60,
                      title=f"{title}\n{verdict}", ax=ax)
        _readable(ax)
    for ax in axes.ravel()[len(examples):]:
        ax.set_visible(False)
    return fig


def fits_figure(table: pd.DataFrame) -> plt.Figure:
    """Sigma error and spike counts per cell of the sweep, side by side."""
    cells = _cells(table)
    width = _panel_width(cells)
    if width <= 6.5:  # side by side
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(2 * width, 4.2), layout="constrained")
    else:  # many cells: one above the other, each as wide as the figure
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(width, 8.0), layout="constrained")
    if table["sigma_true"].notna().any():
        sigma_error_panel(a1, table, cells)
    else:
        fitted_sigma_panel(a1, table, cells)
    spike_count_panel(a2, table, cells)
    ens, m = table["ensemble"].iloc[0], sorted(table["M"].unique())
    fig.suptitle(f"Calibration of the MP fit: {ens}, M = {', '.join(map(str, m))}, "
                 f"{table.groupby(['value', 'M', 'Q']).size().max()} draws per cell", fontsize=10)
    return fig


def sigma_error_panel(ax, table: pd.DataFrame, cells: pd.DataFrame | None = None):
    """Per cell, ``sigma_fit / sigma_true - 1`` in percent for every draw (points) and its median (bar),
    with the +-1% band and a symmetric axis at least as wide as the band."""
    cells = _cells(table) if cells is None else cells
    err = 100 * (table["sigma_fit"] / table["sigma_true"] - 1)
    ax.axhspan(-100 * SIGMA_BAND, 100 * SIGMA_BAND, color="0.9", zorder=0, label=f"within {100 * SIGMA_BAND:g}%")
    ax.axhline(0, color="0.5", lw=0.8, zorder=1)
    for i, idx in enumerate(cells["rows"]):
        e = err.loc[idx].to_numpy(float)
        e = e[np.isfinite(e)]
        ax.plot(i + _spread(e.size), e, "o", ms=3.5, color=_POINT, alpha=0.6, zorder=2,
                label="one draw" if i == 0 else None)
        if e.size:
            ax.plot([i - 0.3, i + 0.3], [np.median(e)] * 2, "-", color=_MEDIAN, lw=2, zorder=3,
                    label="median" if i == 0 else None)
    finite = err[np.isfinite(err)]
    lim = max(1.5 * 100 * SIGMA_BAND, 1.15 * float(finite.abs().max()) if finite.size else 0.0)
    ax.set_ylim(-lim, lim)
    ax.set_ylabel(r"fitted / true $\sigma$ $-$ 1  (%)")
    ax.set_title(r"MP fit: error of $\sigma$ per draw", fontsize=9)
    _cell_axis(ax, cells)
    ax.legend(fontsize=TEXT_PT, loc="upper right")
    return ax


def table_fit_holds(table: pd.DataFrame) -> np.ndarray:
    """Per draw of the table, :func:`mp_fit_holds` from its columns (``num_bulk = M - num_spikes``)."""
    bulk = table["M"] - table["num_spikes"]
    features = {"mp_status": np.where(table["status"] == "ok", 0, 1) if "status" in table else 0,
                "spike_fraction": table["num_spikes"] / table["M"], "bulk_ks": table["D"] * bulk}
    return np.asarray(mp_bulk_holds({k: np.asarray(v) for k, v in features.items()}), bool)


def fitted_sigma_panel(ax, table: pd.DataFrame, cells: pd.DataFrame | None = None):
    """Per cell, the fitted sigma of every draw, for ensembles without a true sigma (heavy tails, low rank);
    hollow where the MP fit does not hold (its sigma then describes no bulk, e.g. the round-off of a low rank)."""
    cells = _cells(table) if cells is None else cells
    holds = pd.Series(table_fit_holds(table), index=table.index)
    labelled = set()
    for i, idx in enumerate(cells["rows"]):
        for ok in (True, False):
            sel = idx[holds.loc[idx].to_numpy() == ok]
            s = table.loc[sel, "sigma_fit"].to_numpy(float)
            s = s[np.isfinite(s)]
            if not s.size:
                continue
            label = ("MP fit holds" if ok else "MP fit rejected (no bulk)") if ok not in labelled else None
            labelled.add(ok)
            ax.plot(i + _spread(s.size), s, "o", ms=4, color=_POINT, alpha=0.7, label=label,
                    mfc=_POINT if ok else "none")
    ax.legend(fontsize=TEXT_PT)
    s = table["sigma_fit"].to_numpy(float)
    s = s[np.isfinite(s) & (s > 0)]
    if s.size and s.max() > 30 * s.min():
        ax.set_yscale("log")
    ax.set_ylabel(r"fitted $\sigma$")
    ax.set_title(r"MP fit: $\sigma$ per draw (no true $\sigma$ for this ensemble)", fontsize=9)
    _cell_axis(ax, cells)
    return ax


def spike_count_panel(ax, table: pd.DataFrame, cells: pd.DataFrame | None = None):
    """Per cell, how many draws found each spike count (circle area, and the count as text), with the planted
    count as a bar and ``k/n exact`` above; ensembles with nothing planted show the outliers found."""
    cells = _cells(table) if cells is None else cells
    planted_any = table["spikes_planted"].notna().any()
    top = 1
    for i, idx in enumerate(cells["rows"]):
        found = table.loc[idx, "num_spikes"].to_numpy(float)
        found = found[np.isfinite(found) & (found >= 0)]
        counts = pd.Series(found).value_counts()
        for k, c in counts.items():
            ax.scatter(i, k, s=25 + 250 * c / max(found.size, 1), color=_POINT, alpha=0.5, zorder=2, edgecolors="none")
            if counts.size > 1 or c != found.size:
                ax.annotate(f"{c}", (i, k), xytext=(7, 0), textcoords="offset points", fontsize=TEXT_PT, va="center")
        top = max(top, float(found.max()) if found.size else 0)
        planted = table.loc[idx, "spikes_planted"].to_numpy(float)
        if planted_any and np.isfinite(planted).any():
            p = float(planted[np.isfinite(planted)][0])
            ax.plot([i - 0.35, i + 0.35], [p, p], "-", color=_PLANTED, lw=2, zorder=3,
                    label="planted" if i == 0 else None)
            exact = int(np.sum(found == p))
            top = max(top, p)
            ax.annotate(f"{exact}/{found.size}\nexact", (i, p), xytext=(0, 10), textcoords="offset points",
                        ha="center", va="bottom", fontsize=TEXT_PT)
    ax.scatter([], [], s=60, color=_POINT, alpha=0.5, label="draws finding k (area: share)")
    ax.set_ylim(-0.7, top * 1.25 + 1.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if planted_any:
        ax.set_ylabel("spikes found (beyond $\\lambda_+ + 3\\,\\Delta_{TW}$)")
        ax.set_title("spikes found vs planted", fontsize=9)
    else:
        ax.set_ylabel("outliers found (beyond $\\lambda_+ + 3\\,\\Delta_{TW}$)")
        ax.set_title("outliers found (nothing planted in this ensemble)", fontsize=9)
    _cell_axis(ax, cells)
    ax.legend(fontsize=TEXT_PT, loc="upper left")
    return ax


def _cells(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of the sweep (value, M, Q) in sweep order: its swept value (the outer label), its Q
    (and M, where several) as the inner label, and the table rows it holds."""
    param = table["param"].iloc[0]
    several_m = table["M"].nunique() > 1
    rows = []
    for (value, m, q), group in table.groupby(["value", "M", "Q"], sort=False):
        rows.append({"group": f"{param}={value:g}", "label": f"Q={q:g}" + (f"\nM={m}" if several_m else ""),
                     "rows": group.index})
    return pd.DataFrame(rows)


def _panel_width(cells: pd.DataFrame) -> float:
    """Inches for one panel: each run of cells as wide as its value label (8 pt, ~0.07 in a character) and each
    cell at least 0.45 in, plus the margin for the y axis; at most 13 in."""
    runs = (cells["group"] != cells["group"].shift()).cumsum()
    need = sum(max(0.07 * len(run["group"].iloc[0]) + 0.15, 0.45 * len(run)) for _, run in cells.groupby(runs))
    return float(np.clip(need + 1.2, 4.5, 13.0))


def _cell_axis(ax, cells: pd.DataFrame) -> None:
    """Two-level x axis: Q (and M) under each cell, the swept value under each run of cells sharing it,
    light lines between the runs. Horizontal text throughout (no rotated labels to collide)."""
    n = len(cells)
    ax.set_xticks(range(n))
    ax.set_xticklabels(cells["label"], fontsize=TEXT_PT)
    ax.set_xlim(-0.6, n - 0.4)
    runs = (cells["group"] != cells["group"].shift()).cumsum()
    for _, run in cells.groupby(runs, sort=False):
        first, last = run.index[0], run.index[-1]
        ax.annotate(run["group"].iloc[0], xy=((first + last) / 2, 0), xycoords=("data", "axes fraction"),
                    xytext=(0, -22 - 10 * cells["label"].str.count("\n").max()), textcoords="offset points",
                    ha="center", va="top", fontsize=TEXT_PT)
        if first > 0:
            ax.axvline(first - 0.5, color="0.8", lw=0.8, zorder=0)
    ax.set_xlabel("cell of the sweep", labelpad=20)
    _readable(ax)


def _spread(n: int) -> np.ndarray:
    """Evenly spread offsets within a cell's slot (deterministic: the same figure every run)."""
    return np.linspace(-0.2, 0.2, n) if n > 1 else np.zeros(n)


def _readable(ax) -> None:
    ax.tick_params(labelsize=TEXT_PT)
    readable_log_ticks(ax)


def readable_log_ticks(ax) -> None:
    """Plain-number tick labels (``0.5``, ``2``, ``20``) on a log axis spanning less than two decades, where
    matplotlib's default labels every minor tick ``2x10^0, 3x10^0...`` and they collide; wider axes keep the
    decades and drop the minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() != "log" or min(lim) <= 0:
            continue
        axis.set_minor_formatter(NullFormatter())
        if np.log10(max(lim) / min(lim)) < 2:
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
