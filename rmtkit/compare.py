"""Two models side by side, a fine-tuning delta, and a series of checkpoints (docs/theory.md#comparisons).

- :func:`compare` analyses two models and, per layer present in both, gives the change of every
  metric (``delta_<column>`` = B minus A), the alphas and phases of both, the two-sample
  Kolmogorov-Smirnov distance between their ESDs and the relative Frobenius distance of the weights
  ``||W_B - W_A||_F / ||W_A||_F``.
- :func:`weight_delta` / :func:`analyze_delta` analyse ``W - W_base`` of a fine-tuned model, layer by
  layer from disk (the delta of a layer exists only while it is analysed).
- :func:`analyze_series` analyses checkpoints in order (``epoch_*.safetensors``) into one long table
  with a ``checkpoint`` column; :func:`plot_trajectories` draws alpha, MP soft rank and phase of
  every layer along the series.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rmtkit.analysis import SELECTION_FIELDS, Analysis
from rmtkit.analyzer import analyze
from rmtkit.checkpoints import load_weights
from rmtkit.checkpoints.delta import WeightDelta, weight_delta  # noqa: F401 (re-exported)
from rmtkit.layers import extract_layers
from rmtkit.status import PairStatus, RowStatus

#: Most layers :func:`plot_trajectories` tells apart by colour and a legend; more share a sequential colour map.
LEGEND_LAYERS = 12
#: Columns of the analysis table that are not metrics (sizes and text): no ``delta_`` column for them.
_NOT_METRICS = {"N", "M", "Q", "num_evals"}


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance ``sup_x |F_a(x) - F_b(x)|`` between two samples' empirical CDFs."""
    a, b = np.sort(np.asarray(a, float).ravel()), np.sort(np.asarray(b, float).ravel())
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size)))


def spectra_of(analysis: Analysis) -> dict[str, np.ndarray]:
    """Eigenvalues by layer, as the analysis fitted them (nothing is recomputed)."""
    if not isinstance(analysis, Analysis):
        raise TypeError(f"spectra_of takes the Analysis that rmtkit.analyze returned, not a {type(analysis).__name__}")
    return {name: np.asarray(analysis.spectrum(name)) for name in analysis.names}


def relative_frobenius(a: Any, b: Any, **selection: Any) -> dict[str, float]:
    """``||W_b - W_a||_F / ||W_a||_F`` per weight matrix present in both with the same shape (one layer in memory at a time)."""
    la = {layer.name: layer for layer in extract_layers(load_weights(a), **selection)[0]}
    lb = {layer.name: layer for layer in extract_layers(load_weights(b), **selection)[0]}
    out = {}
    for name in la.keys() & lb.keys():
        if la[name].matrices.shape != lb[name].matrices.shape:
            continue
        wa = np.asarray(la[name].matrices, np.float64)
        diff = np.linalg.norm(np.asarray(lb[name].matrices, np.float64) - wa)
        base = np.linalg.norm(wa)
        out[name] = float(diff / base) if base > 0 else float("inf") if diff > 0 else 0.0
    return out


