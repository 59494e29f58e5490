"""Monte Carlo of Gibbs learning of a teacher perceptron: jitted, vmapped over disorder and a (load, T) grid.

A teacher ``B`` labels ``P = load N`` Gaussian examples ``x_mu`` with ``sigma_mu = sign(B . x_mu)``. The student
``J`` is sampled from ``exp(-E(J) / T)`` with ``E`` the number of training errors, i.e. of examples with a negative
stability ``h_mu = sigma_mu J . x_mu``. We keep ``y_{i mu} = sigma_mu x_{mu i}`` and the stabilities ``h``;
changing weight ``i`` by ``delta`` changes every stability by ``delta y_i`` (O(P) per update).

Samplers (one sweep = N single-weight updates in order):
- Ising (``J_i = +-1``): Metropolis spin flips, ``delta = -2 J_i``.
- spherical: the Gibbs measure on the sphere is the angular part of ``N(0, I) exp(-E(J / |J|) / T)``, because
  ``E`` depends on the direction only and the Gaussian is isotropic. We sample that measure with
  Metropolis-within-Gibbs: propose ``J_i' ~ N(0, 1)`` (the prior's conditional) and accept with
  ``min(1, exp(-dE / T))``; the direction ``J / |J|`` is then a Gibbs sample on the sphere.
- spherical, T = 0, ``version_space=True``: exact heat bath inside the version space. Given the other weights the
  constraints ``h_mu >= 0`` confine ``J_i`` to an interval, and ``J_i`` is redrawn from ``N(0, 1)`` truncated to
  it, so every update moves. Needs a start inside the version space (the teacher).

Finite-size and equilibration caveats are the caller's: see ``summarize`` for the error bars.
References: [SST92] Seung, Sompolinsky, Tishby, PRA 45, 6056 (1992) §VII (their simulations); [EVdB01] ch. 2, 7.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from simulations.vsdl.theory import STUDENTS

STARTS = ("random", "teacher")


class Problem(NamedTuple):
    """One teacher and its training set, padded to ``p_max`` examples.

    Attributes:
        y: ``(N, p_max)``, ``y[i, mu] = sigma_mu x_{mu i}``.
        mask: ``(p_max,)``, 1 for the ``P`` examples in use, 0 for padding.
        teacher: ``(N,)`` teacher weights (Ising: +-1; spherical: norm sqrt(N)).
    """

    y: jax.Array
    mask: jax.Array
    teacher: jax.Array


class ChainState(NamedTuple):
    """Student weights ``w (N,)``, stabilities ``h (p_max,)`` and the training energy (errors among used examples)."""

    w: jax.Array
    h: jax.Array
    energy: jax.Array


class Trace(NamedTuple):
    """Per-sweep measurements, leading axes as the chains: overlap ``R`` with the teacher and training error."""

    R: jax.Array
    train_error: jax.Array


def make_problem(key: jax.Array, n: int, p_max: int, p, student: str) -> Problem:
    """A random teacher of the student's kind and ``p`` (<= ``p_max``, may be traced) Gaussian examples."""
    k_teacher, k_x = jax.random.split(key)
    dtype = jnp.zeros(()).dtype  # float64 if the entry point enabled it
    if student == "ising":
        teacher = jax.random.rademacher(k_teacher, (n,), dtype=dtype)
    else:
        g = jax.random.normal(k_teacher, (n,), dtype)
        teacher = g * jnp.sqrt(n) / jnp.linalg.norm(g)
    x = jax.random.normal(k_x, (p_max, n), dtype)
    sigma = jnp.sign(x @ teacher)
    mask = (jnp.arange(p_max) < p).astype(dtype)
    return Problem((sigma[:, None] * x).T, mask, teacher)


def init_state(problem: Problem, key: jax.Array, student: str, start: str) -> ChainState:
    """A student drawn from the prior (``start="random"``) or equal to the teacher (``"teacher"``)."""
    n = problem.teacher.shape[0]
    dtype = problem.y.dtype
    if start == "teacher":
        w = problem.teacher
    elif student == "ising":
        w = jax.random.rademacher(key, (n,), dtype=dtype)
    else:
        w = jax.random.normal(key, (n,), dtype)
    h = w @ problem.y
    return ChainState(w, h, training_errors(h, problem.mask))


