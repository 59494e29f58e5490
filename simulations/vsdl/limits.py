"""The annealed approximation and the high-temperature limit of the student-teacher perceptron ([SST92] §IV-V,
[EVdB01] §2.3, §4.2): ``-beta f`` at overlap ``R = cos(theta)`` maximised in closed form over one angle.

:mod:`simulations.vsdl.theory` checks the arguments and calls :class:`LimitModel` (``theory.annealed``,
``theory.high_temperature`` and their Ising transitions); the replica-symmetric saddle points are there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import expit

__all__ = ["LimitModel", "LimitState"]


@dataclass(frozen=True)
class LimitState:
    """Equilibrium of the annealed approximation or of the high-temperature limit at one point."""

    R: float
    eps_gen: float
    eps_train: float
    phi: float  # -beta f per weight (high-T limit: max_R [s(R) - (alpha/T) eps(R)])
    perfect: bool


def _minus_ds(theta, student):
    """``-ds/dR`` at ``R = cos(theta)``: artanh(R) (Ising), R / (1 - R^2) (spherical)."""
    R = np.cos(theta)
    return np.arctanh(R) if student == "ising" else R / np.sin(theta) ** 2


def _entropy_at(theta, student):
    """Entropy of students at overlap ``R = cos(theta)``: ln sin(theta) (spherical), binary entropy (Ising)."""
    if student == "spherical":
        return np.log(np.sin(theta))
    p, m = np.cos(theta / 2) ** 2, np.sin(theta / 2) ** 2  # (1 +- R) / 2
    return -(p * np.log(p) + m * np.log(m))


class LimitModel:
    """Annealed (or high-T) ``-beta f(theta)`` at ``R = cos(theta)``; stationarity reads ``alpha = A(theta)``."""

    def __init__(self, beta: float, student: str, high_T: bool):
        self.beta, self.student, self.high_T = beta, student, high_T
        self.mix = 1.0 if high_T else -np.expm1(-beta)  # 1 - e^-beta (high-T: alpha stands for alpha / T)

    def accept(self, theta):
        """``e^-beta + (1 - e^-beta)(1 - eps)``, the annealed probability that an example is accepted."""
        return 1.0 if self.high_T else np.exp(-self.beta) + self.mix * (1 - theta / np.pi)

    def A(self, theta):
        return np.pi * np.sin(theta) * _minus_ds(theta, self.student) * self.accept(theta) / self.mix

    def phi(self, alpha, theta):
        energy = -alpha * theta / np.pi if self.high_T else alpha * np.log(self.accept(theta))
        return float(_entropy_at(theta, self.student) + energy)

    def train(self, theta):
        eps = theta / np.pi
        return float(eps if self.high_T else np.exp(-self.beta) * eps / self.accept(theta))

    def peak(self) -> float:
        """Ising: the maximum of ``A`` (``A`` rises from 0 at theta = 0 and falls to 0 at pi/2); its value is the
        spinodal of the poor branch, which lives on ``theta > peak``."""
        res = minimize_scalar(lambda t: -self.A(t), bounds=(1e-12, np.pi / 2), method="bounded",
                              options={"xatol": 1e-13})
        return float(res.x)

    def poor_branch(self, alpha: float) -> float | None:
        """theta of the poor-generalization maximum (None beyond the Ising spinodal)."""
        lo = 1e-12
        if self.student == "ising":
            lo = self.peak()
            if alpha >= self.A(lo):
                return None
        # spherical: A falls monotonically from +inf at theta = 0 to 0 at pi/2
        return brentq(lambda t: self.A(t) - alpha, lo, np.pi / 2, xtol=1e-15, rtol=1e-14)

    def state(self, alpha: float) -> LimitState:
        if alpha <= 0:
            train = 0.5 if self.high_T else float(expit(-self.beta))
            return LimitState(0.0, 0.5, train, np.log(2.0) if self.student == "ising" else 0.0, False)
        theta = self.poor_branch(alpha)
        if theta is None or (self.student == "ising" and self.phi(alpha, theta) < 0):
            return LimitState(1.0, 0.0, 0.0, 0.0, True)
        return LimitState(float(np.cos(theta)), theta / np.pi, self.train(theta), self.phi(alpha, theta), False)

    def ising_transition(self) -> tuple[float, float]:
        alpha_sp = float(self.A(self.peak()))
        alpha_c = brentq(lambda a: self.phi(a, self.poor_branch(a)), 1e-6, alpha_sp * (1 - 1e-10), xtol=1e-12)
        return alpha_c, alpha_sp
