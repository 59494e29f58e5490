"""Replica-symmetric theory of Gibbs learning of a teacher perceptron at temperature T.

A student ``J`` (spherical: ``|J|^2 = N``; Ising: ``J_i = +-1``) learns ``P = alpha N`` Gaussian examples labelled
by a teacher of the same kind (``alpha = P / N`` is the load, the literature's symbol kept in the formulas here;
the simulator's tables, configs and figures call it ``load``); the training energy is the number of training errors and the student is drawn
from the Gibbs distribution ``exp(-E / T)`` (T = 0: uniformly from the version space). Order parameters are the
student-teacher overlap ``R`` and the overlap ``q`` of two students; the generalization error is
``eps = arccos(R) / pi``.

The quenched free energy per weight ([SST92] eqs. 3.x, [EVdB01] eqs. 2.41 and 4.x, [G90])::

    -beta f = extr_{q, R} [ G0(q, R) + alpha G1(q, R) ]
    G1 = 2 int Dt H(-a t) ln[ e^-beta + (1 - e^-beta) H(-b t) ],   a = R / sqrt(q - R^2),  b = sqrt(q / (1 - q))
    G0 = 1/2 ln(1 - q) + (q - R^2) / (2 (1 - q))                                   (spherical)
    G0 = extr_{q^, R^} [ -q^ (1 - q) / 2 - R^ R + int Dz ln 2 cosh(sqrt(q^) z + R^) ]  (Ising, teacher gauged to +1)

The saddle point is found by damped iteration of the conjugate fields ``q^ = -2 alpha dG1/dq``,
``R^ = alpha dG1/dR`` (for the spherical student ``q^ = (q - R^2) / (1 - q)^2`` and ``R^ = R / (1 - q)``).
Energies are in units of training errors; ``T`` is the temperature of the text (``tau`` in [MM-VSDL]).

For the Ising student the perfect-generalization state ``R = q = 1`` (zero entropy, zero energy, ``f = 0``)
always competes with the poor-generalization RS branch: it takes over when ``f_poor`` reaches 0 (``alpha_c``,
first order), and the poor branch disappears at the spinodal ``alpha_sp`` ([SST92] §VI, [G90]: ``alpha_c = 1.245``
at T = 0).

Limits: the annealed approximation ``-beta f = max_R [s(R) + alpha ln(e^-beta + (1 - e^-beta)(1 - eps(R)))]`` and
the high-temperature limit (``T -> inf`` at fixed ``alpha / T``) ``-beta f = max_R [s(R) - (alpha/T) eps(R)]``, with
``s(R)`` the entropy of students at overlap ``R`` ([SST92] §IV-V, [EVdB01] §2.3 and §4.2).

References: [SST92] Seung, Sompolinsky, Tishby, PRA 45, 6056 (1992); [G90] Gyorgyi, PRA 41, 7097 (1990);
[OH91] Opper, Haussler, PRL 66, 2677 (1991); [EVdB01] Engel, Van den Broeck, Statistical Mechanics of Learning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar, root
from scipy.special import expit, log_ndtr, ndtr

from simulations.vsdl.limits import LimitModel, LimitState
from simulations.vsdl.quadrature import gaussian_nodes, log_gauss

STUDENTS = ("spherical", "ising")
RULES = ("gibbs", "bayes")

#: Below this distance from R = 1 the Ising poor-branch iteration has run away to perfect generalization.
PERFECT_GAP = 1e-7


@dataclass(frozen=True)
class Saddle:
    """A replica-symmetric saddle point (all fields broadcast to the shape of ``alpha`` and ``T``).

    ``phi = -beta f`` per weight (T = 0: the log version-space volume), ``free_energy = f`` per weight (0 at T = 0),
    ``entropy`` per weight (spherical: relative to the whole sphere, so <= 0; Ising: ln of a count, <= ln 2),
    ``eps_train`` the training error per example. ``perfect`` marks Ising points in the R = 1 state;
    ``converged`` is False where the iteration hit its step limit.
    """

    alpha: np.ndarray
    T: np.ndarray
    q: np.ndarray
    R: np.ndarray
    q_hat: np.ndarray
    R_hat: np.ndarray
    eps_gen: np.ndarray
    eps_train: np.ndarray
    phi: np.ndarray
    free_energy: np.ndarray
    entropy: np.ndarray
    perfect: np.ndarray
    converged: np.ndarray

    @property
    def eps_bayes(self) -> np.ndarray:
        """Error of the center of mass of the Gibbs ensemble, overlap ``R / sqrt(q)`` (T = 0: Bayes-optimal)."""
        return np.arccos(np.clip(self.R / np.sqrt(np.maximum(self.q, 1e-300)), -1, 1)) / np.pi


def _check(student: str, rule: str = "gibbs") -> None:
    if student not in STUDENTS:
        raise ValueError(f"student must be one of {STUDENTS}, got {student!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if rule == "bayes" and student != "spherical":
        raise ValueError("rule='bayes' is implemented for the spherical student only")


def _beta(T: np.ndarray) -> np.ndarray:
    if np.any(np.asarray(T) < 0):
        raise ValueError("temperature T must be >= 0")
    with np.errstate(divide="ignore"):
        return np.where(T > 0, 1.0 / np.where(T > 0, T, 1.0), np.inf)


def _log_output(y, beta):
    """``ln[e^-beta + (1 - e^-beta) H(-y)]``: log-probability that a student field ``y`` is accepted."""
    return np.logaddexp(-beta, np.log1p(-np.exp(-beta)) + log_ndtr(y))


def _prior(q_hat, R_hat, student):
    """The student prior's channel: conjugate fields -> (q, R, 1 - q, q - R^2, G0)."""
    if student == "spherical":
        total = q_hat + R_hat**2
        w = 2.0 / (1.0 + np.sqrt(1.0 + 4.0 * total))  # 1 - q, the positive root of (q^ + R^^2) w^2 + w - 1 = 0
        R, d = R_hat * w, q_hat * w**2
        return 1.0 - w, R, w, d, 0.5 * np.log(w) + d / (2 * w)
    sq = np.sqrt(q_hat)
    with np.errstate(divide="ignore"):
        center = np.where(sq > 0, -R_hat / np.where(sq > 0, sq, 1.0), -np.inf)
    z, wz = gaussian_nodes(center, 0.25 / np.maximum(sq, 1e-300))
    x = sq[..., None] * z + R_hat[..., None]
    gap = 2.0 * expit(-2.0 * x)  # 1 - tanh(x), exact for large x
    one_minus_R = np.sum(wz * gap, -1)
    R = 1.0 - one_minus_R
    ex = np.exp(-2.0 * np.abs(x))
    w = np.sum(wz * 4.0 * ex / (1.0 + ex) ** 2, -1)  # 1 - q = <sech^2>
    d = np.sum(wz * (gap - one_minus_R[..., None]) ** 2, -1)  # q - R^2 = Var(tanh)
    log2cosh = np.abs(x) + np.log1p(ex)
    G0 = -q_hat * w / 2 - R_hat * R + np.sum(wz * log2cosh, -1)
    return 1.0 - w, R, w, d, G0


