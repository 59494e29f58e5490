"""rmtkit.describe(): what analyze() would fit, from the checkpoint's header alone, without one eigenvalue."""

import doctest
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

import rmtkit
from rmtkit import analyzer, spectra, spectrum
from rmtkit.checkpoints.lazy import LazyTensor
from tests.test_analyzer import minilm_path

FIXTURES = Path(__file__).parent / "fixtures"
COLUMNS = ["name", "shape", "kind", "N", "M", "num_evals", "dtype", "status", "reason"]


@pytest.fixture
def no_eigensolver(monkeypatch):
    """Every road to eigenvalues (the dispatchers and the solvers under them) and every tensor read raises."""

    def refuse(*args, **kwargs):
        raise AssertionError("describe() computed eigenvalues or read a tensor")

    for owner, name in [(spectra, "matrix_spectra"), (analyzer, "matrix_spectra"), (spectra, "leaf_spectra"),
                        (spectrum, "eigenvalues"), (rmtkit, "eigenvalues"), (np.linalg, "eigvalsh"),
                        (np.linalg, "svd"), (jax.numpy.linalg, "eigvalsh"), (jax.numpy.linalg, "svd"),
                        (LazyTensor, "read")]:
        monkeypatch.setattr(owner, name, refuse)


def test_describe_minilm_shapes_and_counts_without_eigenvalues(no_eigensolver):
    df = rmtkit.describe(minilm_path())
    assert list(df.columns) == COLUMNS
    assert len(df) == 104 and df.status.value_counts().to_dict() == {"skipped": 65, "selected": 39}
    assert [str(df[c].dtype) for c in ("N", "M", "num_evals")] == ["Int64"] * 3  # counts as integers
    rows = df.set_index("name")
    assert rows.loc["embeddings.word_embeddings.weight", ["shape", "kind", "N", "M", "num_evals"]].tolist() == [
        "(30522, 384)", "embedding", 30522, 384, 384]
    assert rows.loc["encoder.layer.3.output.dense.weight", ["shape", "N", "M"]].tolist() == ["(384, 1536)", 1536, 384]
    assert rows.loc["embeddings.token_type_embeddings.weight", "reason"] == "too small: min(N, M) = 2 < min_evals = 10"
    assert rows.loc["embeddings.position_ids", "reason"] == "int64 tensor: not a float weight"
    assert rows.loc["pooler.dense.bias", "reason"].startswith("1-D tensor")
    assert df.num_evals.sum() == 6 * (4 * 384 + 2 * 384) + 3 * 384 == 14976
    assert set(df.dtype) == {"float32", "int64"}
    # The 39 matrices WeightWatcher 0.7.7 analyses, with its N, M and num_evals
    ww = pd.read_csv(FIXTURES / "weightwatcher_minilm.csv", comment="#")
    ours = df[df.status == "selected"].assign(longname=lambda d: d["name"].str.removesuffix(".weight"))
    both = ww.merge(ours, on="longname", suffixes=("_ww", ""))
    assert len(both) == len(ww) == 39
    for col in ("N", "M", "num_evals"):
        assert (both[col].astype(int) == both[f"{col}_ww"]).all(), col


def test_describe_applies_the_selection_options(no_eigensolver):
    df = rmtkit.describe(minilm_path(), layers=["encoder.layer.0.*", "embeddings.*"], types=["embedding"])
    assert df.loc[df.status == "selected", "name"].tolist() == ["embeddings.position_embeddings.weight",
                                                                 "embeddings.word_embeddings.weight"]
    reasons = df.set_index("name").reason
    assert reasons["encoder.layer.0.attention.self.query.weight"] == "filtered: type dense not in --types"
    assert reasons["pooler.dense.weight"] == "filtered: name does not match --layers"
    df = rmtkit.describe(minilm_path(), layers=["encoder.layer.0.*"], min_evals=10, max_evals=383)
    assert (df.status == "selected").sum() == 0
    assert df.set_index("name").reason["encoder.layer.0.intermediate.dense.weight"] == (
        "too large: min(N, M) = 384 > max_evals = 383")
    with pytest.raises(ValueError, match="min_evals"):
        rmtkit.describe(minilm_path(), min_evals=-1)
    with pytest.raises(ValueError, match="precision"):  # every option of analyze() is checked, even unused ones
        rmtkit.describe(minilm_path(), precision="float16")
    with pytest.raises(rmtkit.CheckpointError, match="no such file"):
        rmtkit.describe(minilm_path().with_name("absent.safetensors"))


def test_describe_says_what_analyze_then_does():
    """The same tensors, counts and reasons as analyze()'s table (the one selection, reused)."""
    options = {"layers": ["pooler.*", "embeddings.token*", "embeddings.position_embeddings*"], "progress": False}
    table = rmtkit.analyze(minilm_path(), **options).to_frame()
    options.pop("progress")
    described = rmtkit.describe(minilm_path(), **options)
    assert described.name.tolist() == table.name.tolist()
    fitted = table.status.isin(["ok", "partial", "failed"])
    assert (described.status == "selected").tolist() == fitted.tolist() and fitted.sum() == 2
    for col in ("N", "M", "num_evals"):
        assert described.loc[fitted.values, col].astype(int).tolist() == table.loc[fitted, col].astype(int).tolist()
    skipped = ~fitted.values
    assert described.reason[skipped].tolist() == table.reason[skipped].tolist()


def test_describe_conv_and_dense_general_in_memory():
    rng = np.random.default_rng(0)
    weights = {"conv.kernel": rng.standard_normal((3, 3, 16, 32)), "attn.query.kernel": rng.standard_normal((64, 4, 16)),
               "head.kernel": rng.standard_normal((64, 10)), "head.bias": np.zeros(10)}
    rows = rmtkit.describe(weights).set_index("name")
    assert rows.loc["conv.kernel", ["kind", "N", "M", "num_evals"]].tolist() == ["conv", 32, 16, 9 * 16]
    assert rows.loc["attn.query.kernel", ["kind", "N", "M"]].tolist() == ["dense_general", 64, 64]
    assert rows.loc["head.kernel", ["status", "N", "M", "num_evals"]].tolist() == ["selected", 64, 10, 10]
    assert rows.loc["head.bias", "status"] == "skipped" and pd.isna(rows.loc["head.bias", "N"])


def test_describe_docstring_example_runs():
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(rmtkit.describe, "describe", globs={}):
        runner.run(test)
    assert runner.tries >= 2 and runner.failures == 0
