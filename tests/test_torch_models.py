"""A live PyTorch module (and a Hugging Face PreTrainedModel) wherever a model is accepted.

torch is not a dependency of rmtkit: the tests that need it are skipped, with the reason, where it is
not installed (`make peer-venv` has it). Which objects count as torch modules and tensors is told from
their classes' names, without importing torch: that part is tested here in any case.
"""

import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import rmtkit
from rmtkit import checkpoints
from rmtkit.checkpoints import pytorch

TORCH_REASON = "torch is optional (never a dependency of rmtkit); `make peer-venv` installs it"


def _fake(module: str, name: str, bases=(object,)):
    cls = type(name, bases, {"state_dict": lambda self: {}})
    cls.__module__ = module
    return cls


def test_torch_objects_are_told_by_their_class_names():
    torch_module = _fake("torch.nn.modules.module", "Module")
    hf_model = _fake("transformers.models.bert.modeling_bert", "BertModel", (torch_module,))
    assert pytorch.is_module(torch_module()) and pytorch.is_module(hf_model())  # a subclass from elsewhere: HF
    assert not pytorch.is_module(_fake("mylib", "Module")())  # another library's Module with a state_dict
    assert not pytorch.is_module(_fake("flax.nnx", "Module")())
    assert pytorch.is_tensor(_fake("torch", "Tensor")()) and not pytorch.is_tensor(np.ones(3))
    assert pytorch.is_tensor(_fake("torch.nn.parameter", "Parameter", (_fake("torch", "Tensor"),))())


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason=TORCH_REASON)


def _net(torch):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(300, 48)
            self.norm = torch.nn.LayerNorm(48)
            self.fc = torch.nn.Linear(48, 96)  # weight (out, in) = (96, 48)
            self.conv = torch.nn.Conv2d(16, 32, 3)  # weight (c_out, c_in, kh, kw) = (32, 16, 3, 3)
            self.wide_conv = torch.nn.Conv2d(10, 12, 11)  # (12, 10, 11, 11): kh kw >= c_out c_in, shape alone says Flax
            self.bn = torch.nn.BatchNorm2d(32)  # buffers: running_mean/var (float), num_batches_tracked (int64)

    torch.manual_seed(0)
    return Net()


def test_a_live_module_is_read_as_its_state_dict(torch):
    net = _net(torch)
    weights = checkpoints.load_weights(net)
    assert list(weights) == list(net.state_dict())  # parameters and buffers, in the module's order
    assert all(isinstance(w, pytorch.TorchTensor) for w in weights.values())
    assert net.fc.weight.requires_grad  # read without gradients: detached
    np.testing.assert_array_equal(np.asarray(weights["fc.weight"]), net.fc.weight.detach().numpy())
    assert weights["bn.num_batches_tracked"].dtype == np.int64 and weights["fc.weight"].shape == (96, 48)
    assert "torch" in sys.modules


def test_describe_a_module_kinds_layouts_and_reasons(torch):
    rows = rmtkit.describe(_net(torch)).set_index("name")
    assert rows.loc["fc.weight", ["kind", "N", "M", "num_evals", "dtype"]].tolist() == ["dense", 96, 48, 48, "float32"]
    assert rows.loc["embed.weight", ["kind", "N", "M"]].tolist() == ["embedding", 300, 48]
    assert rows.loc["conv.weight", ["kind", "N", "M", "num_evals"]].tolist() == ["conv", 32, 16, 9 * 16]
    # conv_layout="auto" reads a torch module's kernels as (c_out, c_in, kh, kw) whatever their shape:
    assert rows.loc["wide_conv.weight", ["N", "M", "num_evals"]].tolist() == [12, 10, 121 * 10]
    assert rows.loc["norm.weight", "reason"].startswith("1-D tensor")
    assert rows.loc["bn.num_batches_tracked", "reason"].startswith("0-D tensor")
    assert (rows.status == "selected").sum() == 4
    # the same tensors as plain NumPy arrays: their shape alone would take the wide kernel for Flax's layout
    arrays = {k: v.detach().numpy() for k, v in _net(torch).state_dict().items()}
    guessed = rmtkit.describe(arrays).set_index("name")
    assert guessed.loc["wide_conv.weight", ["N", "M", "num_evals"]].tolist() == [11, 11, 120 * 11]
    told = rmtkit.describe(arrays, conv_layout="torch").set_index("name")
    assert told.loc["wide_conv.weight", ["N", "M", "num_evals"]].tolist() == [12, 10, 121 * 10]


