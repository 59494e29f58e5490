"""Issue 23: the zoo trusts a finished model only by its checkpoint's content; torn files are that model's failure.

Each test failed before its fix: a checkpoint overwritten by another of the same size with its time
restored was skipped as finished with the old summary; one torn ``layers.csv.meta.json``,
``spectral.csv`` or ``DONE.json`` made the collectors (the zoo's, :mod:`simulations.train.collect`)
fail for every model, and a rerun skipped the torn model for ever.
"""

import json
import logging
import os
import shutil

import numpy as np
import pytest

from rmtkit.checkpoints import write_safetensors
from simulations.zoo.config import ZooConfig
from simulations.zoo.run import analyse, finished


def write(path, seed):
    rng = np.random.default_rng(seed)
    write_safetensors(path, {"a.weight": rng.standard_t(3.0 + seed, (100, 80)).astype(np.float32)})


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """One checkpoint analysed into its zoo folder."""
    folder = tmp_path_factory.mktemp("zoo")
    path, out = folder / "m.safetensors", folder / "sweep" / "m"
    write(path, seed=0)
    cfg = ZooConfig(checkpoint=str(path), progress=False)
    assert analyse(cfg, out) is not None
    return cfg, path, out


def test_same_size_rewrite_with_its_time_restored_is_analysed_again(model, tmp_path, caplog):
    cfg, path, out = model
    copy, folder = tmp_path / "m.safetensors", tmp_path / "m"
    copy.write_bytes(path.read_bytes())
    folder.mkdir()
    cfg = ZooConfig(checkpoint=str(copy), progress=False)
    first = analyse(cfg, folder)
    stat = copy.stat()
    write(copy, seed=5)  # another checkpoint, the same size ...
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... its modification time restored
    assert (copy.stat().st_size, copy.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert finished(cfg, folder) is None
    with caplog.at_level(logging.INFO, logger="simulations.zoo.run"):
        second = analyse(cfg, folder)
    assert "already finished" not in caplog.text
    assert second["summary"]["alpha_hat"] != first["summary"]["alpha_hat"]
    assert finished(cfg, folder) == second  # and now it is finished, by content


def tear(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("torn", ["layers.csv.meta.json", "DONE.json", "FAILED.json"])
def test_the_zoo_collector_reports_a_torn_model_and_goes_on(model, tmp_path, torn):
    from simulations.zoo.collect import collect

    _, _, out = model
    sweep = tmp_path / "sweep"
    for name in ("good", "torn"):
        shutil.copytree(out, sweep / name)
    if torn == "FAILED.json":
        (sweep / "torn" / "DONE.json").unlink()
        (sweep / "torn" / "FAILED.json").write_text(json.dumps({"model": "torn", "error": "CheckpointError: x"}))
    tear(sweep / "torn" / torn)
    layers, models = collect(sweep)
    assert models["status"].tolist() == ["done", "failed"]
    assert torn in models["error"][1] and len(layers) == 1


def test_a_rerun_analyses_a_torn_model_again(model, tmp_path, caplog):
    cfg, _, out = model
    copy = tmp_path / "m"
    shutil.copytree(out, copy)
    assert finished(cfg, copy) is not None
    tear(copy / "layers.csv.meta.json")
    assert finished(cfg, copy) is None
    with caplog.at_level(logging.INFO, logger="simulations.zoo.run"):
        assert analyse(cfg, copy) is not None
    assert "already finished" not in caplog.text and finished(cfg, copy) is not None


@pytest.mark.parametrize("torn", ["DONE.json", "spectral.csv", "FAILED.json"])
def test_the_training_collector_reports_a_torn_run_and_goes_on(tmp_path, torn):
    from simulations.train.collect import collect

    rows = "epoch,status,alpha_weighted,log_norm,log_spectral_norm,log_alpha_norm\n" + "".join(
        f"{e},ok,{1.5 + e},{e},{e},{e}\n" for e in range(4))
    for name in ("a", "b"):
        run = tmp_path / name
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"batch_size": 32, "seed": 0}))
        (run / "DONE.json").write_text(json.dumps({"train_acc": 0.9, "test_acc": 0.8, "gap": 0.1}))
        (run / "spectral.csv").write_text(rows)
    if torn == "FAILED.json":
        (tmp_path / "b" / "DONE.json").unlink()
        (tmp_path / "b" / "FAILED.json").write_text(json.dumps({"error": "TrainingDiverged: epoch 3"}))
    tear(tmp_path / "b" / torn)
    if torn == "spectral.csv":
        (tmp_path / "b" / torn).write_text("epoch,sta")  # cut inside the header
    runs = collect(tmp_path)
    assert runs["status"].tolist() == ["done", "failed"] and runs["alpha_hat"][0] == pytest.approx(4.5)
    assert torn in runs["error"][1]