def training_errors(h: jax.Array, mask: jax.Array) -> jax.Array:
    """Number of used examples with negative stability."""
    return jnp.sum(jnp.where(h < 0, mask, 0.0), axis=-1)


def overlap(w: jax.Array, teacher: jax.Array) -> jax.Array:
    """Normalized student-teacher overlap ``R = w . B / (|w| |B|)``."""
    return jnp.dot(w, teacher) / (jnp.linalg.norm(w) * jnp.linalg.norm(teacher))


def _metropolis_sweep(problem: Problem, state: ChainState, beta, key, student: str) -> ChainState:
    """One ordered sweep of single-weight Metropolis updates (module docstring)."""
    n = state.w.shape[0]
    k_u, k_prop = jax.random.split(key)
    log_u = jnp.log(jax.random.uniform(k_u, (n,), state.h.dtype))
    proposals = -state.w if student == "ising" else jax.random.normal(k_prop, (n,), state.h.dtype)

    def update(i, s: ChainState) -> ChainState:
        delta = proposals[i] - s.w[i] if student == "spherical" else -2.0 * s.w[i]
        h_new = s.h + delta * problem.y[i]
        d_energy = training_errors(h_new, problem.mask) - s.energy
        # beta = inf (T = 0) accepts exactly the moves with d_energy <= 0, without inf * 0
        accept = (d_energy <= 0) | (log_u[i] < -beta * d_energy)
        new_wi = jnp.where(accept, s.w[i] + delta, s.w[i])
        return ChainState(s.w.at[i].set(new_wi), jnp.where(accept, h_new, s.h),
                          jnp.where(accept, s.energy + d_energy, s.energy))

    return jax.lax.fori_loop(0, n, update, state)


def _version_space_sweep(problem: Problem, state: ChainState, beta, key, student: str) -> ChainState:
    """One ordered sweep of exact truncated-Gaussian heat-bath updates inside the version space (T = 0)."""
    del beta, student
    n = state.w.shape[0]
    keys = jax.random.split(key, n)
    dtype = state.h.dtype

    def update(i, s: ChainState) -> ChainState:
        y = problem.y[i]
        used = problem.mask > 0
        rest = s.h - s.w[i] * y  # stabilities without weight i; constraint rest + v y >= 0
        bound = -rest / jnp.where(y == 0, 1.0, y)
        lo = jnp.max(jnp.where(used & (y > 0), bound, -jnp.inf))
        hi = jnp.min(jnp.where(used & (y < 0), bound, jnp.inf))
        # guard the interval (the current value lies inside it up to rounding) and the tails of truncated_normal
        lo, hi = jnp.minimum(lo, s.w[i]), jnp.maximum(hi, s.w[i])
        v = jax.random.truncated_normal(keys[i], lo, hi, dtype=dtype)
        v = jnp.where(jnp.isfinite(v), v, s.w[i])
        h = rest + v * y
        return ChainState(s.w.at[i].set(v), h, training_errors(h, problem.mask))

    return jax.lax.fori_loop(0, n, update, state)


def run_chain(problem: Problem, state: ChainState, beta, key, *, sweeps: int, student: str,
              version_space: bool = False) -> tuple[ChainState, Trace]:
    """``sweeps`` sweeps of one chain; returns the final state and per-sweep (R, training error)."""
    sweep = _version_space_sweep if version_space else _metropolis_sweep
    num_used = jnp.sum(problem.mask)

    def step(s, k):
        s = sweep(problem, s, beta, k, student)
        return s, Trace(overlap(s.w, problem.teacher), s.energy / jnp.maximum(num_used, 1.0))

    return jax.lax.scan(step, state, jax.random.split(key, sweeps))


@partial(jax.jit, static_argnames=("n", "p_max", "sweeps", "student", "start", "version_space"))
def _simulate_batch(keys, p, beta, *, n, p_max, sweeps, student, start, version_space):
    def one(key, p_i, beta_i):
        k_problem, k_init, k_chain = jax.random.split(key, 3)
        problem = make_problem(k_problem, n, p_max, p_i, student)
        state = init_state(problem, k_init, student, start)
        return run_chain(problem, state, beta_i, k_chain, sweeps=sweeps, student=student,
                         version_space=version_space)[1]

    return jax.vmap(one)(keys, p, beta)


