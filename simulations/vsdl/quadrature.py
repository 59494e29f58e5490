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

#: Gauss-Legendre nodes per panel.
NODES_PER_PANEL = 12
#: Fine panels ``[s 2^(k-1), s 2^k]`` (``s`` the feature width) reach distance 1 from the center; features are
#: resolved down to width ``2^-MAX_FINE_PANELS``.
MAX_FINE_PANELS = 40
#: Panels of width 2 beyond distance 1; with centers clipped to +-CENTER_CLIP they cover [-10, 10] at least.
OUTER_PANELS = 7
CENTER_CLIP = 5.0

_X, _W = leggauss(NODES_PER_PANEL)


def gaussian_nodes(center, scale) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``t`` and weights ``w`` with ``sum(w * f(t), -1) ~ integral Dt f(t)``, ``Dt`` the standard normal.

    Panels on either side of ``center``: geometric ones ``[0, s, 2s, 4s, ..., 1]`` (``s = scale``), then panels of
    width 2 out to distance ``1 + 2 OUTER_PANELS``. The number of geometric panels is set by the smallest ``scale``
    in the batch; panels that collapse (``s 2^k > 1``) have zero width and zero weight.

    Args:
        center: shape ``S``, where the integrand has its sharp feature (clipped to +-CENTER_CLIP: beyond that the
            integrand is flat over the Gaussian bulk).
        scale: shape ``S``, the width of that feature (clipped to [2^-MAX_FINE_PANELS, 1]).

    Returns:
        ``t`` and ``w`` of shape ``S + (K,)``; the weights include the Gaussian density.
    """
    center = np.clip(np.asarray(center, dtype=float), -CENTER_CLIP, CENTER_CLIP)[..., None]
    scale = np.clip(np.asarray(scale, dtype=float), 2.0**-MAX_FINE_PANELS, 1.0)[..., None]
    num_fine = int(np.ceil(-np.log2(scale.min()))) if scale.size else 0
    fine = np.minimum(scale * 2.0 ** np.arange(num_fine + 1), 1.0)  # S + (num_fine + 1,)
    outer = np.broadcast_to(1.0 + 2.0 * np.arange(1, OUTER_PANELS + 1), fine.shape[:-1] + (OUTER_PANELS,))
    edges = np.concatenate([np.zeros_like(scale), fine, outer], axis=-1)
    lo, half = edges[..., :-1, None], (edges[..., 1:, None] - edges[..., :-1, None]) / 2
    offsets = (lo + half * (_X + 1)).reshape(*edges.shape[:-1], -1)
    weights = np.broadcast_to(half * _W, lo.shape[:-1] + (NODES_PER_PANEL,)).reshape(offsets.shape)
    t = np.concatenate([center - offsets, center + offsets], axis=-1)
    w = np.concatenate([weights, weights], axis=-1) * np.exp(-0.5 * t**2) / np.sqrt(2 * np.pi)
    return t, w


def log_gauss(x):
    """``ln`` of the standard normal density."""
    return -0.5 * np.asarray(x) ** 2 - 0.5 * np.log(2 * np.pi)