def _energetic(q, R, w, d, beta):
    """G1, the integrals behind its derivatives, and the training error per example at (q, R)."""
    a = R / np.sqrt(d)
    b = np.sqrt(q / w)
    t, wt = gaussian_nodes(np.zeros_like(a), 0.25 / np.maximum(np.maximum(a, b), 1e-300))
    at, bt = a[..., None] * t, b[..., None] * t
    B = beta[..., None]
    teacher = ndtr(at)  # H(-a t)
    log_out = _log_output(bt, B)
    G1 = 2 * np.sum(wt * teacher * log_out, -1)
    I1 = np.sum(wt * t * np.exp(log_gauss(at)) * log_out, -1)
    dlog_out = np.exp(np.log1p(-np.exp(-B)) + log_gauss(bt) - log_out)
    I2 = np.sum(wt * t * teacher * dlog_out, -1)
    err = np.exp(-B + log_ndtr(-bt) - log_out)  # probability that an accepted label is wrong
    eps_train = 2 * np.sum(wt * teacher * err, -1)
    return G1, I1, I2, eps_train


def _conjugates(alpha, q, R, w, d, beta):
    G1, I1, I2, eps_train = _energetic(q, R, w, d, beta)
    d32 = d**1.5
    R_hat = 2 * alpha * q * I1 / d32  # alpha dG1/dR
    q_hat = 2 * alpha * (R * I1 / d32 - I2 / (np.sqrt(q) * w**1.5))  # -2 alpha dG1/dq
    return np.maximum(q_hat, 0.0), np.maximum(R_hat, 0.0), G1, eps_train


