"""Matplotlib figures of spectra and fits. Functions draw on an ``Axes`` (created if not given) and return it;
saving is the caller's business (``fig.savefig``), so the library writes no files here."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike

from rmtkit.marchenko_pastur import MPFit, marchenko_pastur_pdf


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
    ax=None,
):
    """Histogram of one ESD (density), with the fitted MP density, ``l+`` and the spike threshold marked.

    Args:
        eigs: ``(M,)`` eigenvalues.
        q: aspect ratio, needed to draw the MP density of ``fit``.
        fit: an unbatched :class:`~rmtkit.MPFit`; spikes (beyond ``fit.threshold``) are drawn as ticks.
        log_x: log-spaced bins on a log axis (heavy-tailed spectra).
    """
    ax = _axes(ax)
    x = np.asarray(eigs, float)
    x = x[np.isfinite(x)]
    if log_x:
        pos = x[x > 0]
        edges = np.geomspace(pos.min(), pos.max(), 60 if bins == "auto" else int(bins))
        ax.hist(pos, bins=edges, density=True, color="0.7", label="ESD")
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
        pad = 1e-3 * max(abs(hi), 1e-300) if hi - lo <= 1e-6 * abs(hi) else 0.0  # all equal: one visible bar
        ax.hist(x, bins=bins, range=(lo - pad, hi + pad), density=True, color="0.7", label="ESD")
    if fit is not None and int(fit.status) == 0:
        lp, thr, sigma = float(fit.lambda_plus), float(fit.threshold), float(fit.sigma)
        if q is not None:
            grid = np.linspace(float(fit.lambda_minus), lp, 400)[1:-1]
            ax.plot(grid, np.asarray(marchenko_pastur_pdf(grid, q, sigma)), "C0",
                    label=f"MP fit: sigma={sigma:.3g}, D={float(fit.D):.3f}")
        ax.axvline(lp, color="C0", ls="--", lw=1, label=r"$\lambda_+$")
        ax.axvline(thr, color="C3", ls=":", lw=1, label=r"$\lambda_+$ + TW")
        spikes = x[x > thr]
        if spikes.size:
            # Ticks pinned to the bottom of the axes (x in data, y in axes units): visible on log axes too.
            ax.plot(spikes, np.full_like(spikes, 0.03), "|", color="C3", ms=14, mew=2,
                    transform=ax.get_xaxis_transform(), label=f"{spikes.size} spike{'s' * (spikes.size != 1)}")
    ax.set_xlabel(r"$\lambda$")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_fit_vs_truth(truth: Sequence[float], fitted: Sequence[float], *, label: str = "sigma",
                      groups: Sequence[str] | None = None, ax=None):
    """Scatter of a fitted quantity against its ground truth with the identity line."""
    ax = _axes(ax)
    truth, fitted = np.asarray(truth, float), np.asarray(fitted, float)
    groups = np.asarray(groups if groups is not None else [""] * truth.size)
    for i, g in enumerate(dict.fromkeys(groups)):
        sel = groups == g
        ax.plot(truth[sel], fitted[sel], "o", ms=4, alpha=0.6, color=f"C{i}", label=g or None)
    finite = np.isfinite(truth) & np.isfinite(fitted)
    if finite.any():
        lo = min(truth[finite].min(), fitted[finite].min())
        hi = max(truth[finite].max(), fitted[finite].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="identity")
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"fitted {label}")
    ax.legend(fontsize=7)
    return ax


def plot_counts(planted: Sequence[int], found: Sequence[int], *, groups: Sequence[str] | None = None, ax=None):
    """Spikes found against spikes planted, jittered so that repeated draws stay visible."""
    ax = _axes(ax)
    planted, found = np.asarray(planted, float), np.asarray(found, float)
    keep = np.isfinite(planted) & np.isfinite(found)
    planted, found = planted[keep], found[keep]
    rng = np.random.default_rng(0)  # jitter only: fixed so the figure is reproducible
    jitter = rng.uniform(-0.15, 0.15, planted.size)
    groups = np.asarray(groups if groups is not None else [""] * keep.size)[keep]
    for i, g in enumerate(dict.fromkeys(groups)):
        sel = groups == g
        ax.plot(planted[sel] + jitter[sel], found[sel], "o", ms=4, alpha=0.5, color=f"C{i}", label=g or None)
    top = max(planted.max(initial=0), found.max(initial=0)) + 1
    ax.plot([0, top], [0, top], "k--", lw=1, label="found = planted")
    ax.set_xlabel("spikes planted")
    ax.set_ylabel("spikes found")
    ax.legend(fontsize=7)
    return ax


#: One colour per phase, from the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies).
PHASE_COLORS = {"random-like": "#0072B2", "bleeding-out": "#009E73", "bulk+spikes": "#E69F00",
                "bulk-decay": "#CC79A7", "heavy-tailed": "#D55E00", "rank-collapse": "#000000"}


def plot_tail(eigs: ArrayLike, *, alpha: float, xmin: float, xmax: float | None = None, title: str | None = None,
              ax=None):
    """Log-log complementary cdf of an ESD with the fitted power-law tail ``P(X > x) ∝ x^(1 - alpha)`` from ``xmin``."""
    ax = _axes(ax)
    x = np.sort(np.asarray(eigs, float))
    x = x[(x > 0) & np.isfinite(x)]
    ccdf = 1 - np.arange(x.size) / x.size
    ax.loglog(x, ccdf, ".", ms=3, color="0.5", label="ESD (ccdf)")
    if np.isfinite(alpha) and np.isfinite(xmin):
        frac = np.mean(x >= xmin)
        top = x[-1] if xmax is None or not np.isfinite(xmax) else xmax
        grid = np.geomspace(xmin, top, 100)
        if xmax is None or not np.isfinite(xmax):
            model = frac * (grid / xmin) ** (1 - alpha)
        else:  # truncated law: ccdf falls to 0 at xmax
            model = frac * (grid ** (1 - alpha) - top ** (1 - alpha)) / (xmin ** (1 - alpha) - top ** (1 - alpha))
        ax.loglog(grid, model, "C3-", lw=1.5, label=rf"power law $\alpha$={alpha:.2f}")
        ax.axvline(xmin, color="C3", ls=":", lw=1, label=r"$x_{min}$")
    ax.set_xlabel(r"$\lambda$")
    ax.set_ylabel(r"P($\Lambda > \lambda$)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_model(df, *, ax=None):
    """Per-layer alpha of an :func:`rmtkit.analyze` table, coloured by phase, with the usual alpha bands."""
    ax = ax if ax is not None else plt.subplots(figsize=(max(6, 0.18 * len(df)), 3.8))[1]
    ok = df[df["status"] == "ok"].reset_index(drop=True)
    for label, color in PHASE_COLORS.items():
        sel = ok["phase"] == label
        if sel.any():
            ax.scatter(np.flatnonzero(sel), ok.loc[sel, "alpha"].astype(float), color=color, s=22, label=label)
    ax.axhspan(2, 6, color="0.92", zorder=0, label=r"2 < $\alpha$ < 6")
    ax.set_xticks(range(len(ok)))
    ax.set_xticklabels(ok["name"], rotation=90, fontsize=5)
    ax.set_ylabel(r"$\alpha$")
    ax.set_yscale("log")
    ax.legend(fontsize=7, ncol=3)
    return ax


def save_model_plots(df, spectra: dict, out_dir) -> tuple[int, dict[str, str]]:
    """Write ``model.png`` (alpha and phase per layer) and one ``<layer>.png`` (ESD + MP fit, log-log tail) per analysed layer.

    One figure failing (a layer whose fit failed, a name the file system refuses) never stops the
    others. Returns the number of figures written and ``{figure: why}`` for those that were not.
    """
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, failures = 0, {}

    def save(name: str, draw) -> None:
        nonlocal written
        fig = None
        try:
            fig = draw()
            fig.tight_layout()
            fig.savefig(out / f"{_file_name(name)}.png", dpi=100 if name != "model" else 120)
            written += 1
        except Exception as err:  # noqa: BLE001 - matplotlib and the file system raise many types; each is reported
            failures[name] = f"{type(err).__name__}: {err}"
        finally:
            plt.close(fig if fig is not None else "all")

    save("model", lambda: plot_model(df).figure)
    for row in df[df["status"].isin(["ok", "partial"])].itertuples():
        if row.name in spectra:
            save(row.name, lambda row=row: _layer_figure(row, spectra[row.name]))
        else:
            failures[row.name] = "no spectrum for this layer"
    return written, failures


def _layer_figure(row, ev):
    from rmtkit.marchenko_pastur import fit_marchenko_pastur

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    fit = fit_marchenko_pastur(ev, row.Q) if getattr(row, "mp_status", "ok") == "ok" else None
    plot_esd(ev, q=row.Q, fit=fit, bins=80, title=f"{row.name}: {row.phase}", ax=a1)
    plot_tail(ev, alpha=_number(row.alpha), xmin=_number(row.xmin), title=row.name, ax=a2)
    return fig


def _number(value) -> float:
    return float(value) if value is not None else np.nan


def _file_name(name: str) -> str:
    """A file name for a layer: characters other than letters, digits, ``._-`` become ``_``; at most 150 long."""
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_"
    if len(safe) > 150:  # the file system's limit is 255 bytes; keep names distinct with a short hash
        safe = safe[:140] + "-" + hashlib.sha1(name.encode("utf-8", "backslashreplace")).hexdigest()[:8]
    return safe
