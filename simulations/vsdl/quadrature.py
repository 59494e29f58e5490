"""Gaussian averages for the replica saddle points, robust to sharp features of any width.

The replica integrands of perceptron learning ([SST92] eq. 3.x; [EVdB01] eq. 2.41, 4.x) contain steps such as
``H(-a t)`` whose width ``1/a`` shrinks to zero as the student aligns with the teacher (``a ~ 1/sqrt(1 - R)``).
Gauss-Hermite rules with a fixed node count miss such steps. We integrate instead with a composite Gauss-Legendre
rule on geometrically growing panels around the feature (``center + scale * [0, 1, 2, 4, ...]`` on both sides),
which resolves every scale between ``scale`` and the width of the Gaussian weight with a few hundred nodes.

References: [SST92] Seung, Sompolinsky, Tishby, PRA 45, 6056 (1992);
[EVdB01] Engel, Van den Broeck, Statistical Mechanics of Learning (2001).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.special import log_ndtr, ndtr

#: Gauss-Legendre nodes per panel.
NODES_PER_PANEL = 12
#: Fine panels ``[scale 2^(k-1), scale 2^k]`` (widths capped at 1) resolve features down to ``2^-FINE_PANELS``.
FINE_PANELS = 30
#: Unit-width panels beyond the fine region; with centers clipped to +-CENTER_CLIP they cover [-10, 10] at least.
OUTER_PANELS = 15
CENTER_CLIP = 5.0

_X, _W = leggauss(NODES_PER_PANEL)


def gaussian_nodes(center, scale) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``t`` and weights ``w`` with ``sum(w * f(t), -1) ~ integral Dt f(t)``, ``Dt`` the standard normal.

    Panels on either side of ``center``: geometric ones ``[0, s, 2s, 4s, ..., 1]`` (``s = scale``, widths capped
    at 1), then unit panels out to distance ``1 + OUTER_PANELS``. Panels of zero width carry zero weight.

    Args:
        center: shape ``S``, where the integrand has its sharp feature (clipped to +-CENTER_CLIP: beyond that the
            integrand is flat over the Gaussian bulk).
        scale: shape ``S``, the width of that feature (clipped to (2^-FINE_PANELS, 1]).

    Returns:
        ``t`` and ``w`` of shape ``S + (K,)``; the weights include the Gaussian density.
    """
    center = np.clip(np.asarray(center, dtype=float), -CENTER_CLIP, CENTER_CLIP)[..., None]
    scale = np.clip(np.asarray(scale, dtype=float), 2.0**-FINE_PANELS, 1.0)[..., None]
    fine = np.minimum(scale * 2.0 ** np.arange(FINE_PANELS + 1), 1.0)  # S + (FINE_PANELS + 1,)
    outer = np.broadcast_to(1.0 + np.arange(1, OUTER_PANELS + 1), fine.shape[:-1] + (OUTER_PANELS,))
    edges = np.concatenate([np.zeros_like(scale), fine, outer], axis=-1)
    lo, half = edges[..., :-1, None], (edges[..., 1:, None] - edges[..., :-1, None]) / 2
    offsets = (lo + half * (_X + 1)).reshape(*edges.shape[:-1], -1)
    weights = np.broadcast_to(half * _W, lo.shape[:-1] + (NODES_PER_PANEL,)).reshape(offsets.shape)
    t = np.concatenate([center - offsets, center + offsets], axis=-1)
    w = np.concatenate([weights, weights], axis=-1) * np.exp(-0.5 * t**2) / np.sqrt(2 * np.pi)
    return t, w


def H(x):
    """The Gaussian tail ``H(x) = integral_x^inf Dz`` ([EVdB01] eq. A1.6)."""
    return ndtr(-np.asarray(x))


def log_H(x):
    """``ln H(x)``, accurate far in the tail."""
    return log_ndtr(-np.asarray(x))


def log_gauss(x):
    """``ln`` of the standard normal density."""
    return -0.5 * np.asarray(x) ** 2 - 0.5 * np.log(2 * np.pi)