def test_conv_eigenvalues_are_those_of_each_kernel_position(torch):
    net = _net(torch)
    w = net.wide_conv.weight.detach().numpy().astype(np.float64)  # (c_out, c_in, kh, kw)
    per_position = w.transpose(2, 3, 0, 1).reshape(-1, 12, 10)  # one 12 x 10 matrix per kernel position
    expected = np.sort((np.linalg.svd(per_position, compute_uv=False) ** 2).ravel())
    got = rmtkit.layer_spectra(net, layers=["wide_conv.weight"])["wide_conv.weight"]
    np.testing.assert_allclose(np.sort(got), expected, rtol=1e-9, atol=1e-12)


def test_analyze_a_module_as_its_arrays_and_leave_it_untouched(torch):
    net = _net(torch)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    live = rmtkit.analyze(net, progress=False, randomize=True, seed=1).to_frame().set_index("name")
    arrays = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    plain = rmtkit.analyze(arrays, progress=False, randomize=True, seed=1, conv_layout="torch").to_frame()
    plain = plain.set_index("name").loc[live.index]
    assert live.status.value_counts().to_dict() == {"skipped": 10, "ok": 4} and len(live) == len(net.state_dict())
    for col in ("N", "M", "num_evals", "alpha", "lambda_max", "log_norm", "rand_lambda_plus"):
        np.testing.assert_allclose(live[col].astype(float), plain[col].astype(float), rtol=1e-12, err_msg=col)
    for name, value in net.state_dict().items():
        assert torch.equal(value, before[name]), name  # the shuffle of randomize=True works on a copy


def test_bfloat16_module_keeps_its_precision(torch):
    net = _net(torch).to(torch.bfloat16)
    weights = checkpoints.load_weights(net)
    w = np.asarray(weights["fc.weight"])
    assert w.dtype == ml_dtypes.bfloat16  # the same bits, not rounded through another type
    np.testing.assert_array_equal(w.astype(np.float32), net.fc.weight.detach().float().numpy())
    rows = rmtkit.describe(net).set_index("name")
    assert rows.loc["fc.weight", "dtype"] == "bfloat16"


def test_state_dict_in_memory_and_meta_tensors(torch):
    net = _net(torch)
    state = net.state_dict()
    weights = checkpoints.load_weights(state)
    assert isinstance(weights["conv.weight"], pytorch.TorchTensor) and list(weights) == list(state)
    with torch.device("meta"):
        empty = torch.nn.Linear(48, 96)
    rows = rmtkit.describe(empty).set_index("name")
    assert rows.loc["weight", "status"] == "skipped" and "meta device" in rows.loc["weight", "reason"]


def test_a_saved_state_dict_reads_as_the_live_module(torch, tmp_path):
    net = _net(torch).to(torch.bfloat16)
    torch.save(net.state_dict(), tmp_path / "net.pt")
    from_file = rmtkit.describe(tmp_path / "net.pt")
    live = rmtkit.describe(net)
    assert from_file.equals(live) and set(from_file.dtype) == {"bfloat16", "int64"}
    assert from_file.set_index("name").loc["wide_conv.weight", "M"] == 10  # PyTorch's conv layout, from a file too


def test_importing_rmtkit_and_reading_arrays_never_imports_torch(torch):
    code = ("import sys, numpy as np, rmtkit; rmtkit.describe({'w': np.ones((20, 10))}); "
            "rmtkit.checkpoints.load_weights({'w': np.ones((20, 10))}); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_hugging_face_model_object(torch, tmp_path):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (optional)")
    config = transformers.BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=40)
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    described = rmtkit.describe(model)
    assert described.name.tolist() == list(model.state_dict())
    rows = described.set_index("name")
    assert rows.loc["encoder.layer.1.intermediate.dense.weight", ["N", "M", "num_evals"]].tolist() == [64, 32, 32]
    assert rows.loc["embeddings.word_embeddings.weight", "kind"] == "embedding"
    assert (described.status == "selected").sum() == 2 * 6 + 3  # 6 per layer, word/position embeddings, pooler
    live = rmtkit.analyze(model, progress=False).to_frame().set_index("name")
    model.save_pretrained(tmp_path, safe_serialization=True)
    saved = rmtkit.analyze(tmp_path, progress=False).to_frame().set_index("name").loc[live.index]
    assert (live.status == "ok").sum() == 15
    for col in ("alpha", "lambda_max", "stable_rank"):
        np.testing.assert_allclose(live[col].astype(float), saved[col].astype(float), rtol=1e-10, err_msg=col)
