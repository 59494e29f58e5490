"""Verdicts that hold on real layers: null models of every layer kind, pooled spectra, spikes by their distance
from the bulk, rank collapse by the effective rank, one verdict whatever the estimator (docs/phases.md)."""

import jax
import numpy as np
import pytest

import rmtkit
from rmtkit import ensembles, phases
from rmtkit.layer_warnings import warning_categories
from rmtkit.marchenko_pastur import pooled_tw_factor

#: One shape per family of benchmarks/null_models.py (Flax layouts), under four initialisers.
NULL_SHAPES = {"dense": (300, 100), "conv1x1": (1, 1, 64, 128), "conv3x3": (3, 3, 64, 128),
               "conv5x5": (5, 5, 32, 64), "attention": (256, 256), "attention_qkv": (256, 768)}
INITS = {"glorot_normal": jax.nn.initializers.glorot_normal(), "he_uniform": jax.nn.initializers.he_uniform(),
         "lecun_normal": jax.nn.initializers.lecun_normal(), "normal_0.02": jax.nn.initializers.normal(0.02)}


def test_random_initialisations_of_every_layer_kind_read_random_like():
    key = jax.random.key(31)
    layers = {}
    for family, shape in NULL_SHAPES.items():
        for name, init in INITS.items():
            key, sub = jax.random.split(key)
            layers[f"{family}.{name}"] = np.asarray(init(sub, shape, np.float32))
    df = rmtkit.analyze(layers, progress=False).to_frame().set_index("name")
    assert len(df) == 24 and (df["status"] == "ok").all()
    # Before the pooled calibration, 3x3 kernels of this size read bulk-decay (the bulk test on kh*kw slices).
    assert (df["phase"] == "random-like").mean() >= 0.95, df.loc[df["phase"] != "random-like", "phase_reason"]
    assert (df.loc[df.index.str.startswith("conv"), "phase"] == "random-like").all()
    cats = {c for w in df["warning"] for c in warning_categories(w)}
    assert cats <= {"under-trained", "unreliable"}  # never over-trained or rank-deficient
    assert (df["phase_rule"] == "edge:tw").mean() >= 0.95


def test_the_pooled_fit_counts_no_false_outlier_where_the_unpooled_fit_does():
    rng = np.random.default_rng(5)
    w = rng.standard_normal((25, 64, 32))  # the 5x5 slices of a conv kernel with c_in = 64, c_out = 32
    ev = np.sort(np.linalg.eigvalsh(np.einsum("kni,knj->kij", w, w)).reshape(-1))
    assert int(rmtkit.fit_marchenko_pastur(ev, 2.0).num_spikes) > 0  # one matrix's edge on 25 pooled tops
    assert int(rmtkit.fit_marchenko_pastur(ev, 2.0, pooled=25).num_spikes) == 0
    info = phases.explain_phase(ev[None], 2.0, pooled=25)[0]
    assert info["phase"] == "random-like" and info["bulk_ks"] <= phases.PhaseCriteria().bulk_ks_max
    # The margin with one matrix's false-alarm rate: (3^(3/2) + (3/2) ln k)^(2/3).
    np.testing.assert_allclose(pooled_tw_factor(3.0, np.array([1, 9, 25])),
                               [3.0, (27**0.5 + 1.5 * np.log(9)) ** (2 / 3), (27**0.5 + 1.5 * np.log(25)) ** (2 / 3)])
    with pytest.raises(ValueError, match="pooled must be a count >= 1"):
        rmtkit.fit_marchenko_pastur(ev, 2.0, pooled=0)


