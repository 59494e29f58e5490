"""One road from weights to spectra (issue 26, part 5): the rule of rmtkit.matrices as the analyzer and the
training controls apply it, the spectra dispatcher they share, and the atomic writes."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.tree_util import DictKey, GetAttrKey, SequenceKey

from rmtkit import matrices
from rmtkit.atomic import replacing
from rmtkit.checkpoints import READERS, flatten_tree
from rmtkit.layers import extract_layers
from rmtkit.optim import leaf_path, matrix_leaves
from rmtkit.spectra import device_leaf_spectrum, host_leaf_spectra, matrix_spectra


def test_path_name_joins_keys_and_drops_an_nnx_value_when_asked():
    path = (DictKey("enc"), SequenceKey(2), GetAttrKey("kernel"), GetAttrKey("value"))
    assert matrices.path_name(path) == "enc.2.kernel"
    assert matrices.path_name(path, "/", drop_value=False) == leaf_path(path) == "enc/2/kernel/value"


@pytest.mark.parametrize(("ndim", "name", "kind", "control"), [
    (1, "b", None, None), (2, "fc", "dense", "dense"), (2, "tok_embed", "embedding", "embedding"),
    (3, "attn.query", "dense_general", None), (4, "conv", "conv", "conv"), (5, "x", None, None)])
def test_matrix_kind_by_rank(ndim, name, kind, control):
    assert matrices.matrix_kind(name, ndim) == kind
    assert matrices.matrix_kind(name, ndim, matrices.CONTROL_KINDS) == control


def test_stacks_of_every_layout():
    rng = np.random.default_rng(0)
    flax = rng.standard_normal((3, 3, 8, 20))
    torch = np.transpose(flax, (3, 2, 0, 1))  # (c_out, c_in, kh, kw)
    a = matrices.as_matrices("c", flax, "conv", "auto")
    b = matrices.as_matrices("c", torch, "conv", "auto")
    assert a.shape == b.shape == (9, 20, 8)
    np.testing.assert_array_equal(a, b)
    assert matrices.stack_shape("c", torch.shape, "conv", "auto") == (9, 8, 20)  # as stored: not turned
    out = rng.standard_normal((4, 16, 64))  # (heads, head_dim, features) of an output projection
    assert matrices.as_matrices("attn.out", out, "dense_general", "auto").shape == (1, 64, 64)
    assert matrices.as_matrices("attn.query", rng.standard_normal((64, 4, 8)), "dense_general", "auto").shape == (1, 64, 32)
    with pytest.raises(ValueError, match="conv_layout must be"):
        matrices.as_stack("c", flax, "conv", "tf")


def test_the_minimum_counts_one_matrix_or_the_pooled_kernel():
    assert matrices.too_few(25, 4, 10) == "too small: min(N, M) = 4 < min_evals = 10"
    assert matrices.too_few(25, 4, 50, pooled=True) is None  # 100 pooled eigenvalues
    assert matrices.too_few(9, 5, 50, pooled=True) == "45 pooled eigenvalues < min_evals = 50"


def test_analyzer_and_controls_apply_one_rule_with_their_own_parameters():
    rng = np.random.default_rng(1)
    params = {"conv": {"kernel": rng.standard_normal((5, 5, 4, 30))},  # min(N, M) = 4; 25 x 4 = 100 pooled
              "attn": {"query": {"kernel": rng.standard_normal((64, 4, 16))}},
              "fc": {"kernel": rng.standard_normal((784, 64)), "bias": np.zeros(64)}}
    layers, skipped = extract_layers(flatten_tree(params))
    assert [layer.name for layer in layers] == ["attn.query.kernel", "fc.kernel"]
    assert {s.name: s.reason for s in skipped}["conv.kernel"] == "too small: min(N, M) = 4 < min_evals = 10"
    roles = matrix_leaves(params)
    assert roles["conv/kernel"] == roles["fc/kernel"] == "balanced"
    assert roles["attn/query/kernel"].startswith("rank 3: not a matrix")
    assert roles["fc/bias"].startswith("rank 1: not a matrix")


def test_one_dispatcher_gives_the_same_spectrum_to_analyzer_and_controls():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((90, 70))
    layers, _ = extract_layers({"w": w})
    analysed, failures = matrix_spectra(layers, np.dtype("float64"), normalize=False)
    (host,) = host_leaf_spectra(w)
    assert not failures
    np.testing.assert_allclose(analysed["w"], host, rtol=1e-10)
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(device_leaf_spectrum(jax.numpy.asarray(w))), host, rtol=1e-8)
    (nan,) = host_leaf_spectra(np.full((60, 60), np.nan))
    assert nan.shape == (60,) and np.isnan(nan).all()


def test_replacing_renames_once_written_and_leaves_the_old_file_on_error(tmp_path):
    path = tmp_path / "state.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]
    with replacing(path) as tmp:
        assert tmp.parent == path.parent and tmp.name.startswith(".state.npz.") and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and list(tmp_path.iterdir()) == [path]
    with replacing(path, shared=False) as tmp:  # one writer per path: a fixed name the next writer overwrites
        assert tmp.name == ".state.npz.tmp"
        tmp.write_bytes(b"newer")
    assert path.read_bytes() == b"newer" and list(tmp_path.iterdir()) == [path]


def test_zoo_model_names_strip_every_readable_suffix():
    from simulations.zoo.config import CHECKPOINT_SUFFIXES

    assert CHECKPOINT_SUFFIXES[:7] == (".safetensors", ".npz", ".npy", ".pt", ".pth", ".bin", ".ckpt")
    assert set(READERS) <= set(CHECKPOINT_SUFFIXES)
