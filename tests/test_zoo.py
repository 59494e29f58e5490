"""Model zoos (issue 14 item 5): one job per checkpoint, failures recorded, finished models skipped, tables merged.

The checkpoints are written here: a few 100 x 80 float32 matrices (Gaussian and Student-t) and a
copy cut in half (a truncated file, which rmtkit refuses with a ``CheckpointError``). The multiruns
start Hydra, joblib and submitit processes, each importing JAX and compiling the fits: marked slow.
"""

import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

import rmtkit
from rmtkit.analysis import AnalyzeOptions
from rmtkit.checkpoints import write_safetensors
from simulations.entry import CONFIG_DIR
from simulations.zoo import collect
from simulations.zoo.config import (
    ZooAnalysisConfig,
    ZooConfig,
    model_name,
    register_configs,
    shrink,
    sweep_of,
)
from simulations.zoo.job import analyse_in_child
from simulations.zoo.run import analyse, checkpoint_identity, finished

ROOT = Path(__file__).resolve().parents[1]


def _write_zoo(folder: Path) -> tuple[Path, Path]:
    """``good.safetensors`` (two layers) and ``broken.safetensors`` (a one-layer file cut in half)."""
    rng = np.random.default_rng(14)
    good, broken = folder / "good.safetensors", folder / "broken.safetensors"
    write_safetensors(good, {"a.weight": rng.standard_normal((100, 80)).astype(np.float32),
                             "b.weight": rng.standard_t(3.0, (100, 80)).astype(np.float32),
                             "b.bias": np.zeros(80, np.float32)})
    write_safetensors(broken, {"a.weight": rng.standard_normal((100, 80)).astype(np.float32)})
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    return good, broken


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """The two checkpoints, each analysed in this process into its folder under ``sweep``."""
    folder = tmp_path_factory.mktemp("zoo")
    good, broken = _write_zoo(folder)
    sweep = folder / "sweep"
    cfgs = {p: ZooConfig(checkpoint=str(p), progress=False, spectra_cache=str(folder / "spectra")) for p in (good, broken)}
    results = {p: analyse(cfg, sweep / model_name(str(p))) for p, cfg in cfgs.items()}
    return {"folder": folder, "good": good, "broken": broken, "sweep": sweep, "cfgs": cfgs, "results": results}


def test_the_analysis_options_are_analyze_options_with_their_defaults():
    ours = {f.name: getattr(ZooAnalysisConfig(), f.name) for f in dataclasses.fields(ZooAnalysisConfig)}
    theirs = {f.name: getattr(AnalyzeOptions(), f.name) for f in dataclasses.fields(AnalyzeOptions)}
    assert {"layers", "min_evals", "normalize", "precision", "pl_method", "randomize", "seed"} <= set(ours)
    assert ours == theirs


def test_model_names_are_stable_readable_and_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    digest = hashlib.sha1(str(tmp_path / "a" / "model.safetensors").encode()).hexdigest()[:8]
    assert model_name("a/model.safetensors") == f"model-{digest}" == model_name(str(tmp_path / "a/model.safetensors"))
    assert model_name("b/model.safetensors").startswith("model-") and model_name("b/model.safetensors") != f"model-{digest}"
    assert model_name("hub/Llama-3.1-8B").startswith("Llama-3.1-8B-")  # a folder's dots are not a suffix
    assert model_name("ckpts/it's epoch 3.npz").startswith("it_s_epoch_3-")


def _swept(value: str) -> list[str]:
    """The ``checkpoint`` of each job of the sweep ``checkpoint=value``, as Hydra parses it for the job."""
    parser = OverridesParser.create()
    override, = parser.parse_overrides([f"checkpoint={value}"])
    if not override.is_sweep_override():  # one value: one job
        return [override.value()]
    return [parser.parse_override(f"checkpoint={v}").value() for v in override.sweep_string_iterator()]


