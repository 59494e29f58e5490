"""Issue 23: every ordinary condition ends in exit code 0-3 with at most one line on stderr, never a traceback.

Each test failed before its fix: a closed pipe (``rmtkit analyze ... | head -1``), stdout on a full
disk (``> /dev/full``) and a huge ``--seed`` were "internal error" (exit 4) or a traceback; an empty
zoo glob printed a 100-line traceback; a series where no layer passes the filters exited 0 where one
checkpoint exits 3.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rmtkit
from rmtkit import checkpoints, cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "RMTKIT_JAX_CACHE": "off", "JAX_PLATFORMS": "cpu"}


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.safetensors"
    rng = np.random.default_rng(5)
    checkpoints.write_safetensors(path, {f"l{i}.kernel": rng.standard_normal((60, 40)).astype(np.float32)
                                         for i in range(3)})
    return path


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Exception ignored" not in err and "internal error" not in err, err


def test_a_closed_pipe_and_a_full_disk_end_in_an_ordinary_exit_code(model):
    argv = [sys.executable, "-m", "rmtkit", "analyze", str(model), "--no-progress"]
    reader_gone = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    reader_gone.stdout.close()  # as `| head -1` does once it has its line: every write gets EPIPE
    err = reader_gone.stderr.read().decode()
    assert reader_gone.wait(timeout=300) == 0, err  # the analysis succeeded; the reader chose to stop
    no_traceback(err)
    with open("/dev/full", "w") as full:
        done = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, env=ENV, cwd=ROOT, timeout=300, text=True)
    assert done.returncode == 2, done.stderr
    no_traceback(done.stderr)
    assert done.stderr.startswith("rmtkit: error: ") and done.stderr.count("\n") == 1
    assert "No space left on device" in done.stderr


@pytest.mark.parametrize("seed", [str(2**63), "-" + str(2**63 + 1), "9" * 40])
def test_a_seed_out_of_range_is_a_usage_error(model, capsys, monkeypatch, seed):
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    assert cli.main(["analyze", str(model), "--randomize", "--seed", seed, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rmtkit: error: --seed") and err.count("\n") == 1
    with pytest.raises(ValueError, match="seed must be an integer"):
        rmtkit.analyze(model, randomize=True, seed=int(seed), progress=False)


def test_a_seed_in_range_works(model, capsys, monkeypatch):
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    for seed in (str(2**63 - 1), str(-(2**63))):
        assert cli.main(["analyze", str(model), "--randomize", "--seed", seed, "--no-progress", "--format", "csv"]) == 0
    capsys.readouterr()


def test_no_layer_passing_the_filters_exits_3_on_every_path(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    other = tmp_path / "n.safetensors"
    other.write_bytes(model.read_bytes())
    runs = {
        "one": [str(model)],
        "series": [str(model), str(other)],
        "series to a file": [str(model), str(other), "-o", str(tmp_path / "s.csv"), "--format", "csv"],
        "base": [str(model), "--base", str(other)],
    }
    for what, args in runs.items():
        assert cli.main(["analyze", *args, "--layers", "nothing.*", "--no-progress"]) == cli.EXIT_NOTHING, what
        assert "no layer passed the filters" in capsys.readouterr().err, what


def test_an_empty_zoo_glob_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "simulations.zoo", "-m", f"checkpoints=[{tmp_path}/*.safetensors]",
                           f"hydra.sweep.dir={tmp_path / 'sweep'}"], capture_output=True, text=True, env=ENV,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"zoo: error: checkpoints: nothing matches '{tmp_path}/*.safetensors'\n"
