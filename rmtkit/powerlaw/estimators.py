"""The power-law estimators by name: the one table that ``fit_power_law``'s callers and the optax transforms read.

Two kinds of name live here, because two kinds of caller choose an estimator:

- :data:`METHODS` (from :mod:`rmtkit.powerlaw.fit`): the settings of the [CSN] ``xmin`` scan that
  :func:`~rmtkit.powerlaw.fit_power_law` accepts as ``method``, and so the analyzer's ``pl_method``
  (:class:`rmtkit.analysis.AnalyzeOptions` types the option with :data:`Method`).
- :data:`ESTIMATORS`: an exponent from one ascending spectrum, as the training controls of
  :mod:`rmtkit.optim` use it (their ``estimator=``). A *traced* estimator runs inside the jitted
  step on traced eigenvalues and is called ``alpha(evals, xmin_pos)``; any other runs on the host
  (through :func:`jax.pure_callback`) and is called ``alpha(evals, **fit_kwargs)``.

A new estimator for the training controls is one entry of :data:`ESTIMATORS` (its function in a
module of this package); :mod:`rmtkit.optim` lists and dispatches on the table. docs/theory.md#power-laws
and docs/theory.md#control state the formulas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rmtkit.powerlaw.fit import METHODS, Method, fit_power_law
from rmtkit.powerlaw.hill import hill_median_alpha

__all__ = ["ESTIMATORS", "METHODS", "Estimator", "Method", "csn_alpha"]


class Estimator(NamedTuple):
    """One exponent estimator of the training controls.

    Attributes:
        summary: what it computes, in one line (the paper's words).
        alpha: the exponent of one ascending spectrum ``(M,)``: ``alpha(evals, xmin_pos)`` when
            ``traced``, else ``alpha(evals, **fit_kwargs)`` on a NumPy array (raising ``ValueError``
            for a spectrum it cannot fit: the leaf then keeps factor 1).
        traced: whether ``alpha`` runs on traced arrays inside a jitted step.
    """

    summary: str
    alpha: Callable
    traced: bool


def csn_alpha(evals: np.ndarray, **fit_kwargs) -> float:
    """The exponent of :func:`~rmtkit.powerlaw.fit_power_law` (its ``method``, ``"auto"`` unless ``fit_kwargs`` say)."""
    return float(fit_power_law(evals, **fit_kwargs).alpha)


#: The estimators of :mod:`rmtkit.optim`, in the order its messages list them.
ESTIMATORS: dict[str, Estimator] = {
    "hill_median": Estimator("Hill MLE with xmin at the (M // xmin_pos)-th eigenvalue (TempBalance's 'median')",
                             hill_median_alpha, traced=True),
    "csn": Estimator("the [CSN] scan of xmin (fit_power_law, method 'auto' unless fit_kwargs say)", csn_alpha,
                     traced=False),
}