def compare(a: Any, b: Any, *, spectra_cache: str | os.PathLike | None = None, progress: bool | None = None,
            **options: Any) -> pd.DataFrame:
    """Per-layer changes from model ``a`` to model ``b`` (same options for both).

    Args:
        a, b: anything :func:`rmtkit.analyze` reads (paths, Flax models, dicts of arrays); their two
            analyses are made once and every column (the ESD distance too) is read from them.
        spectra_cache: a :mod:`rmtkit.cache` folder (eigenvalues reused across calls).
        progress: progress bars of the two analyses (labelled ``rmtkit compare a`` and ``... b``).
        **options: :func:`rmtkit.analyze` options (layer selection, convention, fits).

    Returns:
        One row per tensor name of either model: ``name``, ``status`` (``compared``; ``only in a`` /
        ``only in b``; ``not comparable`` with a short ``reason``: a shape changed or a side was not
        analysed, e.g. ``int64 tensor: not a float weight (skipped in a and b)``), ``status_a`` and
        ``status_b`` (the two analyses' row status: ``ok``, ``partial``, ``skipped``, ``failed``;
        empty where the name is missing), ``alpha_a``, ``alpha_b``, ``phase_a``, ``phase_b``, ``esd_ks`` (two-sample KS
        distance between the two ESDs), ``rel_frobenius`` (``||W_b - W_a||_F / ||W_a||_F``) and
        ``delta_<c>`` = ``c`` in b minus ``c`` in a for every numeric column ``c`` of the analysis
        table (``N``, ``M``, ``Q``, ``num_evals`` excepted).
    """
    kwargs = {"spectra_cache": spectra_cache} if spectra_cache is not None else {}
    ra, rb = (analyze(m, progress=progress, progress_label=f"rmtkit compare {side}", **kwargs, **options)
              for m, side in ((a, "a"), (b, "b")))
    fa, fb = ra.to_frame(), rb.to_frame()
    sa, sb = spectra_of(ra), spectra_of(rb)
    frob = relative_frobenius(a, b, **{k: v for k, v in options.items() if k in SELECTION_FIELDS})
    metrics = [c for c in fa.columns if c not in _NOT_METRICS and c in fb.columns
               and pd.api.types.is_numeric_dtype(fa[c]) and pd.api.types.is_numeric_dtype(fb[c])]
    ia, ib = fa.set_index("name"), fb.set_index("name")
    rows = []
    for name in list(dict.fromkeys([*fa["name"], *fb["name"]])):
        row: dict[str, Any] = {"name": name, "status_a": ia["status"].get(name), "status_b": ib["status"].get(name)}
        if name not in ib.index or name not in ia.index:
            row.update(status=(PairStatus.ONLY_IN_A if name in ia.index else PairStatus.ONLY_IN_B).value,
                       reason=f"not in {'b' if name in ia.index else 'a'}")
            rows.append(row)
            continue
        ra_, rb_ = ia.loc[name], ib.loc[name]
        row.update(alpha_a=ra_.get("alpha"), alpha_b=rb_.get("alpha"), phase_a=ra_.get("phase"), phase_b=rb_.get("phase"))
        if ra_["shape"] != rb_["shape"]:
            row.update(status=PairStatus.NOT_COMPARABLE.value,
                       reason=f"shape changed: {ra_['shape']} in a, {rb_['shape']} in b")
        elif name not in sa or name not in sb:
            row.update(status=PairStatus.NOT_COMPARABLE.value, reason=_not_analysed(ra_, rb_, name in sa, name in sb))
        else:
            row.update(status=PairStatus.COMPARED.value, esd_ks=ks_distance(sa[name], sb[name]), rel_frobenius=frob.get(name, np.nan))
            row.update({f"delta_{c}": _number(rb_[c]) - _number(ra_[c]) for c in metrics})
        rows.append(row)
    columns = ["name", "status", "reason", "status_a", "status_b", "alpha_a", "alpha_b", "phase_a", "phase_b", "esd_ks", "rel_frobenius",
               *(f"delta_{c}" for c in metrics)]
    out = pd.DataFrame(rows).reindex(columns=columns)
    out.attrs["rmtkit"] = {"compare": {"a": _label(a), "b": _label(b)}, **fa.attrs.get("rmtkit", {})}
    return out


def _not_analysed(ra: pd.Series, rb: pd.Series, in_a: bool, in_b: bool) -> str:
    """Why a row present in both models has no spectrum on a side, the analysis's reason first (its gist, up to
    the first colon, is what the table counts); said once when both sides agree."""
    why = {side: (r["status"], r.get("reason") if isinstance(r.get("reason"), str) else None)
           for side, r, analysed in (("a", ra, in_a), ("b", rb, in_b)) if not analysed}
    if len(why) == 2 and why["a"] == why["b"]:
        why = {"a and b": why["a"]}
    return "; ".join(f"{reason} ({status} in {side})" if reason else f"{status} in {side}"
                     for side, (status, reason) in why.items())


