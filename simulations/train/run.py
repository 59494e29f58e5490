"""Train one model with optax, watch its spectra every epoch, checkpoint, and resume after a kill.

Per run (``out_dir``): ``config.json``, ``metrics.csv`` (per epoch: losses, accuracies, learning
rate, seconds spent training and analysing), ``spectral.csv`` (per epoch and watched layer: the
analyzer's row), ``checkpoints/epoch_XXX.safetensors`` (watched weights), ``final_weights.safetensors``,
figures (``esd_<layer>.png`` over epochs, ``phases.png``) and ``DONE.json`` with the final figures.

``state/state.npz`` holds everything a killed run needs to continue (the model and optimizer state of the
last finished epoch and the rows of both CSVs up to it); it is the one record, replaced atomically
(temporary file, fsync, rename) after each epoch, and the CSVs are rebuilt from it, so a kill at any
moment leaves a run that resumes with every epoch exactly once and ends bit-identical to an uninterrupted
one. A resume refuses a config that differs from the saved ``config.json`` (:data:`~simulations.train.state.RESUME_MAY_DIFFER`
lists the fields that may), and an unreadable state or config is an error naming the file.

The concerns live in three modules: the steps (:mod:`simulations.train.steps`: optimizer, loss, the
jitted chunk, one epoch, evaluation), the state and resume (:mod:`simulations.train.state`), and the
loop here (:func:`run`: per epoch train, analyse, save, rebuild the CSVs; then the final figures).
``spectral.csv`` names the analyzer's columns as the analyzer does (``mp_soft_rank``); a history saved
under the former name ``mp_softrank`` takes the current one when its run resumes (:mod:`simulations.train.records`).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from flax import nnx

import rmtkit
from rmtkit.atomic import replacing, write_atomically
from rmtkit.checkpoints import write_safetensors
from rmtkit.status import RowStatus
from simulations.train.config import TrainConfig
from simulations.train.data import Data, load_data
from simulations.train.figures import write_figures
from simulations.train.models import build_model, weight_matrices
from simulations.train.state import (
    TrainingState,
    check_config,
    check_kill_at,
    kill_at,
    parse_csv,
    read_json,
    start_afresh,
    write_csvs,
)
from simulations.train.steps import (
    dead_units,
    evaluate,
    make_loss,
    make_optimizer,
    make_train_chunk,
    train_epoch,
)

log = logging.getLogger(__name__)


def configure_threads(threads: int) -> None:
    """Bound XLA's CPU threads for this process (sweeps run several processes side by side).

    Only effective before JAX's backend starts, i.e. at the entry point of a fresh process.
    """
    if threads > 0:
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (f"{flags} --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                                       f"intra_op_parallelism_threads={threads}").strip()
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def analyse_weights(model, cfg: TrainConfig, epoch: int) -> pd.DataFrame:
    """The analyzer on the live watched kernels (no files), one row per layer, tagged with the epoch."""
    watched = {k: v for k, v in weight_matrices(model).items() if k in cfg.analysis.layers}
    df = rmtkit.analyze(watched, min_evals=cfg.analysis.min_evals, normalize=cfg.analysis.normalize,
                        progress=False).to_frame()
    df.insert(0, "epoch", epoch)
    return df


class TrainingDiverged(RuntimeError):
    """The training loss is no longer finite: the run stops at that epoch, saying so."""


def _check_numbers(cfg: TrainConfig) -> None:
    """The knobs a run divides by or loops over, checked before anything is read or written."""
    if isinstance(cfg.epochs, bool) or not isinstance(cfg.epochs, int) or cfg.epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {cfg.epochs!r}")
    if isinstance(cfg.batch_size, bool) or not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {cfg.batch_size!r}")
    for name in ("lr", "momentum", "lr_decay"):
        value = getattr(cfg.optimizer, name)
        if not math.isfinite(float(value)) or float(value) < 0:
            raise ValueError(f"optimizer.{name} must be finite and >= 0, got {value!r}")


def run(cfg: TrainConfig, out_dir: str | Path) -> dict:
    """Train ``cfg`` into ``out_dir`` and return the final figures (also in ``DONE.json``)."""
    check_kill_at(cfg.kill_at)
    _check_numbers(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = out / "DONE.json"
    state_store = TrainingState(out)
    resuming = cfg.resume and (done.exists() or state_store.exists())
    if resuming:
        check_config(out / "config.json", cfg)
        if done.exists():
            log.info("%s already finished: skipping", out)
            result = read_json(done)
            shutil.rmtree(out / "state", ignore_errors=True)  # left by a kill just after DONE.json
            return result
    else:
        start_afresh(out, cfg)
    data = load_data(cfg.data)
    model = build_model(cfg.model, seed=cfg.seed)
    steps_per_epoch = len(data.train.x) // cfg.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {cfg.batch_size} exceeds the {len(data.train.x)} training examples")
    opt = nnx.Optimizer(model, make_optimizer(cfg, steps_per_epoch), wrt=nnx.Param)
    unknown = set(cfg.optimizer.weight_decay) - set(weight_matrices(model))
    if unknown:
        raise ValueError(f"weight_decay names unknown layers {sorted(unknown)}; layers: {sorted(weight_matrices(model))}")
    watched_unknown = set(cfg.analysis.layers) - set(weight_matrices(model))
    if watched_unknown:
        raise ValueError(f"analysis.layers names unknown layers {sorted(watched_unknown)}")

    start, metrics_csv, spectral_csv = 0, "", ""
    metrics: list[pd.DataFrame] = []
    spectral: list[pd.DataFrame] = []
    if resuming:
        start, metrics_csv, spectral_csv = state_store.restore(model, opt)
        metrics = [parse_csv(metrics_csv)]
        spectral = [parse_csv(spectral_csv)] if spectral_csv else []
        write_csvs(out, cfg, start, metrics_csv, spectral_csv)  # they may lag the state by the epoch of the kill
        log.info("resuming %s after epoch %d", out, start)
    graphdef, state = nnx.split((model, opt))
    chunk_fn = make_train_chunk(graphdef, make_loss(cfg.loss, dict(cfg.optimizer.weight_decay)))
    (out / "checkpoints").mkdir(exist_ok=True)

    def analyse(epoch: int) -> None:
        spectral.append(analyse_weights(model, cfg, epoch))
        if cfg.analysis.checkpoints:
            with replacing(out / "checkpoints" / f"epoch_{epoch:03d}.safetensors", shared=False) as tmp:
                write_safetensors(tmp, {k: np.asarray(v) for k, v in weight_matrices(model).items()
                                        if k in cfg.analysis.layers})

    if start == 0 and cfg.analysis.every:
        analyse(0)

    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        state, loss, acc = train_epoch(chunk_fn, state, data, cfg, epoch, steps_per_epoch,
                                       after_first_chunk=functools.partial(kill_at, cfg, epoch, "train"))
        if not math.isfinite(loss):  # before anything is saved: the last finite epoch stays the resume point
            raise TrainingDiverged(f"{out}: training diverged in epoch {epoch} (mean training loss {loss}); the "
                                   f"state of epoch {epoch - 1} is kept. Lower optimizer.lr or change the run")
        nnx.update((model, opt), state)
        train_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        last = epoch == cfg.epochs
        if (cfg.analysis.every and epoch % cfg.analysis.every == 0) or last:
            analyse(epoch)
        analysis_seconds = time.perf_counter() - t1
        row = {"epoch": epoch, "train_loss": loss, "train_acc_running": acc, "val_acc": evaluate(model, data.val),
               "lr": float(cfg.optimizer.lr * cfg.optimizer.lr_decay ** (epoch - 1)),
               "train_seconds": train_seconds, "analysis_seconds": analysis_seconds}
        metrics.append(pd.DataFrame([row]))
        metrics_csv = pd.concat(metrics, ignore_index=True).to_csv(index=False)
        spectral_csv = pd.concat(spectral, ignore_index=True).to_csv(index=False) if spectral else ""
        # The state (with the history) is the record; the CSVs are rebuilt from it after it is safe.
        state_store.save(model, opt, epoch, metrics_csv, spectral_csv,
                         before_rename=functools.partial(kill_at, cfg, epoch, "state"))
        kill_at(cfg, epoch, "saved")
        write_csvs(out, cfg, epoch, metrics_csv, spectral_csv)
        log.info("epoch %d: loss %.4f, running train acc %.4f, val acc %.4f (%.1f s + %.2f s analysis)", epoch, loss,
                 acc, row["val_acc"], train_seconds, analysis_seconds)
        if cfg.fail_at_epoch and epoch == cfg.fail_at_epoch:
            raise RuntimeError(f"fail_at_epoch={epoch}: simulated crash (testing)")

    # Both paths (uninterrupted, resumed) finish from the saved text, so their DONE.json agree to the bit.
    final = _finish(model, data, cfg, out, parse_csv(metrics_csv), parse_csv(spectral_csv))
    write_atomically(done, json.dumps(final, indent=1).encode())
    shutil.rmtree(out / "state", ignore_errors=True)
    return final


def _finish(model, data: Data, cfg: TrainConfig, out: Path, metrics: pd.DataFrame, spectral: pd.DataFrame) -> dict:
    with replacing(out / "final_weights.safetensors", shared=False) as tmp:
        write_safetensors(tmp, {k: np.asarray(v) for k, v in weight_matrices(model).items()})
    final = {"train_acc": evaluate(model, data.train), "val_acc": evaluate(model, data.val),
             "test_acc": evaluate(model, data.test), "epochs": cfg.epochs,
             "train_seconds": float(metrics["train_seconds"].sum()),
             "analysis_seconds": float(metrics["analysis_seconds"].sum())}
    final["gap"] = final["train_acc"] - final["test_acc"]
    final["layer_shapes"] = {k: list(v.shape) for k, v in weight_matrices(model).items()}
    if cfg.model.name == "minialexnet":
        final["conv_channels"] = list(cfg.model.conv_channels())
    final.update({f"{k}_dead_units": v for k, v in dead_units(model, data.train.x).items()})
    last = spectral[(spectral["epoch"] == spectral["epoch"].max()) & (spectral["status"] == RowStatus.OK)]
    for row in last.itertuples():
        for col in ("alpha", "num_spikes", "mp_soft_rank", "stable_rank", "hard_rank", "rank_loss", "phase",
                    "alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm", "mp_sigma", "lambda_max"):
            value = getattr(row, col)
            final[f"{row.name}_{col}"] = value.item() if hasattr(value, "item") else value
    write_figures(spectral, out, normalize=cfg.analysis.normalize)
    return final
