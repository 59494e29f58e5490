"""Model-level figures of an analysis: means of the metrics, phase and warning counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rmtkit import phases
from rmtkit.analysis import Analysis, as_frame
from rmtkit.layer_warnings import WARNING_CATEGORIES, warning_categories
from rmtkit.status import RowStatus


def summarize(results: Analysis | pd.DataFrame) -> pd.Series:
    """Model-level figures over the analysed layers: means of the metrics, phase and warning counts.

    ``alpha_hat`` is the [MPM-NC] model metric, the mean of ``alpha * log10(lambda_max)`` over the
    layers; ``mean_log_alpha_norm`` the mean log alpha-norm; ``layers_in_alpha_hat`` and
    ``layers_in_log_alpha_norm`` say how many layers entered each. ``phase_<label>`` counts layers
    per phase, ``warning_<category>`` layers per warning category (a layer may count in several).
    Layers are analysed when their status is ``ok`` or ``partial`` (a fit failed; its numbers are NaN).
    Means are over the finite values only: a failed fit's NaN never enters an average.

    ``results`` is an :class:`rmtkit.analysis.Analysis` or its table (``.to_frame()``, or one read
    back by :func:`rmtkit.results.read_results`).
    """
    df = as_frame(results)
    analysed = df[df["status"].isin(RowStatus.analysed_values())]
    out = {"layers_analysed": len(analysed)}
    out |= {f"layers_{status.value}": int((df["status"] == status).sum()) for status in RowStatus}
    for col in ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm", "stable_rank",
                "mp_soft_rank", "entropy", "num_spikes", "rank_loss"):
        values = pd.to_numeric(analysed[col], errors="coerce").astype(float)
        values = values[np.isfinite(values)]
        out[f"mean_{col}"] = float(values.mean()) if len(values) else np.nan
    out["alpha_hat"] = out.pop("mean_alpha_weighted")
    for col, key in (("alpha_weighted", "layers_in_alpha_hat"), ("log_alpha_norm", "layers_in_log_alpha_norm")):
        out[key] = int(np.isfinite(pd.to_numeric(analysed[col], errors="coerce").astype(float)).sum())
    for label in phases.Phase.labels():
        out[f"phase_{label}"] = int((analysed["phase"] == label).sum())
    categories = [c for w in analysed.get("warning", []) for c in set(warning_categories(w))]  # layers, not parts
    for category in WARNING_CATEGORIES:
        out[f"warning_{category}"] = categories.count(category)
    out["layers_without_warning"] = int(sum(not warning_categories(w) for w in analysed.get("warning", [])))
    return pd.Series(out)
