"""The 5+1 phase classifier: clear examples, scale invariance, padding, failures, held-out accuracy."""

import dataclasses

import jax
import numpy as np
import pytest

import rmtkit
from rmtkit import ensembles, phases
from rmtkit.phases import Phase, PhaseCriteria


def _clear_examples(key, n, m):
    """One unambiguous matrix per phase (well inside each calibration range, M >= 200), in Phase order."""
    q = n / m
    bbp = float(rmtkit.bbp_threshold(q))
    ks = jax.random.split(key, 6)
    return [
        ensembles.gaussian(ks[0], n, m, 0.5),
        ensembles.spiked(ks[1], n, m, [1.7 * bbp]),
        ensembles.spiked(ks[2], n, m, [5.0 * bbp, 4.0 * bbp]),
        ensembles.bulk_decay(ks[3], n, m, 1.5),
        ensembles.pareto(ks[4], n, m, 1.0),
        ensembles.low_rank(ks[5], n, m, rank=m // 10),
    ]


def _spectra(ws):
    return np.asarray(rmtkit.eigenvalues(np.stack([np.asarray(w) for w in ws])))


@pytest.fixture(scope="module")
def clear200():
    n, m = 400, 200
    ev = _spectra(_clear_examples(jax.random.key(11), n, m))
    return ev, np.full(len(ev), n / m)


@pytest.fixture(scope="module")
def clear200_matrices():
    return np.stack([np.asarray(w) for w in _clear_examples(jax.random.key(11), 400, 200)])


def test_phase_enum_labels_and_order():
    assert Phase.labels() == ["random-like", "bleeding-out", "bulk+spikes", "bulk-decay", "heavy-tailed", "rank-collapse"]
    assert [p.label for p in Phase] == Phase.labels()
    assert Phase.BULK_PLUS_SPIKES.label == "bulk+spikes" and int(Phase.RANK_COLLAPSE) == 5
    assert Phase.from_label("heavy-tailed") is Phase.HEAVY_TAILED
    with pytest.raises(ValueError, match="unknown phase"):
        Phase.from_label("random")


def test_clear_examples_m200(clear200):
    ev, q = clear200
    assert phases.classify_phases(ev, q).tolist() == Phase.labels()


def test_clear_examples_m500_square():
    ev = _spectra(_clear_examples(jax.random.key(12), 500, 500))
    assert phases.classify_phases(ev, 1.0, lengths=np.full(6, 500)).tolist() == Phase.labels()


@pytest.mark.parametrize("factor", [1e3, 1e-3])
def test_scale_invariance(clear200, factor):
    ev, q = clear200
    assert phases.classify_phases(ev * factor, q).tolist() == Phase.labels()


def test_both_eigenvalue_conventions_agree(clear200_matrices):
    w = clear200_matrices
    per_n = np.asarray(rmtkit.eigenvalues(w, normalize=True))
    raw = np.asarray(rmtkit.eigenvalues(w, normalize=False))  # lambda = s^2, [MPM-NC]
    np.testing.assert_array_equal(phases.classify_phases(raw, 2.0), phases.classify_phases(per_n, 2.0))
    assert phases.classify_phases(raw, 2.0).tolist() == Phase.labels()


def test_padding_with_different_lengths(clear200):
    ev, _ = clear200
    small = _spectra(_clear_examples(jax.random.key(14), 240, 120))  # M = 120, Q = 2
    batch = ev.copy()  # phases 0, 2, 4 at M = 200; phases 1, 3, 5 replaced by M = 120 rows, zero-padded
    batch[1::2] = 0.0
    batch[1::2, :120] = small[1::2]
    lengths = np.array([200, 120] * 3)
    got = phases.classify_phases(batch, np.full(6, 2.0), lengths=lengths)
    assert got[0::2].tolist() == Phase.labels()[0::2]
    # The padded rows get the labels they get alone, without padding.
    np.testing.assert_array_equal(got[1::2], phases.classify_phases(small[1::2], 2.0))
    assert got[1::2].tolist() == Phase.labels()[1::2]


def test_failure_rows_are_undetermined(clear200):
    ev, q = clear200
    batch = np.concatenate([ev[:2], ev[:1], ev[:1], np.ones((1, 200))])  # rows 2-4 will be broken
    batch[2, 50] = np.nan
    q = np.array([2.0, 2.0, 2.0, 0.5, 2.0])  # row 3: q < 1; row 4: all eigenvalues equal (orthogonal W)
    got = phases.classify_phases(batch, q)
    assert got.tolist() == ["random-like", "bleeding-out", None, None, None]
    info = phases.explain_phase(batch, q)
    assert info[2]["rule"] == "invalid" and info[4]["rule"] == "mp_failed"
    assert info[0]["reason"].endswith("no outlier beyond l+ + 3 Delta_TW: random-like")
    assert info[1]["reason"].endswith(f"< {phases.PhaseCriteria().spike_edge_ratio:g}: bleeding-out")
    assert info[4]["reason"].startswith("no phase: the MP fit failed")
    # An MP fit handed in with a failed (NaN) row: that row has no phase, the others keep theirs.
    mp = rmtkit.fit_marchenko_pastur(ev, 2.0)
    def fail_row0(a, value):
        a = np.asarray(a).copy()
        a[0] = value
        return a

    broken = mp._replace(**{f: fail_row0(getattr(mp, f), np.nan)
                            for f in ("sigma", "lambda_minus", "lambda_plus", "threshold", "D")},
                         num_spikes=fail_row0(mp.num_spikes, -1), num_bulk=fail_row0(mp.num_bulk, -1),
                         status=fail_row0(mp.status, rmtkit.FitStatus.NON_FINITE))
    got = phases.classify_phases(ev, 2.0, mp=broken)
    assert got[0] is None and got[1:].tolist() == Phase.labels()[1:]


def test_rank_collapse_from_hard_rank_and_noise_floor():
    n, m = 400, 200
    ks = jax.random.split(jax.random.key(15), 3)
    ws = [
        ensembles.low_rank(ks[0], n, m, rank=2),  # too few above the gap for the spectrum alone
        ensembles.low_rank(ks[1], n, m, rank=40, noise=1e-3),  # full hard rank, noise floor 1e-6
        ensembles.low_rank(ks[2], n, m, rank=40),
    ]
    ev = np.asarray(rmtkit.eigenvalues(np.stack([np.asarray(w) for w in ws]), method="svd"))
    hard = np.asarray(rmtkit.hard_rank(ev, n, m))
    np.testing.assert_array_equal(hard, [2, 200, 40])
    assert phases.classify_phases(ev, 2.0)[1:].tolist() == ["rank-collapse"] * 2
    assert phases.classify_phases(ev, 2.0, hard_rank=hard).tolist() == ["rank-collapse"] * 3
    feats = phases.phase_features(ev, 2.0, hard_rank=hard)
    np.testing.assert_allclose(feats["null_fraction"], [0.99, 0.8, 0.8])


def test_criteria_are_used_and_explained(clear200):
    ev, q = clear200
    info = phases.explain_phase(ev, q)
    assert [r["phase"] for r in info] == Phase.labels()
    assert info[2]["top_ratio"] >= PhaseCriteria().spike_edge_ratio > info[1]["top_ratio"]
    assert info[0]["num_spikes"] == 0 and info[5]["null_fraction"] >= 0.25
    # Raising the edge ratio turns bulk+spikes into bleeding-out; nothing else moves.
    strict = dataclasses.replace(PhaseCriteria(), spike_edge_ratio=100.0)
    got = phases.classify_phases(ev, q, criteria=strict).tolist()
    assert got == ["random-like", "bleeding-out", "bleeding-out", "bulk-decay", "heavy-tailed", "rank-collapse"]
    assert dict(phases.criteria_table())["spike_edge_ratio"] == 2.0


def test_given_fits_are_used_and_truncated_power_law_refitted(clear200):
    ev, q = clear200
    lengths = np.full(6, 200)
    mp = rmtkit.fit_marchenko_pastur(ev, q, lengths=lengths)
    truncated = rmtkit.powerlaw.fit_power_law(ev, lengths=lengths, method="csn", xmax="max")
    got = phases.classify_phases(ev, q, lengths=lengths, mp=mp, pl=truncated)
    assert got.tolist() == Phase.labels()


def test_sample_phase_is_deterministic_and_in_range():
    key = jax.random.key(16)
    for phase in Phase:
        a, b = phases.sample_phase(key, phase, 60, 30), phases.sample_phase(key, phase, 60, 30)
        np.testing.assert_array_equal(a, b)
        assert a.shape == (60, 30)
    for d in range(20):
        k = jax.random.fold_in(key, d)
        p = phases.sample_phase_params(k, Phase.BLEEDING_OUT, 400, 100)
        s = p["strengths"][p["strengths"] > 0] / float(rmtkit.bbp_threshold(4.0))
        assert 1 <= s.size <= 3 and np.all((s >= 1.4) & (s <= 2.0))
        p = phases.sample_phase_params(k, Phase.HEAVY_TAILED, 400, 100)
        assert 0.5 <= p.get("mu", p.get("nu", 1.0)) <= 2.0
        p = phases.sample_phase_params(k, Phase.RANK_COLLAPSE, 400, 100)
        assert 2 <= p["rank"] <= 30 and p["noise"] <= 1e-2 * p["sigma"]


@pytest.mark.slow
def test_held_out_accuracy_m200():
    """Fresh draws (seed 31337: neither the tuning seeds 100/101 nor the benchmark's 7), M = 200, Q = 2."""
    root = jax.random.key(31337)
    ws, truth = [], []
    for phase in Phase:
        for d in range(6):
            ws.append(np.asarray(phases.sample_phase(jax.random.fold_in(jax.random.fold_in(root, int(phase)), d),
                                                     phase, 400, 200)))
            truth.append(phase.label)
    got = phases.classify_phases(_spectra(ws), 2.0)
    accuracy = np.mean(got == np.array(truth))
    assert accuracy >= 0.9, list(zip(truth, got, strict=True))