@pytest.mark.parametrize(("strengths", "expected"), [
    ([1.6], "bleeding-out"),  # a planted spike at 1.6 x BBP lands within 1.5 l+
    ([4.0], "bulk+spikes"),
    # Outliers spread from just past the edge to far beyond it, as in trained layers: the distance of the
    # largest from the bulk decides, not the ratios between consecutive outliers (all below 2 here).
    ([1.5, 1.7, 1.9, 2.1, 2.4, 2.7, 3.0, 3.4, 3.8, 4.3], "bulk+spikes"),
])
def test_bulk_plus_spikes_is_decided_by_the_distance_from_the_edge(strengths, expected):
    q = 2.0
    s = np.asarray(strengths) * float(rmtkit.bbp_threshold(q))
    w = np.asarray(ensembles.spiked(jax.random.key(8), 1000, 500, s))
    info = phases.explain_phase(np.asarray(rmtkit.eigenvalues(w))[None], q)[0]
    assert info["phase"] == expected
    if len(strengths) > 1:
        top = np.sort(np.asarray(rmtkit.eigenvalues(w)))[-info["num_spikes"]:]
        assert np.max(top[1:] / top[:-1]) < 2 <= info["top_ratio"]


def _collapsed(key, n=512, m=384):
    """A smooth spectrum with a collapsed effective rank and Gaussian-like entries (as strong L2 leaves FC1)."""
    u, _ = np.linalg.qr(np.asarray(jax.random.normal(jax.random.fold_in(key, 0), (n, m))))
    v, _ = np.linalg.qr(np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (m, m))))
    s = np.exp(-np.arange(m) / 12.0)  # singular values over ~14 decades of lambda, no gap
    return (u * s) @ v.T


def test_an_effective_rank_collapse_is_rank_collapse_and_heavy_tailed_entries_are_not():
    key = jax.random.key(3)
    collapsed = _collapsed(key)
    cauchy = np.asarray(ensembles.student_t(jax.random.fold_in(key, 2), 512, 384, nu=1.0))
    ws = [collapsed, cauchy]
    ev = np.stack([np.asarray(rmtkit.eigenvalues(w, method="svd")) for w in ws])
    shares = [phases.entry_top_share(w) for w in ws]
    assert shares[0] < 0.4 <= shares[1]
    hard = np.asarray(rmtkit.hard_rank(ev, 512, 384))
    got = phases.explain_phase(ev, 512 / 384, entry_share=shares, hard_rank=hard)
    assert [g["phase"] for g in got] == ["rank-collapse", "heavy-tailed"]
    assert got[0]["rule"] == "effective" and "effective rank" in got[0]["reason"]
    # Without the entries the two ESDs cannot be told apart, and the effective-rank rule is not applied.
    assert phases.classify_phases(ev[:1], 512 / 384, hard_rank=hard[:1])[0] != "rank-collapse"
    # A callable is called only for the rows that need it.
    called = []
    phases.classify_phases(ev, 512 / 384, hard_rank=hard, entry_share=lambda i: called.append(i) or shares[i])
    assert called == [0, 1]


def test_entry_top_share_of_known_matrices():
    assert phases.entry_top_share(np.ones((10, 10))) == pytest.approx(0.01)  # 1 entry of 100, all equal
    w = np.zeros((10, 10))
    w[0, 0] = 3.0
    w[1, 1] = 4.0
    assert phases.entry_top_share(w, fraction=0.01) == pytest.approx(16 / 25)
    assert np.isnan(phases.entry_top_share(np.zeros((4, 4))))


@pytest.mark.slow
def test_minilm_verdicts_do_not_depend_on_the_estimator():
    from tests.test_analyzer import minilm_path

    def verdicts(**options):
        df = rmtkit.analyze(minilm_path(), progress=False, **options).to_frame()
        df = df[df["status"] == "ok"].set_index("name")
        cats = {n: sorted({c for c in warning_categories(w) if c.endswith("trained")}) for n, w in df["warning"].items()}
        return df, cats

    base, base_cats = verdicts()
    for options in ({"pl_method": "auto"}, {"esd": "farms"}):
        other, cats = verdicts(**options)
        assert cats == base_cats, options
        assert (other["phase"] == base["phase"]).all(), options
        np.testing.assert_allclose(other["verdict_alpha"], base["alpha"], rtol=1e-12)
        assert not np.allclose(other["alpha"], base["alpha"])  # the estimator's own alpha is shown beside it