def solve(alpha, T, student: str = "spherical", *, init: tuple | None = None, damping: float = 0.5,
          tol: float = 1e-11, max_iter: int = 4000) -> Saddle:
    """Iterate the RS saddle-point equations from a poor-generalization start (or ``init = (q^, R^)``).

    Args:
        alpha: examples per weight, any shape (broadcast with ``T``); alpha = 0 gives R = q = 0.
        T: temperature(s) >= 0; T = 0 is Gibbs learning in the version space.
        student: "spherical" or "ising". For the Ising student this follows the poor branch: points beyond its
            spinodal run away to R = 1 and come back with ``perfect = True``.
        init: starting conjugate fields ``(q^, R^)``; default a nearly uninformed start.
        damping: fraction of the new conjugate fields mixed in each step.

    Returns:
        The saddle point as a ``Saddle`` of the broadcast shape.
    """
    _check(student)
    alpha, T = (np.array(x, dtype=float) for x in np.broadcast_arrays(alpha, T))
    shape = alpha.shape
    alpha, T = alpha.reshape(-1), T.reshape(-1)  # work on flat arrays, restore the shape at the end
    beta = _beta(T)
    if np.any(alpha < 0):
        raise ValueError("alpha must be >= 0")
    if init is None:
        load = alpha / np.maximum(T, 1.0)  # conjugate fields scale like alpha / T at high T
        q_hat, R_hat = 0.05 * load + 1e-3, 0.3 * load + 1e-2
    else:
        q_hat, R_hat = (np.broadcast_to(np.asarray(v, dtype=float), shape).reshape(-1).copy() for v in init)
    active = alpha > 0
    perfect = np.zeros(alpha.shape, bool)
    converged = ~active
    q, R, w, d, G0 = _prior(q_hat, R_hat, student)
    G1 = np.zeros(alpha.shape)
    eps_train = np.zeros(alpha.shape)
    for _ in range(max_iter):
        idx = active & ~converged & ~perfect
        if not idx.any():
            break
        qh_new, Rh_new, G1[idx], eps_train[idx] = _conjugates(alpha[idx], q[idx], R[idx], w[idx], d[idx], beta[idx])
        qh = q_hat[idx] + damping * (qh_new - q_hat[idx])
        Rh = R_hat[idx] + damping * (Rh_new - R_hat[idx])
        q_old, R_old = q[idx], R[idx]
        q_hat[idx], R_hat[idx] = qh, Rh
        q[idx], R[idx], w[idx], d[idx], G0[idx] = _prior(qh, Rh, student)
        delta = np.abs(q[idx] - q_old) + np.abs(R[idx] - R_old)
        sub_conv = delta < tol * np.maximum(w[idx], 1e-3)  # relative to 1 - q, which sets the scale near R = 1
        sub_perf = (student == "ising") & (w[idx] < PERFECT_GAP)
        converged[idx] = sub_conv
        perfect[idx] = sub_perf
    # final energetic pass at the converged point
    ok = active & ~perfect
    if ok.any():
        G1[ok], _, _, eps_train[ok] = _energetic(q[ok], R[ok], w[ok], d[ok], beta[ok])
    # alpha = 0: R = q = 0, each (absent) example wrong with probability e^-beta / (1 + e^-beta)
    R, q = np.where(active, R, 0.0), np.where(active, q, 0.0)
    eps_train = np.where(active, eps_train, expit(-beta))
    phi = np.where(active, G0 + alpha * G1, np.log(2.0) if student == "ising" else 0.0)
    # the Ising runaway: the perfect state R = q = 1 with phi = f = s = 0
    R, q = np.where(perfect, 1.0, R), np.where(perfect, 1.0, q)
    eps_train, phi = np.where(perfect, 0.0, eps_train), np.where(perfect, 0.0, phi)
    eps_gen = np.arccos(np.clip(R, -1, 1)) / np.pi
    with np.errstate(invalid="ignore"):
        energy = alpha * eps_train
        finite = np.isfinite(beta)
        entropy = np.where(finite, phi + np.where(finite, beta, 0.0) * energy, phi)
        free = np.where(finite, -T * phi, energy)
    converged = converged | perfect
    fields = (alpha, T, q, R, q_hat, R_hat, eps_gen, eps_train, phi, free, entropy, perfect, converged)
    return Saddle(*(np.reshape(f, shape) for f in fields))