class MCResult(NamedTuple):
    """Traces of a batch of chains; every array has leading axis ``chains``.

    ``load`` (P / N), ``T``, ``sample`` label each chain; ``trace`` holds per-sweep ``R`` and training error,
    shape ``(chains, sweeps)``.
    """

    load: np.ndarray
    T: np.ndarray
    sample: np.ndarray
    trace: Trace
    n: int
    student: str
    start: str


def simulate(key: jax.Array, *, student: str, n: int, load, T, samples: int, sweeps: int,
             start: str = "random", version_space: bool = False) -> MCResult:
    """Run ``samples`` independent teachers/training sets at every (load, T) pair, all chains in one vmapped call.

    Args:
        key: PRNG key; chain ``k`` uses ``fold_in(key, k)``.
        student: "ising" or "spherical".
        n: number of weights N.
        load, T: 1-d arrays of the same length: the grid points (load = P / N examples per weight) (outer product is the caller's choice).
        samples: disorder samples per grid point.
        sweeps: sweeps per chain (each N single-weight updates).
        start: "random" (prior) or "teacher".
        version_space: spherical student at T = 0 only: exact heat bath in the version space (needs
            ``start="teacher"``).
    """
    if student not in STUDENTS:
        raise ValueError(f"student must be one of {STUDENTS}, got {student!r}")
    if start not in STARTS:
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    load, T = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (load, T))
    if load.shape != T.shape or load.ndim != 1:
        raise ValueError(f"load and T must be 1-d of equal length, got shapes {load.shape} and {T.shape}")
    if np.any(T < 0) or np.any(load <= 0):
        raise ValueError("need load > 0 and T >= 0")
    if version_space and (student != "spherical" or start != "teacher" or np.any(T > 0)):
        raise ValueError("version_space sampling needs student='spherical', start='teacher' and T = 0")
    p = np.maximum(np.round(load * n).astype(int), 1)
    p_max = int(p.max())
    load_c, T_c = np.repeat(load, samples), np.repeat(T, samples)
    sample = np.tile(np.arange(samples), load.size)
    with np.errstate(divide="ignore"):
        beta = np.where(T_c > 0, 1.0 / np.where(T_c > 0, T_c, 1.0), np.inf)
    keys = jax.vmap(lambda k: jax.random.fold_in(key, k))(jnp.arange(load_c.size))
    trace = _simulate_batch(keys, jnp.asarray(np.repeat(p, samples)), jnp.asarray(beta), n=n, p_max=p_max,
                            sweeps=sweeps, student=student, start=start, version_space=version_space)
    return MCResult(load_c, T_c, sample, jax.tree.map(np.asarray, trace), n, student, start)


def summarize(result: MCResult, burn_in: int):
    """Per grid point: mean and standard error over disorder samples of eps_gen and the training error.

    Each chain's ``R`` is averaged over the sweeps after ``burn_in``; its generalization error is
    ``arccos(<R>) / pi``. The error bar is the standard deviation over the ``samples`` chains divided by
    ``sqrt(samples)`` (the chains are independent; thermal and disorder fluctuations are both in it).

    Returns:
        A pandas DataFrame with columns load, T, samples, R, eps_gen, eps_gen_err, train_error, train_error_err.
    """
    import pandas as pd

    sweeps = result.trace.R.shape[1]
    if not 0 <= burn_in < sweeps:
        raise ValueError(f"burn_in must be in [0, {sweeps}), got {burn_in}")
    R = result.trace.R[:, burn_in:].mean(1)
    table = pd.DataFrame({"load": result.load, "T": result.T, "R": R,
                          "eps_gen": np.arccos(np.clip(R, -1, 1)) / np.pi,
                          "train_error": result.trace.train_error[:, burn_in:].mean(1)})
    g = table.groupby(["load", "T"], sort=False)
    out = g.mean().reset_index()
    count = g.size().to_numpy()
    out.insert(2, "samples", count)
    for col in ("eps_gen", "train_error"):
        out[f"{col}_err"] = g[col].std(ddof=1).to_numpy() / np.sqrt(count) if count.min() > 1 else math.nan
    return out
