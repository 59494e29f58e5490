"""Issue 23: the zoo trusts a finished model only by its checkpoint's content; torn files are that model's failure.

Each test failed before its fix: a checkpoint overwritten by another of the same size with its time
restored was skipped as finished with the old summary; one torn ``layers.csv.meta.json``,
``spectral.csv`` or ``DONE.json`` made the collectors fail for every model, and a rerun skipped the
torn model for ever.
"""

import logging
import os

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
