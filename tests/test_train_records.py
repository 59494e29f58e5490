"""One column name, mp_soft_rank (issue 26, part 6): the training suite writes it, and its readers give files
written before the rename (committed results, finished runs, a saved resume history) the same name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optax
import pandas as pd
from flax import nnx

from simulations.train import collect
from simulations.train.records import current_header, current_key, read_csv, read_record, run_knobs
from simulations.train.state import TrainingState

ROOT = Path(__file__).resolve().parents[1]


def test_current_names_of_columns_and_keys():
    assert [current_key(k) for k in ("mp_softrank", "fc1_mp_softrank", "mean_mp_softrank", "mp_soft_rank", "alpha")] \
        == ["mp_soft_rank", "fc1_mp_soft_rank", "mean_mp_soft_rank", "mp_soft_rank", "alpha"]


def test_the_header_is_renamed_and_the_rows_kept_to_the_byte():
    text = "epoch,name,mp_softrank,alpha\n0,fc1,0.30000000000000004,2.5\n1,fc1,,3\n"
    assert current_header(text) == "epoch,name,mp_soft_rank,alpha\n0,fc1,0.30000000000000004,2.5\n1,fc1,,3\n"
    assert current_header("") == ""


def test_committed_headline_results_read_with_the_current_name(tmp_path):
    committed = ROOT / "docs" / "results" / "headline" / "runs.csv"
    head, _, rows = committed.read_text().partition("\n")
    assert "fc1_mp_soft_rank" in head and "fc1_mp_softrank" not in head  # relabelled after the rename
    old = tmp_path / "runs.csv"  # the same results as committed before the rename
    old.write_text(head.replace("mp_soft_rank", "mp_softrank") + "\n" + rows)
    runs = read_csv(old)
    assert "fc1_mp_soft_rank" in runs.columns and "fc1_mp_softrank" not in runs.columns
    np.testing.assert_array_equal(runs["fc1_mp_soft_rank"], pd.read_csv(committed)["fc1_mp_soft_rank"])


def _old_run(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"seed": 0, "batch_size": 8}))
    (folder / "DONE.json").write_text(json.dumps({"test_acc": 0.9, "train_acc": 1.0, "fc1_mp_softrank": 0.25}))
    pd.DataFrame({"epoch": [1, 1], "name": ["fc1", "fc2"], "status": ["ok", "ok"], "mp_softrank": [0.25, 0.5],
                  "alpha_weighted": [1.0, 3.0], "log_norm": [2.0, 2.0], "log_spectral_norm": [1.0, 1.0],
                  "log_alpha_norm": [4.0, 6.0]}).to_csv(folder / "spectral.csv", index=False)


def test_a_run_finished_before_the_rename_is_collected_with_the_current_name(tmp_path):
    _old_run(tmp_path / "sweep" / "batch_size=8")
    assert read_record(tmp_path / "sweep" / "batch_size=8" / "DONE.json")["fc1_mp_soft_rank"] == 0.25
    runs = collect.collect(tmp_path / "sweep")
    assert runs.loc[0, "fc1_mp_soft_rank"] == 0.25 and "fc1_mp_softrank" not in runs.columns
    assert runs.loc[0, "alpha_hat"] == 2.0 and runs.loc[0, "status"] == "done"


def test_a_resume_history_saved_before_the_rename_comes_back_with_the_current_name(tmp_path):
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    store = TrainingState(tmp_path)
    spectral = "epoch,name,mp_softrank\n0,fc1,0.5\n1,fc1,0.25\n"
    store.save(model, opt, 1, "epoch,train_loss\n1,0.5\n", spectral)
    epoch, metrics, restored = store.restore(model, opt)
    assert (epoch, metrics) == (1, "epoch,train_loss\n1,0.5\n")
    assert restored == "epoch,name,mp_soft_rank\n0,fc1,0.5\n1,fc1,0.25\n"


def test_run_knobs_read_the_identifying_columns_from_the_config(tmp_path):
    config = {"seed": 1, "batch_size": 4, "epochs": 30,
              "data": {"name": "fashion_mnist", "subset": None, "val_size": 0, "label_noise": 0.0},
              "optimizer": {"name": "sgd", "weight_decay": {}}, "model": {"name": "minialexnet", "channels": [12, 256]}}
    full = tmp_path / "batch_size=4,seed=1"
    full.mkdir()
    (full / "config.json").write_text(json.dumps(config))
    assert run_knobs(full) == {"run": "batch_size=4,seed=1", "model": "minialexnet", "batch_size": 4, "seed": 1,
                               "epochs": 30, "train_size": 60000, "label_noise": 0.0, "weight_decay": "none"}
    config["data"] = {"subset": None, "val_size": 10000}  # no label_noise key: written before it existed
    config["optimizer"]["weight_decay"] = {"fc1": 0.005}
    split = tmp_path / "l2"
    split.mkdir()
    (split / "config.json").write_text(json.dumps(config))
    knobs = run_knobs(split)
    assert (knobs["train_size"], knobs["label_noise"], knobs["weight_decay"]) == (50000, 0.0, '{"fc1": 0.005}')
    config["data"]["subset"] = 2048
    (split / "config.json").write_text(json.dumps(config))
    assert run_knobs(split)["train_size"] == 2048
