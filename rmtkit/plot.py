"""Matplotlib figures of spectra, fits and whole-model analyses.

``plot_*`` functions draw on an ``Axes`` (created if not given) and return it; the caller saves it.
:func:`save_model_plots` is the one function here that writes files: the figures of an
:class:`rmtkit.analysis.Analysis` (``rmtkit analyze --plots DIR``), drawn from the fits the
analysis made (nothing is loaded or fitted again).

Figures follow a few rules so they can be shown as they are: text of at least ``MIN_TEXT_PT``
points, an ESD on log axes unless its MP fit holds (a bulk, a few spikes), the MP curve and spike
marks only where it holds (spikes as a light rug and a count), one colour-blind-safe phase palette
(:data:`PHASE_COLORS`). On log axes an ESD is drawn as counts per log-spaced bin, never as a
density per unit ``lambda`` (which turns one eigenvalue near ``1e-7`` into a bar of ``1e5``); a
tail panel spans at most ``TAIL_DECADES`` below ``xmin``, so the fit is not squeezed into its last
decade.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike

from rmtkit.marchenko_pastur import MPFit, marchenko_pastur_pdf
from rmtkit.powerlaw import PowerLawFit

#: Smallest font size of any text in the figures (points).
MIN_TEXT_PT = 8
#: One colour per phase, from the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies).
PHASE_COLORS = {"random-like": "#0072B2", "bleeding-out": "#009E73", "bulk+spikes": "#E69F00",
                "bulk-decay": "#CC79A7", "heavy-tailed": "#D55E00", "rank-collapse": "#000000"}
#: Colours of the fits and of the shuffled-W baseline (Okabe-Ito, apart from the phases').
_FIT, _SPIKE, _RANDOM = "#0072B2", "#D55E00", "#56B4E9"
#: Styles of the further densities of :func:`plot_esd` (Okabe-Ito colours, distinct dashes).
_CURVE_STYLES = ({"color": "#009E73", "ls": "--"}, {"color": "#CC79A7", "ls": "-."}, {"color": "0.3", "ls": ":"})
#: Decades of eigenvalues a tail panel shows below ``xmin`` (below the largest eigenvalue: twice as many).
TAIL_DECADES = 2
#: The y label of an ESD on log axes.
LOG_BIN_LABEL = "eigenvalues per log-spaced bin"


def _axes(ax):
    return ax if ax is not None else plt.subplots(figsize=(5, 3.5))[1]


def plot_esd(
    eigs: ArrayLike,
    *,
    q: float | None = None,
    fit: MPFit | None = None,
    bins: int | str = "auto",
    log_x: bool = False,
    title: str | None = None,
    mp_holds: bool | None = None,
    randomized: ArrayLike | None = None,
    curves: Sequence[tuple[str, ArrayLike, ArrayLike]] = (),
    ax=None,
):
    """Histogram of one ESD; where the MP fit holds, its density, ``l+`` and the spikes.

    On linear axes the histogram is a density per unit ``lambda``; with ``log_x`` it counts the
    eigenvalues in each log-spaced bin (one eigenvalue is a bar of height 1, wherever it lies), and
    every density curve is drawn as the count it predicts per bin, ``n rho(lambda) lambda dln(lambda)``.

    Args:
        eigs: ``(M,)`` eigenvalues. Exact zeros (null eigenvalues set to 0 by the analysis) are
            left out of the histogram, and the legend says how many. Raises ``ValueError`` when
            none is finite.
        q: aspect ratio of ``fit``, needed to draw the MP density.
        fit: an unbatched :class:`~rmtkit.MPFit`. Its curve, ``l+``, ``l+ + 3 Delta_TW`` and the
            spikes beyond it (a light rug and their count) are drawn only where the fit holds.
        log_x: log-spaced bins on log-log axes (heavy tails; where the MP fit does not hold).
        title: axes title.
        mp_holds: whether the MP fit describes the bulk (the analyzer's verdict,
            :func:`rmtkit.phases.mp_bulk_holds`); ``None``: wherever the fit succeeded.
        randomized: eigenvalues of the elementwise-shuffled ``W``, overlaid as an outline.
        curves: further densities per unit ``lambda`` to overlay, ``(label, lambda, rho(lambda))``
            each (e.g. the MP law of a random matrix of the same shape), in the panel's units.
    """
    ax = _axes(ax)
    x = np.asarray(eigs, float)
    x = x[np.isfinite(x)]
    if not x.size:
        raise ValueError("no finite eigenvalue to draw")
    zeros = int(np.sum(x == 0))
    label = "ESD"
    if 0 < zeros < x.size:  # all zero: drawn as they are
        x = x[x != 0]
        label += f" ({zeros} zero eigenvalue{'s' * (zeros != 1)} not shown)"
    log_x = log_x and bool(np.any(x > 0))
    rand = None if randomized is None else np.asarray(randomized, float)
    if rand is not None:
        rand = rand[np.isfinite(rand) & (rand > 0 if log_x else rand != 0)]
    if log_x:
        pos = x[x > 0]
        both = pos if rand is None or not rand.size else np.concatenate([pos, rand])
        edges = np.geomspace(both.min(), both.max() * (1 + 1e-9), (60 if bins == "auto" else int(bins)) + 1)
        ax.hist(pos, bins=edges, color="0.7", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        per_bin = pos.size * np.log(edges[1] / edges[0])  # n dln(lambda)
    else:
        both = x if rand is None or not rand.size else np.concatenate([x, rand])
        lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
        pad = 1e-3 * max(abs(hi), 1e-300) if hi - lo <= 1e-6 * abs(hi) else 0.0  # all equal: one visible bar
        edges = np.histogram_bin_edges(x, bins=bins, range=(lo - pad, hi + pad))
        ax.hist(x, bins=edges, density=True, color="0.7", label=label)

    def units(grid, rho):  # a density per unit lambda in the panel's units (log axes: its count per bin)
        return np.asarray(rho) * (np.asarray(grid) * per_bin if log_x else 1.0)
    if rand is not None and rand.size:
        ax.hist(rand, bins=edges, density=not log_x, histtype="step", color=_RANDOM, lw=1.2, label="shuffled W")
    holds = fit is not None and (int(fit.status) == 0 if mp_holds is None else bool(mp_holds))
    if holds:
        lp, thr, sigma = float(fit.lambda_plus), float(fit.threshold), float(fit.sigma)
        if q is not None:
            grid = np.linspace(float(fit.lambda_minus), lp, 400)[1:-1]
            ax.plot(grid, units(grid, marchenko_pastur_pdf(grid, q, sigma)), color=_FIT,
                    label=f"MP fit: sigma={sigma:.3g}, D={float(fit.D):.3f}")
        ax.axvline(lp, color=_FIT, ls="--", lw=1, label=r"$\lambda_+$")
        ax.axvline(thr, color=_SPIKE, ls=":", lw=1, label=r"$\lambda_+ + 3\,\Delta_{TW}$")
        spikes = x[x > thr]
        if spikes.size:  # a light rug at the bottom (x in data, y in axes units: visible on log axes too)
            ax.vlines(spikes, 0, 0.05, transform=ax.get_xaxis_transform(), color=_SPIKE, lw=0.8, alpha=0.6,
                      label=f"{spikes.size} spike{'s' * (spikes.size != 1)}")
    for i, (name, grid, rho) in enumerate(curves):
        ax.plot(np.asarray(grid), units(grid, rho), lw=1.5, label=name, **_CURVE_STYLES[i % len(_CURVE_STYLES)])
    if log_x:
        ax.set_ylim(bottom=0.5)  # a bin of one eigenvalue stays visible
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))  # counts: 1, 10, 100
    ax.set_xlabel(r"eigenvalue $\lambda$")
    ax.set_ylabel(LOG_BIN_LABEL if log_x else "density")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=MIN_TEXT_PT)
    return ax


def log_histogram(ax, values: ArrayLike, bins: int = 60, **style) -> float:
    """Counts per log-spaced bin of the positive ``values`` on log-log axes (an ESD with no MP bulk).

    One eigenvalue is a bar of height 1 wherever it lies (a density per unit ``lambda`` would make
    one eigenvalue near ``1e-7`` a bar of ``1e5``). Returns ``n dln(lambda)``: a density per unit
    ``lambda``, ``rho``, is drawn in the panel's units as ``rho(lambda) * lambda * n dln(lambda)``.
    """
    pos = np.asarray(values, float)
    pos = pos[np.isfinite(pos) & (pos > 0)]
    edges = np.geomspace(pos.min(), pos.max() * (1 + 1e-9), bins + 1)
    ax.hist(pos, bins=edges, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel(LOG_BIN_LABEL)
    return pos.size * float(np.log(edges[1] / edges[0]))


def plot_tail(
    eigs: ArrayLike,
    *,
    fit: PowerLawFit | None = None,
    alpha: float | None = None,
    xmin: float | None = None,
    xmax: float | None = None,
    warning: str | None = None,
    title: str | None = None,
    ax=None,
):
    """Log-log complementary cdf of an ESD with the fitted power-law tail ``P(X > x) ∝ x^(1 - alpha)`` from ``xmin``.

    Args:
        eigs: ``(M,)`` eigenvalues. The positive ones are drawn from ``TAIL_DECADES`` below ``xmin``
            (without a fit: twice as many below the largest) to the largest; the box counts those
            left of the axis (the ccdf keeps counting them).
        fit: an unbatched :class:`~rmtkit.PowerLawFit`: the line (bounded at its ``xmax``, if any), and
            a box with ``alpha +- sigma``, ``xmin``, ``n_tail`` and ``D``. Or give ``alpha``, ``xmin``
            (and ``xmax``) alone.
        warning: the analysis' ``warning`` for the layer, added to the box.
        title: axes title.
    """
    ax = _axes(ax)
    x = np.sort(np.asarray(eigs, float))
    x = x[(x > 0) & np.isfinite(x)]
    ccdf = 1 - np.arange(x.size) / x.size
    if fit is not None:
        alpha, xmin, xmax = float(fit.alpha), float(fit.xmin), float(fit.xmax)
    alpha, xmin = _number(alpha), _number(xmin)
    fitted = np.isfinite(alpha) and np.isfinite(xmin) and x.size
    lines = []
    if x.size:  # the tail and TAIL_DECADES below xmin: the fit is not squeezed into the last decade
        left = max(x[0], xmin / 10**TAIL_DECADES if fitted else x[-1] / 10 ** (2 * TAIL_DECADES))
        hidden = int(np.sum(x < left))
        if hidden:
            lines.append(f"{hidden} smaller eigenvalue{'s' * (hidden != 1)} left of the axis")
        shown = x >= left
        ax.loglog(x[shown], ccdf[shown], ".", ms=3, color="0.5", label="ESD (ccdf)")
    if fitted:
        bounded = xmax is not None and np.isfinite(xmax)
        frac = np.mean(x >= xmin)
        top = xmax if bounded else x[-1]
        grid = np.geomspace(xmin, top, 100)
        if bounded:  # bounded law: ccdf falls to 0 at xmax
            model = frac * (grid ** (1 - alpha) - top ** (1 - alpha)) / (xmin ** (1 - alpha) - top ** (1 - alpha))
        else:
            model = frac * (grid / xmin) ** (1 - alpha)
        ax.loglog(grid[model > 0], model[model > 0], "-", color=_SPIKE, lw=1.5,
                  label=f"power law bounded at xmax = {top:.3g}" if bounded else "power-law fit")
        ax.axvline(xmin, color=_SPIKE, ls=":", lw=1, label=r"$x_{min}$")
        if fit is not None:
            lines[:0] = [rf"$\alpha$ = {alpha:.2f} $\pm$ {float(fit.sigma):.2f}", f"xmin = {xmin:.3g}",
                         f"n_tail = {int(fit.n_tail)}", f"D = {float(fit.D):.3f}"]
        else:
            lines[:0] = [rf"$\alpha$ = {alpha:.2f}", f"xmin = {xmin:.3g}"]
    elif fit is not None:
        lines.insert(0, "no power-law fit")
    if warning:
        lines += textwrap.wrap(f"warning: {warning}", 34, break_on_hyphens=False)
    if x.size:
        ax.set_xlim(left / 1.3, x[-1] * 1.3)
        ax.set_ylim(0.5 / x.size, 1.5)
    ax.set_xlabel(r"eigenvalue $\lambda$")
    ax.set_ylabel(r"P($\Lambda > \lambda$)")
    if title:
        ax.set_title(title, fontsize=9)
    # One box (the fit's numbers above the line keys), where the points are not: a ccdf falls from the
    # upper left to the lower right, so "best" finds an empty corner.
    legend = ax.legend(fontsize=MIN_TEXT_PT, title="\n".join(lines) or None, title_fontsize=MIN_TEXT_PT,
                       alignment="left", loc="best")
    legend.get_frame().set_alpha(0.9)
    return ax


def layer_groups(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Each layer's group (its block: the first number in its name, else its own short name) and type.

    ``encoder.layer.3.attention.self.query.weight`` is in group ``"3"`` with type
    ``attention.self.query``; ``embeddings.word_embeddings.weight`` in group and type
    ``embeddings.word_embeddings``. Suffixes ``.weight``/``.kernel`` are dropped.
    """
    groups, types = [], []
    for name in names:
        short = re.sub(r"\.(weight|kernel|w)$", "", name)
        block = re.search(r"(^|[._/])(\d+)([._/]|$)", short)
        if block:
            groups.append(block.group(2))
            types.append(short[block.end():] or short[: block.start()] or short)
        else:
            groups.append(short)
            types.append(short)
    return groups, types


