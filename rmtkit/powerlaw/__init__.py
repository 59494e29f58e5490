"""Power-law tail fits of eigenvalue spectra ([CSN], as [MM-JMLR] fit ESDs) and their goodness of fit.

One concept a module; siblings import only each other's public names:

- :mod:`~rmtkit.powerlaw.bounded`: the power law *bounded* above at ``xmax`` (its CDF, quantile,
  density and exact MLE, in scaled log coordinates). "Bounded" always means an ``xmax``; the power
  law with an *exponential cutoff* is an alternative of the likelihood-ratio test.
- :mod:`~rmtkit.powerlaw.scan`: one spectrum's fit, with the exact branch-and-bound ``xmin`` scan.
- :mod:`~rmtkit.powerlaw.compiled`: the jitted programs (a batch ``lax.map``-ped in one program,
  one spectrum padded to a length bucket).
- :mod:`~rmtkit.powerlaw.fit`: :func:`fit_power_law`, the entry point (batch convention of
  :mod:`rmtkit.batch`).
- :mod:`~rmtkit.powerlaw.bootstrap`: :func:`bootstrap_pvalue` and :func:`alpha_confidence_interval`.
- :mod:`~rmtkit.powerlaw.hill`: Hill-type exponents at a fixed threshold (TempBalance's median
  ``xmin``; the classifier's top-``k`` test), the cheap estimators beside the scanned fit.
- :mod:`~rmtkit.powerlaw.estimators`: the estimators by name (``METHODS`` of the scan, ``ESTIMATORS``
  of the training controls), the one table their callers read.
- :mod:`~rmtkit.powerlaw.likelihood`: :func:`likelihood_ratio_test` against the exponential, the
  log-normal and the exponential cutoff.

docs/theory.md#power-laws states the formulas, with the papers ([CSN] Clauset, Shalizi and Newman,
SIAM Review 2009; [MM-JMLR] Martin and Mahoney, JMLR 2021).
"""

from rmtkit.powerlaw.bootstrap import (
    AlphaInterval,
    BootstrapPValue,
    alpha_confidence_interval,
    bootstrap_pvalue,
)
from rmtkit.powerlaw.bounded import bounded_alpha, bounded_cdf_scaled, bounded_quantile_scaled
from rmtkit.powerlaw.estimators import ESTIMATORS, Estimator
from rmtkit.powerlaw.fit import AUTO_SETTINGS, METHODS, Method, fit_power_law
from rmtkit.powerlaw.hill import hill_median_alpha, hill_top_alpha
from rmtkit.powerlaw.likelihood import (
    ALTERNATIVES,
    LikelihoodRatio,
    likelihood_ratio_test,
    power_law_loglikelihoods,
)
from rmtkit.powerlaw.scan import PowerLawFit

__all__ = [
    "ALTERNATIVES",
    "AUTO_SETTINGS",
    "ESTIMATORS",
    "METHODS",
    "AlphaInterval",
    "BootstrapPValue",
    "Estimator",
    "LikelihoodRatio",
    "Method",
    "PowerLawFit",
    "alpha_confidence_interval",
    "bootstrap_pvalue",
    "bounded_alpha",
    "bounded_cdf_scaled",
    "bounded_quantile_scaled",
    "fit_power_law",
    "hill_median_alpha",
    "hill_top_alpha",
    "likelihood_ratio_test",
    "power_law_loglikelihoods",
]