def test_checkpoints_become_the_sweep_hydra_parses(tmp_path):
    names = ("epoch_2.safetensors", "epoch_10.safetensors", "it's,odd.safetensors", "back\\slash\\", "notes.txt")
    for name in names:
        (tmp_path / name).write_bytes(b"")
    sweep = sweep_of([str(tmp_path / "epoch_*.safetensors"), str(tmp_path / "it's,odd.safetensors"),
                      str(tmp_path / "epoch_2.safetensors"), str(tmp_path / "back\\slash\\")])
    assert _swept(sweep) == [str(tmp_path / n) for n in ("epoch_10.safetensors", "epoch_2.safetensors",
                                                          "it's,odd.safetensors", "back\\slash\\")]
    assert sweep_of([]) == "'???'" and _swept(sweep_of([])) == ["???"]  # a missing checkpoint in each job
    with pytest.raises(ValueError, match="nothing matches"):
        sweep_of([str(tmp_path / "*.bin")])


def test_smoke_keeps_the_small_layers_and_drops_the_shuffle():
    small = shrink(ZooConfig(checkpoint="m.safetensors", analysis=ZooAnalysisConfig(randomize=True), smoke=True))
    assert (small.analysis.max_evals, small.analysis.randomize, small.smoke, small.checkpoint) == (256, False, False,
                                                                                                 "m.safetensors")
    assert shrink(ZooConfig(analysis=ZooAnalysisConfig(max_evals=100))).analysis.max_evals == 100


def test_a_model_is_analysed_as_analyze_does_and_a_broken_one_is_recorded(zoo):
    out = zoo["sweep"] / model_name(str(zoo["good"]))
    done = json.loads((out / "DONE.json").read_text())
    assert zoo["results"][zoo["good"]] == done and done["model"] == out.name
    table = pd.read_csv(out / "layers.csv")
    direct = rmtkit.analyze(zoo["good"], progress=False).to_frame()
    assert table["name"].tolist() == ["a.weight", "b.weight", "b.bias"]
    assert table["status"].tolist() == ["ok", "ok", "skipped"]
    np.testing.assert_array_equal(table["alpha"][:2], direct["alpha"][:2].astype(float))
    assert done["summary"]["layers_analysed"] == 2 and done["summary"]["alpha_hat"] == pytest.approx(
        direct["alpha_weighted"][:2].astype(float).mean(), rel=1e-12)
    assert json.loads((out / "config.json").read_text())["checkpoint"] == str(zoo["good"])

    out = zoo["sweep"] / model_name(str(zoo["broken"]))
    failed = json.loads((out / "FAILED.json").read_text())
    assert zoo["results"][zoo["broken"]] is None and not (out / "DONE.json").exists()
    assert failed["error"].startswith("CheckpointError: ") and "truncated" in failed["error"]
    assert failed["checkpoint"] == str(zoo["broken"]) and failed["model"] == out.name


def test_a_rerun_skips_a_finished_model_unless_its_checkpoint_or_options_changed(zoo, caplog, tmp_path):
    cfg, out = zoo["cfgs"][zoo["good"]], zoo["sweep"] / model_name(str(zoo["good"]))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with caplog.at_level(logging.INFO, logger="simulations.zoo.run"):
        assert analyse(cfg, out) == json.loads((out / "DONE.json").read_text())
    assert "already finished: skipping" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing rewritten
    assert finished(dataclasses.replace(cfg, analysis=ZooAnalysisConfig(pl_method="auto")), out) is None
    copy = tmp_path / "good.safetensors"
    copy.write_bytes(zoo["good"].read_bytes())
    moved = dataclasses.replace(cfg, checkpoint=str(copy))
    (tmp_path / "out").mkdir()
    for name in ("DONE.json", "layers.csv"):
        (tmp_path / "out" / name).write_bytes((out / name).read_bytes())
    assert finished(moved, tmp_path / "out") is None  # another path: another model
    done = json.loads((out / "DONE.json").read_text())
    done["key"]["checkpoint"] = {"path": str(copy), "files": {copy.name: [copy.stat().st_size,
                                                                           hashlib.sha256(copy.read_bytes()).hexdigest()]}}
    (tmp_path / "out" / "DONE.json").write_text(json.dumps(done))
    assert finished(moved, tmp_path / "out") is not None
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 10**9))  # touched, the same bytes
    assert finished(moved, tmp_path / "out") is not None
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1  # the checkpoint changed
    copy.write_bytes(bytes(data))
    assert finished(moved, tmp_path / "out") is None