def _number(v: Any) -> float:
    return float(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else np.nan


def _label(model: Any) -> str:
    return str(model) if isinstance(model, str | os.PathLike) else type(model).__name__


# ---------------------------------------------------------------------------------------------
# Fine-tuning deltas
# ---------------------------------------------------------------------------------------------

def analyze_delta(model: Any, base: Any, **kwargs: Any) -> Analysis:
    """:func:`rmtkit.analyze` of ``W - W_base`` for every tensor of ``model`` (``analyze(model, base=base)``;
    :func:`rmtkit.checkpoints.delta.weight_delta`): a table of differences, without training verdicts."""
    return analyze(model, base=base, **kwargs)


# ---------------------------------------------------------------------------------------------
# Series of checkpoints
# ---------------------------------------------------------------------------------------------

def checkpoint_step(path: str | os.PathLike) -> int | None:
    """The last integer in a checkpoint's file name (``epoch_012.safetensors`` -> 12), or None."""
    found = re.findall(r"\d+", Path(path).stem)
    return int(found[-1]) if found else None


def analyze_series(paths: Sequence[str | os.PathLike], **kwargs: Any) -> pd.DataFrame:
    """One long table of :func:`rmtkit.analyze` over checkpoints, with ``checkpoint`` (path) and ``step`` columns.

    Checkpoints are ordered by ``step`` (:func:`checkpoint_step`) when every name has a number,
    else kept in the order given. ``kwargs`` go to :func:`rmtkit.analyze` (e.g. ``spectra_cache``).
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("no checkpoints to analyse")
    steps = [checkpoint_step(p) for p in paths]
    if all(s is not None for s in steps):
        paths = [p for _, p in sorted(zip(steps, paths, strict=True))]
    frames = []
    for path in paths:
        df = analyze(path, **kwargs).to_frame()
        attrs = df.attrs
        df.insert(0, "step", checkpoint_step(path))
        df.insert(0, "checkpoint", path)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["step"] = out["step"].astype("Int64")
    out.attrs = dict(attrs)
    return out


def plot_trajectories(series: pd.DataFrame, path: str | os.PathLike | None = None, *, max_layers: int | None = None):
    """Alpha, MP soft rank and phase of each layer along a checkpoint series (:func:`analyze_series`).

    Layers are lines: every analysed layer (or the first ``max_layers``), in model order. Up to
    ``LEGEND_LAYERS`` of them get a legend; more are coloured along a sequential colour map by
    their position in the model, with a colour bar. The x axis is ``step`` where every checkpoint
    has one, else the checkpoint's position; its ticks are whole numbers. Returns the figure;
    saved to ``path`` when given.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from rmtkit.phases import Phase
    from rmtkit.plot import MIN_TEXT_PT

    analysed = series[series["status"].isin(RowStatus.analysed_values())]
    names = list(dict.fromkeys(analysed["name"]))[:max_layers]
    order = list(dict.fromkeys(series["checkpoint"]))
    has_step = series["step"].notna().all()
    soft = "mp_soft_rank" if "mp_soft_rank" in series.columns else "mp_softrank"
    labels = Phase.labels()
    legend = len(names) <= LEGEND_LAYERS
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    if legend:
        cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
        colour = lambda k: cmap(k % cmap.N)  # noqa: E731
    else:  # too many layers for distinct colours: light (first) to dark (last layer)
        cmap = plt.get_cmap("viridis_r")
        colour = lambda k: cmap(k / max(len(names) - 1, 1))  # noqa: E731
    for k, name in enumerate(names):
        rows = analysed[analysed["name"] == name]
        x = rows["step"].astype(float) if has_step else rows["checkpoint"].map(order.index)
        style = {"color": colour(k), "marker": "o", "ms": 3, "lw": 1.2, "label": name}
        axes[0].plot(x, rows["alpha"].astype(float), **style)
        axes[1].plot(x, rows[soft].astype(float), **style)
        jitter = (k - (len(names) - 1) / 2) * 0.5 / max(len(names), 1)  # layers side by side within a phase row
        axes[2].plot(x, rows["phase"].map(lambda p: labels.index(p) if p in labels else np.nan) + jitter,
                     drawstyle="steps-post", **style)  # a phase holds until the next checkpoint says otherwise
    axes[0].set_ylabel(r"power-law exponent $\alpha$")
    axes[0].axhspan(2, 6, color="0.94", zorder=0, label=None)
    axes[0].text(0.02, 0.98, r"shaded: $2 < \alpha < 6$", transform=axes[0].transAxes, va="top", fontsize=MIN_TEXT_PT,
                 color="0.35")
    axes[1].set_ylabel(r"MP soft rank $\lambda_+ / \lambda_{max}$")
    axes[1].set_ylim(0, 1.05)
    axes[2].set_yticks(range(len(labels)), labels)
    axes[2].set_ylim(-0.6, len(labels) - 0.4)
    axes[2].set_ylabel("phase")
    for ax in axes:
        ax.set_xlabel("step" if has_step else "checkpoint")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps and positions are whole numbers
        ax.grid(alpha=0.3)
    axes[0].set_title("heavy-tail exponent", fontsize=10)
    axes[1].set_title("MP soft rank", fontsize=10)
    axes[2].set_title(f"phase ({len(names)} layers)", fontsize=10)
    if legend:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=min(len(names), 4),
                   fontsize=MIN_TEXT_PT, frameon=False)
    else:
        bar = fig.colorbar(plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(1, len(names))), ax=axes,
                           location="bottom", shrink=0.5, aspect=40)
        bar.set_label(f"layer, in model order: 1 = {names[0]}, {len(names)} = {names[-1]}", fontsize=MIN_TEXT_PT)
        bar.ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig
