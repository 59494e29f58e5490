"""Kill and resume: a training run and a sweep lose no epoch and no result to a SIGKILL at any moment.

The tiny model on 512 synthetic examples, so each process is seconds (most of it is importing JAX).
The kills are the ``kill_at`` testing hook, ``os.kill(os.getpid(), SIGKILL)`` at a named point.
"""

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulations.train import collect
from simulations.train.config import AnalysisConfig, DataConfig, ModelConfig, OptimizerConfig, TrainConfig
from simulations.train.run import run
from simulations.train.state import ResumeError

pytestmark = pytest.mark.slow  # training processes killed and resumed: minutes

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model=tiny", "model.width=32", "data=synthetic", "data.subset=512", "data.val_size=200", "batch_size=64",
        "analysis.layers=[fc1]", "progress=false", "threads=1"]
#: metrics.csv columns that are results (the others are wall-clock seconds)
RESULTS = ["epoch", "train_loss", "train_acc_running", "val_acc", "lr"]


def _start(*args):
    flags = [a for a in args if a.startswith("-")]  # before the overrides, or argparse takes none after them
    overrides = [a for a in args if not a.startswith("-")]
    return subprocess.Popen([sys.executable, "-m", "simulations.train", *flags, *TINY, *overrides], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _train(*args):
    proc = _start(*args)
    proc.stdout, proc.stderr = proc.communicate(timeout=600)
    return proc


def _saved_epoch(out: Path) -> int:
    with np.load(out / "state" / "state.npz") as z:
        return int(z["epoch"])


def test_a_kill_at_any_point_resumes_to_the_uninterrupted_result(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "run"
    uninterrupted = _start("epochs=3", f"hydra.run.dir={ref}")  # beside the first killed run: 2 cores
    # kill_at, then: the saved state's epoch, the epochs in metrics.csv, the epochs in spectral.csv.
    # Each relaunch resumes what the previous kill left.
    chain = [("2:train", 1, [1], [0, 1]),    # during epoch 2's training
             ("2:state", 1, [1], [0, 1]),    # during the state save: written to its temporary file, not renamed
             ("2:csv", 2, [1, 2], [0, 1]),   # state saved, metrics.csv rebuilt, spectral.csv not yet
             ("3:saved", 3, [1, 2], [0, 1, 2])]  # last epoch's state saved, CSVs not rebuilt, nothing finished
    for kill_at, saved, metric_epochs, spectral_epochs in chain:
        proc = _train("epochs=3", f"kill_at={kill_at}", f"hydra.run.dir={out}")
        assert proc.returncode == -signal.SIGKILL, (kill_at, proc.stdout[-3000:] + proc.stderr[-3000:])
        if uninterrupted.returncode is None:
            log, err = uninterrupted.communicate(timeout=600)
            assert uninterrupted.returncode == 0, log[-3000:] + err[-3000:]
            ref_metrics, ref_spectral = pd.read_csv(ref / "metrics.csv"), pd.read_csv(ref / "spectral.csv")
        assert _saved_epoch(out) == saved, kill_at
        # only the torn save of "2:state" leaves a temporary file, never renamed in
        assert (out / "state" / ".state.npz.tmp").exists() == (kill_at == "2:state"), kill_at
        metrics, spectral = pd.read_csv(out / "metrics.csv"), pd.read_csv(out / "spectral.csv")
        assert metrics.epoch.tolist() == metric_epochs and sorted(set(spectral.epoch)) == spectral_epochs, kill_at
        pd.testing.assert_frame_equal(metrics[RESULTS], ref_metrics[RESULTS].iloc[:len(metrics)], check_exact=True)
        pd.testing.assert_frame_equal(spectral, ref_spectral.iloc[:len(spectral)], check_exact=True)
        assert not (out / "DONE.json").exists()
    proc = _train("epochs=3", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"resuming {out} after epoch 3" in proc.stdout
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics.epoch.tolist() == [1, 2, 3]  # every epoch exactly once
    pd.testing.assert_frame_equal(metrics[RESULTS], ref_metrics[RESULTS], check_exact=True)
    for name in ("spectral.csv", "final_weights.safetensors", "checkpoints/epoch_001.safetensors",
                 "checkpoints/epoch_002.safetensors", "checkpoints/epoch_003.safetensors"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    done, ref_done = json.loads((out / "DONE.json").read_text()), json.loads((ref / "DONE.json").read_text())
    seconds = ("train_seconds", "analysis_seconds")
    assert {k: v for k, v in done.items() if k not in seconds} == {k: v for k, v in ref_done.items() if k not in seconds}
    assert not (out / "state").exists() and not list(out.glob(".*.tmp"))


def _tiny(**kw):
    base = dict(model=ModelConfig(name="tiny", width=32), data=DataConfig(name="synthetic", subset=512, val_size=200),
                analysis=AnalysisConfig(layers=["fc1"]), batch_size=64, epochs=2, progress=False)
    return TrainConfig(**(base | kw))


def test_a_resume_under_another_config_is_refused_naming_the_fields(tmp_path):
    with pytest.raises(RuntimeError, match="fail_at_epoch=1"):
        run(_tiny(fail_at_epoch=1), tmp_path)
    saved = (tmp_path / "config.json").read_text()
    refused = [(dict(seed=1), "seed (saved 0, now 1)"), (dict(epochs=3), "epochs (saved 2, now 3)"),
               (dict(optimizer=OptimizerConfig(name="adam")), "optimizer.name (saved 'sgd', now 'adam')"),
               (dict(optimizer=OptimizerConfig(lr_decay=0.5)), "optimizer.lr_decay (saved 0.95, now 0.5)"),
               (dict(model=ModelConfig(name="tiny", width=16)), "model.width (saved 32, now 16)"),
               (dict(batch_size=32, loss="mse"), "batch_size (saved 64, now 32); loss (saved 'cross_entropy', now 'mse')")]
    for change, fields in refused:
        with pytest.raises(ResumeError, match=re.escape(fields)) as err:
            run(_tiny(**change), tmp_path)
        assert str(err.value).startswith(f"{tmp_path}: refusing to resume"), err.value
    assert (tmp_path / "config.json").read_text() == saved and _saved_epoch(tmp_path) == 1
    run(_tiny(threads=1, kill_at="9:train"), tmp_path)  # fields that change how it runs, not what, may differ
    assert pd.read_csv(tmp_path / "metrics.csv").epoch.tolist() == [1, 2]
    with pytest.raises(ResumeError, match=re.escape("seed (saved 0, now 1)")):  # nor is a finished run skipped
        run(_tiny(seed=1), tmp_path)
    run(_tiny(seed=1, resume=False), tmp_path)  # resume=false starts the folder afresh
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 1
    assert pd.read_csv(tmp_path / "metrics.csv").epoch.tolist() == [1, 2]


def test_a_corrupt_state_or_config_is_named_in_the_error(tmp_path):
    with pytest.raises(RuntimeError, match="fail_at_epoch=1"):
        run(_tiny(fail_at_epoch=1), tmp_path / "run")
    state = (tmp_path / "run" / "state" / "state.npz").read_bytes()
    torn = "unreadable training state (ValueError: not an .npz archive"
    damages = {"garbage": (lambda p: p.write_bytes(b"not a zip file"), torn),
               "truncated": (lambda p: p.write_bytes(state[: len(state) // 2]), torn),
               "foreign": (lambda p: np.savez(p, x=np.zeros(3)), "unreadable training state (KeyError"),
               "older": (lambda p: np.savez(p, np.zeros(3)), "the saved arrays do not fit this model")}
    for name, (damage, message) in damages.items():
        out = tmp_path / name
        shutil.copytree(tmp_path / "run", out)
        damage(out / "state" / "state.npz")
        with pytest.raises(ResumeError, match=re.escape(f"{out / 'state' / 'state.npz'}: {message}")):
            run(_tiny(), out)
    (tmp_path / "run" / "config.json").write_text('{"seed": ')
    with pytest.raises(ResumeError, match=re.escape(f"{tmp_path / 'run' / 'config.json'}: unreadable (JSONDecodeError")):
        run(_tiny(), tmp_path / "run")


def test_a_state_of_the_earlier_layout_resumes(tmp_path):
    # Before the history moved into state.npz, a state was the leaves as arr_i, the epoch in epoch.json,
    # and the CSVs (written before the state) beside it. Such a run resumes to the uninterrupted result.
    ref = run(_tiny(epochs=3), tmp_path / "ref")
    with pytest.raises(RuntimeError, match="fail_at_epoch=2"):
        run(_tiny(epochs=3, fail_at_epoch=2), tmp_path / "old")
    path = tmp_path / "old" / "state" / "state.npz"
    with np.load(path) as z:
        leaves = [z[k] for k in sorted(k for k in z.files if k.startswith("leaf_"))]
    np.savez(path, *leaves)
    metrics = pd.read_csv(tmp_path / "old" / "metrics.csv")
    pd.concat([metrics, metrics.tail(1).assign(epoch=3)]).to_csv(tmp_path / "old" / "metrics.csv", index=False)  # a torn 3rd
    resumed = run(_tiny(epochs=3), tmp_path / "old")
    assert {k: v for k, v in resumed.items() if "seconds" not in k} == {k: v for k, v in ref.items() if "seconds" not in k}
    assert pd.read_csv(tmp_path / "old" / "metrics.csv").epoch.tolist() == [1, 2, 3]


def test_a_failed_single_run_exits_non_zero_with_failed_json(tmp_path):
    proc = _train("epochs=2", "fail_at_epoch=1", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 1
    assert "run failed: fail_at_epoch=1: simulated crash (testing)" in proc.stdout
    assert json.loads((tmp_path / "FAILED.json").read_text())["error"] == (
        "RuntimeError: fail_at_epoch=1: simulated crash (testing)")


def test_a_sweep_survives_a_sigkilled_job_and_resumes_it_on_rerun(tmp_path):
    sweep = tmp_path / "sweep"
    # The epochs=3 job is SIGKILLed during its third epoch; the epochs=2 job never reaches it.
    args = ["-m", "epochs=2,3", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"]
    proc = _train(*args, "kill_at=3:train")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert collect.main([str(sweep)]) == 0
    runs = pd.read_csv(sweep / "runs.csv").set_index("epochs")
    assert runs.loc[2, "status"] == "done" and runs.loc[3, "status"] == "failed"
    assert runs.loc[3, "error"].startswith("killed by SIGKILL")
    killed = sweep / runs.loc[3, "run"]
    assert _saved_epoch(killed) == 2 and pd.read_csv(killed / "metrics.csv").epoch.tolist() == [1, 2]
    proc = _train(*args)  # the same sweep again
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "already finished: skipping" in proc.stdout and f"resuming {killed} after epoch 2" in proc.stdout
    assert collect.main([str(sweep)]) == 0
    runs = pd.read_csv(sweep / "runs.csv").set_index("epochs")
    assert (runs.status == "done").all() and (runs.test_acc > 0.15).all()
    assert pd.read_csv(killed / "metrics.csv").epoch.tolist() == [1, 2, 3] and not (killed / "FAILED.json").exists()
