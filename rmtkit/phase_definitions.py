"""The 5+1 phases of training of [MM-JMLR] §4, and what each means operationally: the generator of each phase.

:class:`Phase` names the phases; :data:`PHASE_RANGES` holds, for each, the random-matrix generator
(:mod:`rmtkit.ensembles`) and every parameter range it is drawn from, and :func:`sample_phase`
draws from them (one source: the sampler reads its ranges from the table). The classifier's rules
and thresholds are :mod:`rmtkit.phases` (docs/phases.md; docs/theory.md#phases).
"""

from __future__ import annotations

import enum
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rmtkit import ensembles
from rmtkit.marchenko_pastur import bbp_threshold

__all__ = ["PHASE_RANGES", "Phase", "sample_phase", "sample_phase_params"]


class Phase(enum.IntEnum):
    """The 5+1 phases of [MM-JMLR] §4, in the order of increasing self-regularisation."""

    RANDOM_LIKE = 0
    BLEEDING_OUT = 1
    BULK_PLUS_SPIKES = 2
    BULK_DECAY = 3
    HEAVY_TAILED = 4
    RANK_COLLAPSE = 5

    @property
    def label(self) -> str:
        """Short label used in tables: ``"random-like"``, ``"bulk+spikes"``, ..."""
        return _LABELS[self]

    @classmethod
    def labels(cls) -> list[str]:
        """All six labels in phase order."""
        return [p.label for p in cls]

    @classmethod
    def from_label(cls, label: str) -> Phase:
        """Inverse of :attr:`label`."""
        for p in cls:
            if p.label == label:
                return p
        raise ValueError(f"unknown phase label {label!r}; expected one of {cls.labels()}")


_LABELS = {
    Phase.RANDOM_LIKE: "random-like",
    Phase.BLEEDING_OUT: "bleeding-out",
    Phase.BULK_PLUS_SPIKES: "bulk+spikes",
    Phase.BULK_DECAY: "bulk-decay",
    Phase.HEAVY_TAILED: "heavy-tailed",
    Phase.RANK_COLLAPSE: "rank-collapse",
}


#: Parameter ranges of the generator of each phase (:func:`sample_phase`). Uniform draws unless
#: marked ``log`` (log-uniform). Spike strengths are in units of the BBP threshold ``q^(-1/4)``.
PHASE_RANGES: dict[Phase, dict[str, Any]] = {
    Phase.RANDOM_LIKE: {"ensemble": "gaussian", "sigma (log)": (0.1, 10.0)},
    Phase.BLEEDING_OUT: {"ensemble": "spiked", "num_spikes": (1, 3), "strength / bbp": (1.4, 2.0),
                         "sigma (log)": (0.1, 10.0)},
    Phase.BULK_PLUS_SPIKES: {"ensemble": "spiked", "num_spikes": (1, 5), "strength / bbp": (3.0, 6.0),
                             "sigma (log)": (0.1, 10.0)},
    Phase.BULK_DECAY: {"ensemble": "bulk_decay", "decay": (1.0, 2.0), "sigma (log)": (0.1, 10.0)},
    Phase.HEAVY_TAILED: {"ensemble": "pareto | student_t (1/2 each)", "mu (pareto)": (0.5, 2.0),
                         "nu (student_t)": (1.0, 2.0), "scale (log)": (0.1, 10.0)},
    Phase.RANK_COLLAPSE: {"ensemble": "low_rank", "rank / M": (0.02, 0.3), "noise-free fraction": 0.5,
                          "noise / sigma (log)": (1e-4, 1e-2), "sigma (log)": (0.1, 10.0)},
}


def _uniform(key: jax.Array, lo: float, hi: float, log: bool = False) -> float:
    u = float(jax.random.uniform(key, (), jnp.float32))
    if log:
        return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
    return lo + u * (hi - lo)


def _integer(key: jax.Array, lo: int, hi: int) -> int:
    return int(jax.random.randint(key, (), lo, hi + 1))


def sample_phase_params(key: jax.Array, phase: Phase | int, n: int, m: int) -> dict[str, Any]:
    """Draw the generator parameters of one ``n x m`` matrix of ``phase`` from :data:`PHASE_RANGES`.

    Returns:
        A dict with ``"ensemble"`` (a name in :data:`rmtkit.ensembles.ENSEMBLES`) and the keyword
        arguments of that generator (besides ``key, n, m``).
    """
    phase = Phase(phase)
    ranges = PHASE_RANGES[phase]
    ks = jax.random.split(key, 4)
    sigma = _uniform(ks[0], *ranges.get("sigma (log)", ranges.get("scale (log)")), log=True)
    q = max(n, m) / min(n, m)
    if phase == Phase.RANDOM_LIKE:
        return {"ensemble": "gaussian", "sigma": sigma}
    if phase in (Phase.BLEEDING_OUT, Phase.BULK_PLUS_SPIKES):
        k_lo, k_hi = ranges["num_spikes"]
        s_lo, s_hi = ranges["strength / bbp"]
        k = _integer(ks[1], k_lo, k_hi)
        rel = np.asarray(jax.random.uniform(ks[2], (k_hi,), jnp.float32, s_lo, s_hi), float)
        strengths = np.where(np.arange(k_hi) < k, rel * float(bbp_threshold(q)), 0.0)  # 0: no spike
        return {"ensemble": "spiked", "strengths": strengths, "sigma": sigma}
    if phase == Phase.BULK_DECAY:
        return {"ensemble": "bulk_decay", "decay": _uniform(ks[1], *ranges["decay"]), "sigma": sigma}
    if phase == Phase.HEAVY_TAILED:
        if bool(jax.random.bernoulli(ks[1])):
            return {"ensemble": "pareto", "mu": _uniform(ks[2], *ranges["mu (pareto)"]), "scale": sigma}
        return {"ensemble": "student_t", "nu": _uniform(ks[2], *ranges["nu (student_t)"]), "scale": sigma}
    lo, hi = ranges["rank / M"]
    rank = max(1, round(_uniform(ks[1], lo, hi) * min(n, m)))
    noise_free = bool(jax.random.bernoulli(ks[2], ranges["noise-free fraction"]))
    noise = 0.0 if noise_free else _uniform(ks[3], *ranges["noise / sigma (log)"], log=True)
    return {"ensemble": "low_rank", "rank": rank, "sigma": sigma, "noise": noise * sigma}


def sample_phase(key: jax.Array, phase: Phase | int, n: int, m: int, *, dtype=None) -> jax.Array:
    """One ``n x m`` matrix drawn from the calibration range of ``phase`` (:data:`PHASE_RANGES`).

    >>> import jax
    >>> sample_phase(jax.random.key(0), Phase.HEAVY_TAILED, 400, 200).shape
    (400, 200)
    """
    params = sample_phase_params(key, phase, n, m)
    gen = ensembles.ENSEMBLES[params.pop("ensemble")]
    return gen(jax.random.fold_in(key, 1), n, m, **params, dtype=dtype)