_MARKERS = "osD^vP*X<>hp"


def plot_model(results, *, title: str | None = None, ax=None):
    """Per-layer alpha of an analysis, grouped by block, coloured by phase, one marker per layer type.

    Args:
        results: an :class:`rmtkit.analysis.Analysis` or its table (``to_frame()``).
        title: figure title (default: the layer count and the eigenvalue convention).

    The x axis holds one slot per block (the first number in a layer's name; layers without one
    get a slot of their own, labelled with their name), in model order; the layers of a block sit
    side by side in it. The band ``2 < alpha < 6`` is shaded (WeightWatcher's well-trained range).
    """
    from rmtkit.analysis import as_frame

    df = as_frame(results)
    ok = df[df["status"].isin(["ok", "partial"]) & np.isfinite(df["alpha"].astype(float))].reset_index(drop=True)
    groups, types = layer_groups(list(ok["name"]))
    slots = list(dict.fromkeys(groups))
    kinds = list(dict.fromkeys(types))
    numbered = [g for g in slots if g.isdigit()]
    width = float(np.clip(3.5 + 0.35 * len(slots) + (2.5 if len(kinds) <= 12 else 0), 6.5, 14))
    ax = ax if ax is not None else plt.subplots(figsize=(width, 4.2))[1]
    ax.axhspan(2, 6, color="0.9", zorder=0, label=r"2 < $\alpha$ < 6")
    per_slot = {g: [t for t, gg in zip(types, groups, strict=True) if gg == g] for g in slots}
    xs = np.empty(len(ok))
    for i, (g, t) in enumerate(zip(groups, types, strict=True)):
        members = list(dict.fromkeys(per_slot[g]))
        k = members.index(t)
        xs[i] = slots.index(g) + (k - (len(members) - 1) / 2) * min(0.7 / max(len(members), 1), 0.15)
    alpha = ok["alpha"].astype(float).to_numpy()
    for t_i, kind in enumerate(kinds):
        sel = np.array([t == kind for t in types])
        colors = [PHASE_COLORS.get(p, "0.5") if isinstance(p, str) else "0.5" for p in ok.loc[sel, "phase"]]
        ax.scatter(xs[sel], alpha[sel], c=colors, marker=_MARKERS[t_i % len(_MARKERS)], s=30, edgecolors="white",
                   linewidths=0.4, zorder=3)
    ax.set_yscale("log")
    _alpha_ticks(ax, alpha)
    ax.set_xticks(range(len(slots)))
    step = max(1, int(np.ceil(len(slots) / 40)))
    labels = [g if i % step == 0 else "" for i, g in enumerate(slots)]
    long = max((len(s) for s in labels), default=0) > 4
    ax.set_xticklabels(labels, rotation=30 if long else 0, ha="right" if long else "center", fontsize=MIN_TEXT_PT + 1)
    ax.set_xlim(-0.6, len(slots) - 0.4)
    ax.set_xlabel("block (layer number in the name)" if numbered else "layer")
    ax.set_ylabel(r"power-law exponent $\alpha$")
    meta = df.attrs.get("rmtkit", {})
    ax.set_title(title or f"Power-law alpha of {len(ok)} layers ({meta.get('convention', 'lambda = s^2')}); "
                 f"colour: phase, marker: layer type", fontsize=10)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color="0.9", label=r"2 < $\alpha$ < 6")]
    handles += [Patch(color=c, label=p) for p, c in PHASE_COLORS.items() if (ok["phase"] == p).any()]
    if len(kinds) <= 12:
        handles += [Line2D([], [], ls="", marker=_MARKERS[i % len(_MARKERS)], color="0.35", label=k)
                    for i, k in enumerate(kinds)]
    ax.legend(handles=handles, fontsize=MIN_TEXT_PT, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def _alpha_ticks(ax, alpha: np.ndarray) -> None:
    """Plain-number ticks on the log alpha axis (1, 2, 3, 5, 10, ...), never ``6x10^0``."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    finite = alpha[np.isfinite(alpha) & (alpha > 0)]
    lo, hi = (min(finite.min(), 2.0), max(finite.max(), 6.0)) if finite.size else (1.0, 10.0)
    ax.set_ylim(lo / 1.15, hi * 1.15)
    ticks = [t for t in (0.5, 1, 1.5, 2, 3, 4, 6, 8, 10, 15, 20, 30, 50, 100, 200, 500, 1000) if lo / 1.15 <= t <= hi * 1.15]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


def save_model_plots(analysis, out_dir) -> tuple[int, dict[str, str]]:
    """Write ``model.png`` (alpha and phase per layer) and one ``<layer>.png`` (ESD, log-log tail) per analysed layer.

    Args:
        analysis: an :class:`rmtkit.analysis.Analysis`; its spectra and fits are drawn as they are.
        out_dir: the folder (created if missing).

    One figure failing (a spectrum that cannot be drawn, a name the file system refuses) never stops
    the others, and no figure replaces another (:func:`figure_file_names`). Returns the number of
    figures written and ``{figure: why}`` for those that were not.
    """
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, failures = 0, {}

    def save(name: str, draw, file: str | None = None) -> None:  # file None: the model chart
        nonlocal written
        fig = None
        try:
            fig = draw()
            # Layer figures have fixed margins (layer_figure): a tight bounding box would lay them out twice.
            tight = {"bbox_inches": "tight"} if file is None else {}
            fig.savefig(out / f"{file or 'model'}.png", dpi=100 if file is not None else 120, **tight)
            written += 1
        except Exception as err:  # noqa: BLE001 - matplotlib and the file system raise many types; each is reported
            failures[name] = f"{type(err).__name__}: {err}"
        finally:
            plt.close(fig if fig is not None else "all")

    table = analysis.table
    layers = list(table.loc[table["status"].isin(["ok", "partial"]), "name"])
    files = figure_file_names(layers)
    save("model", lambda: plot_model(analysis).figure)
    for name in layers:
        if name in analysis.names:
            save(name, lambda name=name: layer_figure(analysis.layer(name)), files[name])
        else:
            failures[name] = "no spectrum for this layer"
    return written, failures


def figure_file_names(layers: list[str]) -> dict[str, str]:
    """A distinct file name (no ``.png``) per layer, none of them ``model`` (the model chart's).

    A layer's name made safe (:func:`_file_name`), unless another figure gets the same one (``"a/b"``
    and ``"a_b"``, a layer named ``model``, ``Model`` and ``model`` on a case-blind disk): then each of
    those layers' names ends in ``-`` and 8 hex digits of its name's SHA-1, so no figure replaces another.
    """
    import hashlib

    safe = {name: _file_name(name) for name in layers}
    taken: dict[str, int] = {"model": 1}
    for name in layers:
        taken[safe[name].casefold()] = taken.get(safe[name].casefold(), 0) + 1
    out = {}
    for name in layers:
        if taken[safe[name].casefold()] > 1:
            digest = hashlib.sha1(name.encode("utf-8", "backslashreplace")).hexdigest()[:8]
            out[name] = f"{safe[name][:140]}-{digest}"
        else:
            out[name] = safe[name]
    return out


def layer_figure(layer):
    """The figure of one layer (:meth:`rmtkit.analysis.Analysis.layer`): its ESD beside its log-log tail.

    The ESD is on linear axes with the MP fit where that fit holds (:func:`rmtkit.phases.mp_bulk_holds`),
    on log axes otherwise; the shuffled-``W`` ESD is overlaid when the analysis has it. The tail panel
    shows the eigenvalues the power-law fit read: with ``esd="farms"``, the windows' pooled ESD.
    """
    from rmtkit.phases import mp_bulk_holds

    holds = bool(mp_bulk_holds(layer.phase_features))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    plot_esd(layer.evals, q=layer.mp_q, fit=layer.mp, bins=80, log_x=not holds, mp_holds=holds,
             randomized=layer.randomized, title=f"{layer.name}\nESD: {layer.phase or 'no phase'}", ax=a1)
    farms = layer.tail_evals is not None  # esd="farms": the fit read the pooled ESD of the windows
    plot_tail(layer.tail_evals if farms else layer.evals, fit=layer.pl, warning=layer.warning,
              title=f"{layer.name}\ntail" + (" (FARMS: pooled ESD of the windows)" if farms else ""), ax=a2)
    # Fixed margins, not tight_layout: the same layout, at a third less drawing time per figure.
    fig.subplots_adjust(left=0.07, right=0.985, bottom=0.13, top=0.85, wspace=0.2)
    return fig


def _number(value) -> float:
    return float(value) if value is not None else np.nan


def _file_name(name: str) -> str:
    """A file name for a layer: characters other than letters, digits, ``._-`` become ``_``; at most 150 long."""
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_"
    if len(safe) > 150:  # the file system's limit is 255 bytes; keep names distinct with a short hash
        safe = safe[:140] + "-" + hashlib.sha1(name.encode("utf-8", "backslashreplace")).hexdigest()[:8]
    return safe
