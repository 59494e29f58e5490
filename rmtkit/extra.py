"""The further diagnostics of :mod:`rmtkit.diagnostics` for every layer of an analysed model.

:func:`analyze_extra` reads the spectra and ``xmin`` of an :class:`rmtkit.Analysis` (det X = 1)
and the weights one layer at a time (localization, correlation traps). The per-spectrum and
per-layer functions live in :mod:`rmtkit.diagnostics` and are re-exported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rmtkit.analysis import SELECTION_FIELDS, Analysis
from rmtkit.analyzer import analyze
from rmtkit.checkpoints import load_weights
from rmtkit.columns import EXTRA_COLUMNS, TRAP_COLUMNS, VECTOR_COLUMNS
from rmtkit.compare import spectra_of
from rmtkit.diagnostics import (
    DetX,
    Trap,
    correlation_traps,
    detx,
    layer_extras,
    layer_seed,
    localization,
    participation_ratio,
)
from rmtkit.layers import extract_layers

__all__ = ["EXTRA_COLUMNS", "TRAP_COLUMNS", "VECTOR_COLUMNS", "DetX", "Trap", "analyze_extra", "correlation_traps",
           "detx", "layer_extras", "localization", "participation_ratio"]


def analyze_extra(model: Any, analysis: Any = None, *, detx_tail: bool = True, vectors: bool = False,
                  traps: bool = False, seed: int | None = None, k: int = 10, **options: Any) -> pd.DataFrame:
    """The diagnostics of this module for every layer :func:`rmtkit.analyze` fits, one row per layer.

    Args:
        model: what :func:`rmtkit.analyze` reads.
        analysis: the :class:`rmtkit.Analysis` of ``model``, whose eigenvalues and ``xmin`` are
            read (nothing is recomputed); analysed here when None.
        detx_tail: the det X = 1 columns ``detx_num``, ``detx_lambda``, ``detx_gap``.
        vectors: eigenvector localization (``vec_pr``, ``vec_pr_random``, ``vec_localization``).
        traps: correlation traps (``traps``, ``trap_entries``: ``row,col`` of each, ``;``-separated); needs ``seed``.
        seed: seed of the shuffles (required with ``traps=True``; each layer's is keyed by ``seed`` and its name,
            :func:`rmtkit.diagnostics.layer_seed`).
        k: eigenvectors per matrix for ``vectors``.
        **options: :func:`rmtkit.analyze` options (layer selection, convention).

    Returns:
        A DataFrame with the columns of ``EXTRA_COLUMNS`` that were asked for, to merge on ``name``.
    """
    if traps and seed is None:
        raise ValueError("traps=True needs an explicit seed (the shuffle is random; the same seed gives the same traps)")
    if analysis is None and detx_tail:
        analysis = analyze(model, progress=False, **options)
    if analysis is not None and not isinstance(analysis, Analysis):
        raise TypeError(f"analysis must be the Analysis that rmtkit.analyze returned, not a {type(analysis).__name__}")
    rows: dict[str, dict[str, Any]] = {}
    if detx_tail:
        spectra = spectra_of(analysis)
        xmins = analysis.to_frame().set_index("name")["xmin"]
        for name, ev in spectra.items():
            xmin = xmins.get(name)
            d = detx(ev, None if xmin is None or pd.isna(xmin) else float(xmin))
            rows.setdefault(name, {}).update(detx_num=d.num if d.num else np.nan, detx_lambda=d.lam, detx_gap=d.gap)
    if vectors or traps:
        selection = {key: v for key, v in options.items() if key in SELECTION_FIELDS}
        layers, _ = extract_layers(load_weights(model), **selection)
        for layer in layers:
            layer_seed_ = layer_seed(seed, layer.name) if traps else None
            rows.setdefault(layer.name, {}).update(layer_extras(layer, vectors=vectors, seed=layer_seed_, k=k))
    wanted = ["name"] + [c for c in EXTRA_COLUMNS[1:] if any(c in r for r in rows.values())]
    return pd.DataFrame([{"name": n, **r} for n, r in rows.items()]).reindex(columns=wanted)
