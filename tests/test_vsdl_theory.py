"""VSDL theory: the RS saddle points reproduce the published anchors of perceptron learning."""

import numpy as np
import pytest

from simulations.vsdl import theory as th


def test_ising_zero_temperature_transition_gyorgyi():
    # [G90]: first-order transition to perfect generalization at alpha_c = 1.245 (tolerance: the published 3 digits);
    # the poor state's spinodal at 1.493 ([SST92] §VI); T -> 0 is continuous.
    alpha_c, alpha_sp = th.ising_transition(0.0)
    assert abs(alpha_c - 1.245) < 1e-3
    assert abs(alpha_sp - 1.493) < 1e-3
    low = th.ising_transition(0.02)
    assert abs(low[0] - alpha_c) < 1e-4 and abs(low[1] - alpha_sp) < 1e-4


def test_ising_equilibrium_jumps_to_perfect_generalization_at_alpha_c():
    alpha_c, alpha_sp = th.ising_transition(0.0)
    eps = th.generalization_error(np.array([alpha_c - 1e-3, alpha_c + 1e-3, alpha_sp + 0.1]), 0.0, "ising")
    assert eps.shape == (3,)
    assert eps[0] > 0.2 and eps[1] == 0.0 and eps[2] == 0.0  # a jump, not a smooth decrease
    poor = th.solve(alpha_c + 1e-3, 0.0, "ising")  # the metastable poor state still exists above alpha_c
    assert not poor.perfect and poor.phi < 0 and 0.2 < poor.eps_gen < 0.3


def test_spherical_gibbs_and_bayes_asymptotics_opper_haussler():
    # [OH91]: alpha eps -> 0.625 (Gibbs) and 0.442 (Bayes), ratio sqrt(2); at alpha = 400 the O(1/alpha)
    # correction is below 1e-3 (tolerance 2e-3 on the 3-digit constants).
    alpha = 400.0
    gibbs = alpha * th.generalization_error(alpha, 0.0, "spherical", "gibbs")
    bayes = alpha * th.generalization_error(alpha, 0.0, "spherical", "bayes")
    assert abs(gibbs - 0.625) < 2e-3
    assert abs(bayes - 0.442) < 2e-3
    assert abs(gibbs / bayes - np.sqrt(2)) < 1e-3


def test_annealed_ising_threshold():
    # annealed approximation ([SST92] §IV, Engel et al.): transition to perfect generalization at 1.44797
    alpha_c, alpha_sp = th.annealed_ising_transition(0.0)
    assert abs(alpha_c - 1.44797) < 1e-5
    assert alpha_sp > alpha_c
    assert th.annealed(alpha_c - 1e-3, 0.0, "ising").perfect is False
    assert th.annealed(alpha_c + 1e-3, 0.0, "ising").perfect is True


def test_high_temperature_limit_is_reached_at_fixed_alpha_over_T():
    # [SST92] §V: alpha_c / T -> 1.70, alpha_sp / T -> 2.08 for the Ising student
    tilde_c, tilde_sp = th.high_temperature_ising_transition()
    assert abs(tilde_c - 1.696) < 1e-3 and abs(tilde_sp - 2.082) < 1e-3
    alpha_c, alpha_sp = th.ising_transition(1000.0)
    assert abs(alpha_c / 1000 - tilde_c) < 2e-3 and abs(alpha_sp / 1000 - tilde_sp) < 2e-3
    # spherical: quenched eps at T = 200 within 0.5% of the limit; there eps -> T / alpha for large alpha / T
    quenched = th.generalization_error(400.0, 200.0, "spherical")
    assert abs(quenched / th.high_temperature(2.0, "spherical").eps_gen - 1) < 5e-3
    assert abs(th.high_temperature(1000.0, "spherical").eps_gen * 1000 - 1) < 1e-3


@pytest.mark.parametrize("student", ["spherical", "ising"])
def test_version_space_has_nishimori_symmetry_q_equals_R(student):
    s = th.solve(np.array([0.5, 1.0, 1.2]), 0.0, student)
    assert s.converged.all()
    np.testing.assert_allclose(s.q, s.R, atol=1e-8)
    np.testing.assert_allclose(s.eps_train, 0.0)
    hot = th.solve(np.array([1.0, 2.0]), 1.0, student)  # no such symmetry at T > 0: q < R
    assert (hot.q < hot.R - 1e-3).all()


@pytest.mark.parametrize("student", ["spherical", "ising"])
def test_training_error_is_the_temperature_derivative_of_the_free_energy(student):
    # envelope theorem: alpha eps_train = -d(phi)/d(beta) at the saddle point; tolerance from the O(h^2) difference
    alpha, T, h = 1.0, 0.8, 1e-4
    phi = [float(th.solve(alpha, 1 / (1 / T + s * h), student, tol=1e-14).phi) for s in (+1, -1)]
    eps_t = th.training_error(alpha, T, student)
    assert abs(alpha * eps_t + (phi[0] - phi[1]) / (2 * h)) < 1e-6
    s = th.equilibrium(alpha, T, student)
    assert abs(s.free_energy - (alpha * eps_t - T * s.entropy)) < 1e-10  # f = e - T s


def test_spherical_error_falls_with_load_and_rises_with_temperature():
    alpha = np.array([0.5, 1.0, 2.0, 5.0, 20.0])
    eps = th.generalization_error(alpha[:, None], np.array([0.0, 0.5, 2.0])[None, :], "spherical")
    assert eps.shape == (5, 3)
    assert (np.diff(eps, axis=0) < 0).all() and (np.diff(eps, axis=1) > 0).all()
    assert isinstance(th.generalization_error(1.0, 0.0), float)
    assert th.generalization_error(0.0, 1.0) == 0.5
    train = th.training_error(alpha, 0.5, "spherical")
    assert (train < eps[:, 1]).all() and (train > 0).all()  # training error below test error at T > 0


def test_ising_transition_lines_order_and_grow_with_temperature():
    lines = np.array([th.ising_transition(T) for T in (0.0, 0.5, 1.0, 2.0)])
    assert (lines[:, 0] < lines[:, 1]).all()
    assert (np.diff(lines, axis=0) > 0).all()
    np.testing.assert_allclose(lines[1], [1.5708, 1.9026], atol=1e-3)  # regression values of this solver


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="student"):
        th.generalization_error(1.0, 0.0, "binary")
    with pytest.raises(ValueError, match="rule"):
        th.generalization_error(1.0, 0.0, "spherical", "map")
    with pytest.raises(ValueError, match="spherical student only"):
        th.generalization_error(1.0, 0.0, "ising", "bayes")
    with pytest.raises(ValueError, match="T must be >= 0"):
        th.ising_transition(-1.0)
