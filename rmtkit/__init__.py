"""rmtkit: Random Matrix Theory for neural-network weight matrices, in JAX.

Heavy-Tailed Self-Regularization (Martin & Mahoney, JMLR 2021): random-matrix ensembles,
Marchenko-Pastur and power-law fits, capacity metrics and the 5+1 phases of training.
"""

import importlib

from rmtkit import ensembles, io, phases
from rmtkit.analysis import Analysis
from rmtkit.analyzer import analyze, describe, layer_spectra, summarize
from rmtkit.batch import pad_spectra
from rmtkit.checkpoints import CheckpointError, load_weights
from rmtkit.compare import analyze_series, compare
from rmtkit.marchenko_pastur import (
    MPFit,
    bbp_threshold,
    fit_marchenko_pastur,
    marchenko_pastur_cdf,
    marchenko_pastur_edges,
    marchenko_pastur_moment,
    marchenko_pastur_pdf,
    marchenko_pastur_quantile,
    marchenko_pastur_sample,
    spike_position,
    tracy_widom_scale,
)
from rmtkit.metrics import (
    alpha_weighted,
    hard_rank,
    lambda_max,
    log_alpha_norm,
    log_norm,
    log_spectral_norm,
    matrix_entropy,
    mp_soft_rank,
    stable_rank,
)
from rmtkit.phases import Phase, PhaseCriteria, classify_phases
from rmtkit.powerlaw import (
    PowerLawFit,
    alpha_confidence_interval,
    bootstrap_pvalue,
    fit_power_law,
    likelihood_ratio_test,
)
from rmtkit.spectrum import eigenvalues
from rmtkit.status import FitStatus, RowStatus, status_reason
from rmtkit.version import __version__ as __version__

__all__ = [
    "Analysis",
    "CheckpointError",
    "FitStatus",
    "MPFit",
    "Phase",
    "PhaseCriteria",
    "PowerLawFit",
    "RowStatus",
    "alpha_confidence_interval",
    "bootstrap_pvalue",
    "classify_phases",
    "fit_power_law",
    "likelihood_ratio_test",
    "alpha_weighted",
    "alpha_decay",
    "pad_spectra",
    "analyze",
    "analyze_series",
    "compare",
    "describe",
    "layer_spectra",
    "summarize",
    "bbp_threshold",
    "eigenvalues",
    "ensembles",
    "io",
    "load_weights",
    "optim",
    "phases",
    "prune",
    "prune_magnitude",
    "fit_marchenko_pastur",
    "hard_rank",
    "lambda_max",
    "log_alpha_norm",
    "log_norm",
    "log_spectral_norm",
    "marchenko_pastur_cdf",
    "marchenko_pastur_edges",
    "marchenko_pastur_moment",
    "marchenko_pastur_pdf",
    "marchenko_pastur_quantile",
    "marchenko_pastur_sample",
    "matrix_entropy",
    "mp_soft_rank",
    "spike_position",
    "stable_rank",
    "status_reason",
    "temperature_balance",
    "tracy_widom_scale",
]

#: Loaded on first use: rmtkit.optim and rmtkit.prune build on optax, which `pip install rmtkit` does not
#: install (it comes with the `sim` extra), so `import rmtkit` and `rmtkit analyze` never import it.
_NEEDS_OPTAX = {"optim": ("rmtkit.optim", None), "prune": ("rmtkit.prune", None),
                "alpha_decay": ("rmtkit.optim", "alpha_decay"),
                "temperature_balance": ("rmtkit.optim", "temperature_balance"),
                "prune_magnitude": ("rmtkit.prune", "prune_magnitude")}


def __getattr__(name: str):
    if name in _NEEDS_OPTAX:
        module, attr = _NEEDS_OPTAX[name]
        value = importlib.import_module(module)
        return value if attr is None else getattr(value, attr)
    raise AttributeError(f"module 'rmtkit' has no attribute {name!r}")