def _perfect_state(alpha, T) -> Saddle:
    z, one = np.zeros(alpha.shape), np.ones(alpha.shape)
    inf = np.full(alpha.shape, np.inf)
    return Saddle(alpha, T, one, one, inf, inf, z, z, z, z, z, one.astype(bool), one.astype(bool))


def equilibrium(alpha, T, student: str = "spherical") -> Saddle:
    """The thermodynamically stable saddle point (Ising: the lower free energy of the poor and the R = 1 state).

    Args:
        alpha: examples per weight (>= 0), broadcast with ``T``.
        T: temperature (>= 0).
        student: "spherical" (one smooth branch) or "ising".
    """
    poor = solve(alpha, T, student)
    if student == "spherical":
        return poor
    perfect = _perfect_state(poor.alpha, poor.T)
    # f_poor > f_perfect = 0  <=>  phi_poor < 0 (also at T = 0, where phi is the version-space entropy)
    take = poor.perfect | (poor.phi < 0)
    fields = {k: np.where(take, getattr(perfect, k), getattr(poor, k)) for k in Saddle.__dataclass_fields__}
    return Saddle(**fields)


def _scalar(x):
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def generalization_error(alpha, T, student: str = "spherical", rule: str = "gibbs"):
    """Equilibrium generalization error ``arccos(R) / pi`` of Gibbs learning at temperature ``T``.

    Args:
        alpha: examples per weight; any shape, broadcast with ``T``.
        T: temperature >= 0 (0: version space).
        student: "spherical" or "ising" (Ising: the equilibrium branch, 0 in the perfect state).
        rule: "gibbs" (one sample of the Gibbs ensemble) or "bayes" (its center of mass, overlap ``R / sqrt(q)``;
            Bayes-optimal at T = 0 [OH91]; spherical student only).

    Returns:
        eps_gen, a float for scalar input, else an array of the broadcast shape.

    >>> round(generalization_error(100.0, 0.0) * 100, 2)  # [OH91]: alpha eps -> 0.625
    0.62
    """
    _check(student, rule)
    eq = equilibrium(alpha, T, student)
    return _scalar(eq.eps_bayes if rule == "bayes" else eq.eps_gen)


def training_error(alpha, T, student: str = "spherical"):
    """Equilibrium training error per example, ``-dG1/dbeta`` at the saddle point (0 at T = 0)."""
    _check(student)
    return _scalar(equilibrium(alpha, T, student).eps_train)


def free_energy(alpha, T, student: str = "spherical"):
    """Equilibrium free energy per weight ``f`` in units of training errors (0 at T = 0)."""
    _check(student)
    return _scalar(equilibrium(alpha, T, student).free_energy)


def entropy(alpha, T, student: str = "spherical"):
    """Equilibrium entropy per weight (T = 0: log version-space volume; spherical relative to the sphere)."""
    _check(student)
    return _scalar(equilibrium(alpha, T, student).entropy)


class _IsingPoorBranch:
    """The Ising poor-generalization RS branch at temperature ``T``, parametrized by its overlap ``R``.

    Along ``R`` the branch is regular through its fold, where ``alpha(R)`` peaks: that maximum is the spinodal.
    For each ``R`` we solve for ``(ln q^, ln R^, ln alpha)`` with the prior giving overlap ``R`` and the conjugate
    fields consistent with the energetic part (Newton/Powell hybrid from the previous point on the branch).
    """

    def __init__(self, T: float):
        self.beta = _beta(np.asarray([T], dtype=float))
        alpha = 0.3 * max(1.0, T)  # a load well inside the poor phase, with R of order 0.1-0.2 at any T
        start = solve(alpha, T, "ising")
        self.points = [(float(start.R), np.log([float(start.q_hat), float(start.R_hat), alpha]))]

    def _residual(self, u, R):
        q_hat, R_hat, alpha = np.exp(u[:, None])
        q, Rp, w, d, _ = _prior(q_hat, R_hat, "ising")
        qh_new, Rh_new, _, _ = _conjugates(alpha, q, Rp, w, d, self.beta)
        return np.array([(Rp[0] - R) / (1 - R), np.log(qh_new[0] / q_hat[0]), np.log(Rh_new[0] / R_hat[0])])

    def at(self, R: float) -> tuple[float, float]:
        """``(alpha, phi)`` of the branch point with overlap ``R``."""
        near = sorted(self.points, key=lambda p: abs(p[0] - R))
        guess = near[0][1]
        if len(near) > 1 and near[1][0] != near[0][0]:  # linear extrapolation from the two nearest points
            (r0, u0), (r1, u1) = near[0], near[1]
            guess = u0 + (u1 - u0) * (R - r0) / (r1 - r0)
        for method in ("hybr", "lm"):  # hybr is faster; Levenberg-Marquardt rescues the rare stall
            sol = root(self._residual, guess, args=(R,), method=method)
            if np.max(np.abs(sol.fun)) < 1e-9:
                break
        else:
            raise RuntimeError(f"Ising RS branch: no saddle point found at R = {R:.6f}, T = {1 / self.beta[0]:.4g}: "
                               f"{sol.message}")
        self.points.append((R, sol.x))
        q_hat, R_hat, alpha = np.exp(sol.x[:, None])
        q, Rp, w, d, G0 = _prior(q_hat, R_hat, "ising")
        G1 = _energetic(q, Rp, w, d, self.beta)[0]
        return float(alpha[0]), float(G0[0] + alpha[0] * G1[0])


