"""det X = 1, eigenvector localization and correlation traps, against hand and NumPy computations."""

import numpy as np
import pytest

from rmtkit.extra import analyze_extra, correlation_traps, detx, localization, participation_ratio


def test_detx_by_hand():
    # mean 1.6: scaled 2.5, 1.25, 0.625, 0.3125, 0.3125; products of the top k: 2.5, 3.125, 1.95, 0.61 -> k = 4
    d = detx([0.5, 4.0, 1.0, 2.0, 0.5], xmin=2.0)
    assert d.num == 4 and d.lam == 0.5 and d.gap == pytest.approx(np.log10(4.0))
    assert detx(np.full(7, 3.0)).num == 0  # det X = 1 for every k: no tail


@pytest.mark.parametrize("seed", [0, 1])
def test_detx_against_products_of_the_top_eigenvalues(seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_t(3, size=(120, 60))
    ev = np.linalg.eigvalsh(w.T @ w)
    scaled = np.sort(ev)[::-1] * ev.size / ev.sum()
    k = next(k for k in range(1, ev.size + 1) if np.prod(scaled[:k]) <= 1)  # det of the top-k block of X / mean
    d = detx(ev)
    assert d.num == k and d.lam == pytest.approx(np.sort(ev)[::-1][k - 1])
    assert detx(10 * ev).num == k  # scale free


def test_participation_ratio_and_localization():
    m = 80
    basis, flat = np.eye(m)[:, :1], np.full((m, 1), 1 / np.sqrt(m))
    assert participation_ratio(basis)[0] == pytest.approx(1) and participation_ratio(flat)[0] == pytest.approx(m)
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((400, m))
    pr, random, ratio = localization(noise, k=10)
    assert random == (m + 2) / 3 and 0.75 < ratio < 1.25  # top eigenvectors of noise: as flat as random vectors
    spiky = noise.copy()
    spiky[:, 7] *= 30  # one input coordinate dominates: the top eigenvector is e_7
    pr1, _, ratio1 = localization(spiky, k=1)
    assert pr1 == pytest.approx(1, abs=0.05) and ratio1 == pytest.approx(3 / (m + 2), rel=0.05)


def planted(n=200, m=100, at=(17, 42), value=60.0, seed=4):
    w = np.random.default_rng(seed).standard_normal((n, m))
    w[at] = value
    return w


def test_a_planted_trap_is_found_and_mapped_back():
    w = planted()
    traps = correlation_traps(w, seed=0)
    assert len(traps) == 1 and traps[0].entry == (17, 42) and traps[0].value == 60.0
    # a rank-1 entry theta >> sqrt(N) on unit noise: s^2 ~ theta^2 + (N + M), above the MP edge sqrt(N) (1 + sqrt(M/N))
    assert traps[0].s == pytest.approx(np.sqrt(60**2 + 300), rel=0.01)
    assert np.sqrt(200) * (1 + np.sqrt(0.5)) < traps[0].edge < traps[0].s
    assert [t.entry for t in correlation_traps(w, seed=7)] == [(17, 42)]  # any shuffle finds it
    assert correlation_traps(np.random.default_rng(5).standard_normal((200, 100)), seed=0) == []


def test_traps_are_reproducible_with_a_seed():
    w = np.random.default_rng(6).standard_t(2.5, size=(150, 80))  # heavy tails: several traps
    a, b = correlation_traps(w, seed=11), correlation_traps(w, seed=11)
    assert a == b and len(a) >= 1
    with pytest.raises(ValueError, match="explicit seed"):
        analyze_extra({"w": w}, traps=True)


@pytest.mark.slow
def test_analyze_extra_on_a_model():
    rng = np.random.default_rng(8)
    w = planted(at=(17, 42)).T.copy()  # stored 100 x 200: the layer is its transpose, entries still (row, col) of W
    noise = rng.standard_t(3, size=(150, 90))
    out = analyze_extra({"wide.kernel": w, "fc.kernel": noise}, vectors=True, traps=True, seed=3)
    out = out.set_index("name")
    assert out.loc["wide.kernel", "trap_entries"].split("; ")[0] == "42,17"
    ev = np.linalg.eigvalsh(noise.T @ noise)
    assert out.loc["fc.kernel", "detx_num"] == detx(ev).num
    assert out.loc["fc.kernel", "vec_pr_random"] == (90 + 2) / 3