def test_a_folder_checkpoint_is_identified_by_every_file_in_it(tmp_path):
    (tmp_path / "hf" / "sub").mkdir(parents=True)
    (tmp_path / "hf" / "model.safetensors").write_bytes(b"x" * 24)
    (tmp_path / "hf" / "sub" / "config.json").write_bytes(b"{}")
    before = checkpoint_identity(str(tmp_path / "hf"))
    assert before["path"] == str(tmp_path / "hf")
    assert {name: size for name, (size, _) in before["files"].items()} == {"model.safetensors": 24, "sub/config.json": 2}
    shard = tmp_path / "hf" / "sub" / "config.json"
    os.utime(shard, ns=(shard.stat().st_atime_ns, shard.stat().st_mtime_ns + 10**9))
    assert checkpoint_identity(str(tmp_path / "hf")) == before  # the same bytes
    shard.write_bytes(b"[]")  # the same size, other bytes
    assert checkpoint_identity(str(tmp_path / "hf")) != before
    assert checkpoint_identity(str(tmp_path / "gone")) == {"path": str(tmp_path / "gone"), "files": {}}


def test_other_fit_options_reuse_the_spectra_cache_and_match_a_fresh_run(zoo, tmp_path):
    cache = zoo["folder"] / "spectra"
    entries = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.iterdir()}
    assert len(entries) == 1  # one .npz for the good checkpoint; the broken one never got that far
    cfg = dataclasses.replace(zoo["cfgs"][zoo["good"]], analysis=ZooAnalysisConfig(pl_method="auto", layers=["b.*"]))
    done = analyse(cfg, tmp_path / "auto")
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.iterdir()} == entries  # read, not written
    table = pd.read_csv(tmp_path / "auto" / "layers.csv")
    fresh = rmtkit.analyze(zoo["good"], progress=False, pl_method="auto", layers=("b.*",)).to_frame()
    assert table["status"].tolist() == ["skipped", "ok", "skipped"] and done["summary"]["layers_analysed"] == 1
    np.testing.assert_allclose(table["alpha"][1], float(fresh["alpha"][1]), rtol=1e-14)  # through CSV text
    assert done["key"]["analysis"]["pl_method"] == "auto"


def test_a_child_killed_or_exiting_badly_becomes_failed_json(tmp_path, monkeypatch):
    cfg = ZooConfig(checkpoint=str(tmp_path / "any.safetensors"))
    for script, error in (("kill -9 $$", "killed by SIGKILL (the OOM killer sends it when memory runs out)"),
                          ("exit 3", "the analysis process exited with status 3")):
        fake = tmp_path / "python"
        fake.write_text(f"#!/bin/sh\ncat > /dev/null\n{script}\n")
        fake.chmod(0o755)
        monkeypatch.setattr(sys, "executable", str(fake))
        assert analyse_in_child(cfg, tmp_path / "out") is None
        assert json.loads((tmp_path / "out" / "FAILED.json").read_text())["error"] == error


def test_the_collector_merges_tables_and_lists_failures(zoo, tmp_path):
    unfinished = zoo["sweep"] / "unfinished-00000000"
    unfinished.mkdir(exist_ok=True)
    (unfinished / "config.json").write_text(json.dumps({"checkpoint": "gone.safetensors"}))
    assert collect.main([str(zoo["sweep"]), "--out", str(tmp_path)]) == 0
    good, broken = model_name(str(zoo["good"])), model_name(str(zoo["broken"]))
    layers = pd.read_csv(tmp_path / "layers.csv")
    own = pd.read_csv(zoo["sweep"] / good / "layers.csv")
    assert layers.columns[:2].tolist() == ["model", "checkpoint"] and (layers["model"] == good).all()
    assert (layers["checkpoint"] == str(zoo["good"])).all()
    pd.testing.assert_frame_equal(layers.drop(columns=["model", "checkpoint"]), own)
    models = pd.read_csv(tmp_path / "models.csv").set_index("model")
    assert models["status"].to_dict() == {broken: "failed", good: "done", "unfinished-00000000": "unfinished"}
    assert models.loc[good, "layers_analysed"] == 2 and models.loc[good, "alpha_hat"] == pytest.approx(
        own["alpha_weighted"][:2].mean(), rel=1e-12)
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert [(f["model"], f["checkpoint"]) for f in failed] == [(broken, str(zoo["broken"]))]
    assert "truncated" in failed[0]["error"]
    assert collect.main([str(tmp_path / "empty")]) == 2