def ising_transition(T: float) -> tuple[float, float]:
    """The Ising student's transition lines at temperature ``T`` ([G90], [SST92] §VI).

    Returns:
        ``(alpha_c, alpha_sp)``: above ``alpha_c`` perfect generalization (R = 1) has the lower free energy (first
        order, ``alpha_c(0) = 1.245`` [G90]); above ``alpha_sp`` the poor-generalization state no longer exists.
    """
    T = float(T)
    if T < 0:
        raise ValueError("temperature T must be >= 0")
    branch = _IsingPoorBranch(T)
    R, step = branch.points[0][0], 0.02
    trace = [(R, *branch.at(R))]
    while True:  # walk up the branch until alpha(R) turns down (the fold), with a shrinking step near R = 1
        R = R + min(step, 0.25 * (1 - R))
        trace.append((R, *branch.at(R)))
        if trace[-1][1] < trace[-2][1]:
            break
        if 1 - R < 1e-6:
            raise RuntimeError(f"Ising RS branch at T = {T:g}: alpha(R) did not turn down before R = 1")
    lo, hi = trace[max(len(trace) - 3, 0)][0], trace[-1][0]
    fold = minimize_scalar(lambda r: -branch.at(r)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-9})
    R_sp = float(fold.x)
    alpha_sp, phi_sp = branch.at(R_sp)
    if phi_sp >= 0:  # the poor state ends before perfect generalization wins (not met in practice)
        return alpha_sp, alpha_sp
    R_c = brentq(lambda r: branch.at(r)[1], trace[0][0], R_sp, xtol=1e-12)
    return branch.at(R_c)[0], alpha_sp


# ---------------------------------------------------------------- annealed and high-temperature limits


def annealed(alpha: float, T: float, student: str = "spherical") -> LimitState:
    """The annealed approximation ``<ln Z> ~ ln <Z>`` ([SST92] §IV, [EVdB01] §2.3) at one (alpha, T)."""
    _check(student)
    return LimitModel(float(_beta(np.asarray(T, dtype=float))), student, high_T=False).state(float(alpha))


def high_temperature(alpha_over_T: float, student: str = "spherical") -> LimitState:
    """The high-temperature limit ``T -> inf`` at fixed ``alpha / T`` ([SST92] §V, [EVdB01] §4.2).

    The quenched theory reduces to the annealed one there, with ``q = R^2``; for the spherical student
    ``R / sqrt(1 - R^2) = (alpha / T) / pi`` and ``eps -> T / alpha`` for large ``alpha / T``.
    """
    _check(student)
    return LimitModel(0.0, student, high_T=True).state(float(alpha_over_T))


def annealed_ising_transition(T: float = 0.0) -> tuple[float, float]:
    """``(alpha_c, alpha_sp)`` of the Ising student in the annealed approximation (T = 0: alpha_c = 1.44797)."""
    return LimitModel(float(_beta(np.asarray(T, dtype=float))), "ising", high_T=False).ising_transition()


def high_temperature_ising_transition() -> tuple[float, float]:
    """``(alpha_c / T, alpha_sp / T)`` of the Ising student in the high-temperature limit ([SST92]: 1.70, 2.08)."""
    return LimitModel(0.0, "ising", high_T=True).ising_transition()
