"""Reading every supported source, and turning tensors into weight matrices with reasons for the rest."""

import json

import jax
import ml_dtypes
import numpy as np
import pytest
from flax import linen, nnx

from rmtkit import checkpoints
from rmtkit.checkpoints import lazy as lazy_module
from rmtkit.layers import extract_layers


def test_safetensors_roundtrip_including_bfloat16(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"a.weight": rng.standard_normal((7, 5)).astype(np.float32),
               "b": rng.standard_normal((3,)).astype(ml_dtypes.bfloat16),
               "c": np.arange(6, dtype=np.int64).reshape(2, 3), "d": rng.standard_normal((2, 2)).astype(np.float16)}
    path = tmp_path / "m.safetensors"
    checkpoints.write_safetensors(path, tensors, metadata={"format": "np"})
    back = checkpoints.read_safetensors(path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k].astype(np.float64), v.astype(np.float64))


@pytest.mark.parametrize("damage", ["truncate", "header", "empty", "offsets"])
def test_corrupt_safetensors_gives_clear_error(tmp_path, damage):
    path = tmp_path / "m.safetensors"
    checkpoints.write_safetensors(path, {"w": np.ones((50, 60), np.float32)})
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "header":
        path.write_bytes(raw[:8] + b"{not json" + raw[17:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(raw.replace(b'"data_offsets":[0,12000]', b'"data_offsets":[0,99999]'))
    with pytest.raises(checkpoints.CheckpointError, match=r"m\.safetensors: .*(truncated|corrupt)"):
        checkpoints.read_safetensors(path)


def test_missing_path_and_unknown_format(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="no such file or directory"):
        checkpoints.load_weights(tmp_path / "nope.safetensors")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(checkpoints.CheckpointError, match="unknown checkpoint format"):
        checkpoints.load_weights(tmp_path / "w.txt")
    with pytest.raises(checkpoints.CheckpointError, match="no \\*.safetensors"):
        checkpoints.load_weights(tmp_path)


def test_hf_directories_single_and_sharded(tmp_path):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((60, 50)).astype(np.float32), rng.standard_normal((80, 70)).astype(np.float32)
    single = tmp_path / "single"
    single.mkdir()
    checkpoints.write_safetensors(single / "model.safetensors", {"a": a, "b": b})
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    checkpoints.write_safetensors(sharded / "model-00001-of-00002.safetensors", {"a": a})
    checkpoints.write_safetensors(sharded / "model-00002-of-00002.safetensors", {"b": b})
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    for folder in (single, sharded):
        w = checkpoints.load_weights(folder)
        np.testing.assert_array_equal(w["a"], a)
        np.testing.assert_array_equal(w["b"], b)
    index["weight_map"]["c"] = "model-00002-of-00002.safetensors"
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(checkpoints.CheckpointError, match="absent from the shards"):
        checkpoints.load_weights(sharded)


def test_npz_nested_dict_linen_and_nnx(tmp_path):
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "w.npz", dense=rng.standard_normal((60, 55)))
    assert checkpoints.load_weights(tmp_path / "w.npz")["dense"].shape == (60, 55)
    nested = {"block": {"fc": {"kernel": np.ones((3, 4))}}, "head": np.zeros(2)}
    assert set(checkpoints.load_weights(nested)) == {"block.fc.kernel", "head"}
    params = linen.Dense(64).init(jax.random.key(0), np.ones((1, 80)))["params"]
    assert {k: v.shape for k, v in checkpoints.load_weights(params).items()} == {"kernel": (80, 64), "bias": (64,)}
    model = nnx.Sequential(nnx.Linear(80, 64, rngs=nnx.Rngs(0)), nnx.Linear(64, 10, rngs=nnx.Rngs(1)))
    flat = checkpoints.load_weights(model)
    assert flat["layers.0.kernel"].shape == (80, 64) and flat["layers.1.bias"].shape == (10,)
    assert set(checkpoints.load_weights(nnx.state(model, nnx.Param))) == set(flat)


def test_torch_state_dict_when_torch_is_installed(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "sd.pt"
    torch.save({"fc.weight": torch.ones(60, 50)}, path)
    assert checkpoints.load_weights(path)["fc.weight"].shape == (60, 50)


def test_extract_layers_kinds_and_reasons():
    rng = np.random.default_rng(3)
    conv = rng.standard_normal((3, 3, 64, 96)).astype(np.float32)
    weights = {
        "fc.kernel": rng.standard_normal((100, 80)),
        "wide.kernel": rng.standard_normal((60, 200)),
        "tok_embed.embedding": rng.standard_normal((500, 64)),
        "conv.kernel": conv,
        "torch_conv.weight": np.ascontiguousarray(conv.transpose(3, 2, 0, 1)),
        "attn.query.kernel": rng.standard_normal((64, 4, 16)),
        "attn.out.kernel": rng.standard_normal((4, 16, 64)),
        "fc.bias": np.zeros(80),
        "tiny.kernel": rng.standard_normal((100, 10)),
        "ids": np.arange(100 * 60).reshape(100, 60),
        "five_d": np.zeros((2, 2, 2, 2, 2)),
    }
    layers, skipped = extract_layers(weights)
    by_name = {layer.name: layer for layer in layers}
    assert by_name["fc.kernel"].kind == "dense" and by_name["fc.kernel"].matrices.shape == (1, 100, 80)
    assert by_name["wide.kernel"].matrices.shape == (1, 200, 60)  # transposed so that N >= M
    assert by_name["tok_embed.embedding"].kind == "embedding"
    assert by_name["conv.kernel"].matrices.shape == (9, 96, 64) and by_name["conv.kernel"].num_evals == 9 * 64
    np.testing.assert_allclose(np.sort(np.linalg.svd(by_name["conv.kernel"].matrices, compute_uv=False).ravel()),
                               np.sort(np.linalg.svd(by_name["torch_conv.weight"].matrices, compute_uv=False).ravel()),
                               rtol=1e-5)
    assert by_name["attn.query.kernel"].matrices.shape == (1, 64, 64)
    assert by_name["attn.out.kernel"].matrices.shape == (1, 64, 64)
    reasons = {s.name: s.reason for s in skipped}
    assert reasons["fc.bias"].startswith("1-D tensor")
    assert "tiny.kernel" not in reasons  # 100 x 10 (a classifier head): min(N, M) = 10 >= the default min_evals = 10 (WeightWatcher 0.7)
    assert by_name["tiny.kernel"].num_evals == 10
    assert dict((s.name, s.reason) for s in extract_layers(weights, min_evals=50)[1])["tiny.kernel"] == (
        "too small: min(N, M) = 10 < min_evals = 50")
    assert reasons["ids"] == "int64 tensor: not a float weight"
    assert reasons["five_d"] == "5-D tensor: unsupported layout"
    assert len(layers) + len(skipped) == len(weights)


def test_extract_layers_filters():
    w = {"enc.0.q": np.ones((60, 60)), "enc.1.q": np.ones((60, 60)), "dec.q": np.ones((60, 60)),
         "c": np.ones((3, 3, 60, 60))}
    keep = lambda **kw: sorted(layer.name for layer in extract_layers(w, **kw)[0])
    assert keep(layers=["enc.*"]) == ["enc.0.q", "enc.1.q"]
    assert keep(layers=["re:^enc\\.1"]) == ["enc.1.q"]
    assert keep(exclude=["enc"]) == ["c", "dec.q"]
    assert keep(types=["conv"]) == ["c"]
    assert keep(max_evals=59) == []
    skipped = extract_layers(w, types=["conv"])[1]
    assert {s.reason for s in skipped} == {"filtered: type dense not in --types"}
    with pytest.raises(ValueError, match="unknown layer types"):
        extract_layers(w, types=["lstm"])


# ---------------------------------------------------------------------------------------------
# Bounded memory: tensors of a file are read one at a time, when asked for, and not kept
# ---------------------------------------------------------------------------------------------

def test_lazy_tensors_read_the_files_bytes_in_every_float_dtype(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    tensors = {name: rng.standard_normal((13, 11)).astype(dt) for name, dt in
               (("f32", np.float32), ("f16", np.float16), ("bf16", ml_dtypes.bfloat16),
                ("e4m3", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2))}
    path = tmp_path / "m.safetensors"
    checkpoints.write_safetensors(path, tensors)
    monkeypatch.setattr(lazy_module, "READ_CHUNK", 7)  # many partial reads, as a > 1 GiB tensor is read
    lazy = checkpoints.load_weights(path)
    for name, a in tensors.items():
        assert isinstance(lazy[name], checkpoints.LazyTensor) and lazy[name].dtype == a.dtype and lazy[name].shape == (13, 11)
        assert np.asarray(lazy[name]).tobytes() == a.tobytes()  # the same bits, not just close values


def test_lazy_tensor_of_a_file_truncated_after_its_header_was_read(tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoints.write_safetensors(path, {"a": np.ones((40, 30), np.float32)})
    lazy = checkpoints.load_weights(path)["a"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(checkpoints.CheckpointError, match="ended 100 bytes early"):
        np.asarray(lazy)


def test_layers_of_a_file_are_read_one_at_a_time(tmp_path):
    """20 tensors of 2 MB: extraction reads none; reading the layers in turn never holds more than ~2 of them."""
    import tracemalloc

    rng = np.random.default_rng(5)
    path = tmp_path / "many.safetensors"
    checkpoints.write_safetensors(path, {f"block.{i}.kernel": rng.standard_normal((1000, 500)).astype(np.float32)
                                for i in range(20)})
    one = 1000 * 500 * 4
    tracemalloc.start()
    try:
        layers, skipped = extract_layers(checkpoints.load_weights(path))
        _, extract_peak = tracemalloc.get_traced_memory()
        assert len(layers) == 20 and not skipped
        assert all(layer.matrices.reads == 0 for layer in layers)  # shapes come from the header alone
        assert extract_peak < one / 2  # not one tensor's data was read (the rest: headers, names, imports)
        tracemalloc.reset_peak()
        norms = [float(np.linalg.norm(np.asarray(layer.matrices, np.float64))) for layer in layers]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(layer.matrices.reads == 1 for layer in layers)
    assert peak < 4 * one  # float32 read + its float64 copy (3x one tensor), never the 20 tensors (20x)
    direct = checkpoints.read_safetensors(path)  # the memory-mapped reader, independent of the lazy one
    np.testing.assert_allclose(norms, [np.linalg.norm(direct[f"block.{i}.kernel"].astype(np.float64))
                                       for i in range(20)], rtol=1e-12)


def test_lazy_conv_and_sharded_layers_match_the_eager_ones(tmp_path):
    rng = np.random.default_rng(6)
    conv = rng.standard_normal((3, 3, 24, 40)).astype(np.float32)
    tensors = {"conv.kernel": conv, "torch_conv.weight": np.ascontiguousarray(conv.transpose(3, 2, 0, 1)),
               "attn.out.kernel": rng.standard_normal((4, 16, 64)).astype(np.float32),
               "wide.kernel": rng.standard_normal((30, 90)).astype(ml_dtypes.bfloat16)}
    folder = tmp_path / "sharded"
    folder.mkdir()
    names = list(tensors)
    checkpoints.write_safetensors(folder / "s1.safetensors", {n: tensors[n] for n in names[:2]})
    checkpoints.write_safetensors(folder / "s2.safetensors", {n: tensors[n] for n in names[2:]})
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {n: "s1.safetensors" if i < 2 else "s2.safetensors" for i, n in enumerate(names)}}))
    lazy = {la.name: la for la in extract_layers(checkpoints.load_weights(folder))[0]}
    eager = {la.name: la for la in extract_layers(tensors)[0]}
    assert set(lazy) == set(eager) == set(names)
    for name in names:
        assert lazy[name].matrices.shape == eager[name].matrices.shape, name
        assert (lazy[name].n, lazy[name].m, lazy[name].num_evals) == (eager[name].n, eager[name].m, eager[name].num_evals)
        np.testing.assert_array_equal(np.asarray(lazy[name].matrices), np.asarray(eager[name].matrices))


def test_the_format_table_names_every_suffix_once():
    from rmtkit.checkpoints import npz, pytorch, safetensors

    assert checkpoints.READERS == {".safetensors": safetensors.read, ".npz": npz.read, ".npy": npz.read,
                                   ".bin": pytorch.read, ".pt": pytorch.read, ".pth": pytorch.read,
                                   ".ckpt": pytorch.read}


def test_rmtkit_io_is_the_old_address_of_the_same_functions():
    import rmtkit
    from rmtkit import atomic, results

    assert rmtkit.io.load_weights is checkpoints.load_weights is rmtkit.load_weights
    assert rmtkit.io.CheckpointError is checkpoints.CheckpointError is rmtkit.CheckpointError
    assert (rmtkit.io.write_results, rmtkit.io.read_results) == (results.write_results, results.read_results)
    assert rmtkit.io.write_atomically is atomic.write_atomically


def test_device_path_holds_one_chunk_in_the_stored_dtype(tmp_path, monkeypatch):
    """The spectra off the CPU backend (forced here on the CPU): same-shape matrices go to the device in chunks of
    at most DEVICE_CHUNK_BYTES of stored (float32) weights and are upcast there; the host never holds them all."""
    import tracemalloc

    from rmtkit import spectra as spectra_module

    rng = np.random.default_rng(8)
    path = tmp_path / "many.safetensors"
    checkpoints.write_safetensors(path, {f"block.{i}.kernel": rng.standard_normal((1000, 500)).astype(np.float32)
                                         for i in range(12)})
    one = 1000 * 500 * 4
    layers, _ = extract_layers(checkpoints.load_weights(path))
    host, _ = spectra_module.matrix_spectra(layers, np.float64, False)
    monkeypatch.setattr(spectra_module, "DEVICE_CHUNK_BYTES", 2 * one)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    calls = []
    device_eigenvalues = spectra_module._device_eigenvalues
    monkeypatch.setattr(spectra_module, "_device_eigenvalues",
                        lambda stack, dtype, normalize: calls.append(stack.dtype) or device_eigenvalues(stack, dtype, normalize))
    with jax.enable_x64(True):
        spectra_module.matrix_spectra(layers[:2], np.float64, False)  # compiles: not what is measured
    calls.clear()
    tracemalloc.start()
    try:
        with jax.enable_x64(True):
            device, failures = spectra_module.matrix_spectra(layers, np.float64, False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not failures and calls == [np.float32] * 6  # 6 chunks of 2 matrices, sent as stored
    # a chunk's matrices as read and their stack (4x one; 6x measured with the reads' transients), never the
    # 12 matrices in float64 and their stack (96x one, as before the chunks)
    assert peak < 8 * one
    for name, ev in host.items():
        np.testing.assert_allclose(device[name], ev, rtol=1e-9, atol=1e-9 * ev.max())