def _compose(overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="zoo", overrides=overrides, return_hydra_config=True)


def test_the_slurm_launcher_and_the_sweep_compose(tmp_path):
    good, broken = _write_zoo(tmp_path)
    cfg = _compose(["hydra/launcher=slurm", f"checkpoints=[{tmp_path}/*.safetensors]", f"checkpoint={good}",
                    "analysis.pl_method=auto", "spectra_cache=spectra"])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.timeout_min, launcher.cpus_per_task, launcher.mem_gb, launcher.array_parallelism) == (240, 2, 8, 64)
    assert launcher.submitit_folder == "multirun/zoo/.submitit/%j"
    assert _swept(cfg.hydra.sweeper.params.checkpoint) == [str(broken), str(good)]
    assert (cfg.hydra.sweep.dir, cfg.hydra.sweep.subdir) == ("multirun/zoo", model_name(str(good)))
    assert cfg.hydra.callbacks.collect._target_ == "simulations.zoo.collect.CollectZoo"
    assert (cfg.analysis.pl_method, cfg.spectra_cache, cfg.analysis.min_evals) == ("auto", "spectra", 10)
    alone = _compose([f"checkpoint={good}"])  # no checkpoints: the command line's sweep decides
    assert alone.hydra.sweeper.params.checkpoint == "'???'" and alone.checkpoint == str(good)
    local = _compose(["hydra/launcher=local"]).hydra.launcher
    assert local._target_ == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher" and local.n_jobs == 2


def _zoo_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulations.zoo", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
def test_a_local_multirun_goes_past_a_broken_model_and_a_rerun_skips_the_finished_one(tmp_path):
    good, broken = _write_zoo(tmp_path)
    sweep = tmp_path / "sweep"
    args = ["-m", f"checkpoints=[{tmp_path}/*.safetensors]", "hydra/launcher=local", f"hydra.sweep.dir={sweep}",
            "progress=false"]
    proc = _zoo_cli(*args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    models = pd.read_csv(sweep / "models.csv").set_index("model")
    assert models["status"].to_dict() == {model_name(str(broken)): "failed", model_name(str(good)): "done"}
    assert "CheckpointError" in models.loc[model_name(str(broken)), "error"]
    assert [f["model"] for f in json.loads((sweep / "failed.json").read_text())] == [model_name(str(broken))]
    layers = pd.read_csv(sweep / "layers.csv")
    direct = rmtkit.analyze(good, progress=False).to_frame()
    assert layers["name"].tolist() == direct["name"].tolist() and (layers["model"] == model_name(str(good))).all()
    np.testing.assert_array_equal(layers["alpha"][:2], direct["alpha"][:2].astype(float))

    result = sweep / model_name(str(good)) / "layers.csv"
    mtime = result.stat().st_mtime_ns
    proc = _zoo_cli(*args)
    assert proc.returncode == 0 and f"{model_name(str(good))} already finished: skipping" in proc.stdout + proc.stderr
    assert result.stat().st_mtime_ns == mtime
    assert (sweep / model_name(str(broken)) / "FAILED.json").exists()  # tried again, failed again


@pytest.mark.slow
def test_the_submitit_local_executor_runs_a_zoo_job(tmp_path):
    good, _ = _write_zoo(tmp_path)
    sweep = tmp_path / "sweep"
    proc = _zoo_cli("-m", f"checkpoint={good}", "analysis.layers=[b.*]", "hydra/launcher=submitit_local",
                    f"hydra.sweep.dir={sweep}", "progress=false")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert list(sweep.glob(".submitit/*/*_result.pkl"))  # the job went through submitit
    done = json.loads((sweep / model_name(str(good)) / "DONE.json").read_text())
    assert done["summary"]["layers_analysed"] == 1 and done["key"]["analysis"]["layers"] == ["b.*"]
    assert pd.read_csv(sweep / "layers.csv")["status"].tolist() == ["skipped", "ok", "skipped"]
