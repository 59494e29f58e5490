"""Train one model with optax, watch its spectra every epoch, checkpoint, and resume after a kill.

Per run (``out_dir``): ``config.json``, ``metrics.csv`` (per epoch: losses, accuracies, learning
rate, seconds spent training and analysing), ``spectral.csv`` (per epoch and watched layer: the
analyzer's row), ``checkpoints/epoch_XXX.safetensors`` (watched weights), ``final_weights.safetensors``,
figures (``esd_<layer>.png`` over epochs, ``phases.png``) and ``DONE.json`` with the final figures.

``state/state.npz`` holds everything a killed run needs to continue (the model and optimizer state of the
last finished epoch and the rows of both CSVs up to it); it is the one record, replaced atomically
(temporary file, fsync, rename) after each epoch, and the CSVs are rebuilt from it, so a kill at any
moment leaves a run that resumes with every epoch exactly once and ends bit-identical to an uninterrupted
one. A resume refuses a config that differs from the saved ``config.json`` (:data:`RESUME_MAY_DIFFER`
lists the fields that may), and an unreadable state or config is an error naming the file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import shutil
import signal
import time
import zipfile
from io import StringIO
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from flax import nnx
from tqdm.auto import tqdm

import rmtkit
from rmtkit.atomic import replacing, write_atomically
from rmtkit.checkpoints import write_safetensors
from rmtkit.status import RowStatus
from simulations.train.config import TrainConfig
from simulations.train.control import split_name, with_control
from simulations.train.data import Data, load_data
from simulations.train.figures import write_figures
from simulations.train.models import build_model, weight_matrices

log = logging.getLogger(__name__)

#: Steps fused into one jitted ``lax.scan`` call: small batches are dispatch-bound otherwise.
MAX_CHUNK_STEPS = 256


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The learning rate falls by ``lr_decay`` after every epoch (a staircase, as Keras' per-epoch scheduler).

    ``sgd`` is Keras' momentum SGD, ``v <- momentum * v - lr_t * g; w <- w + v``: the velocity keeps the
    learning rate each gradient was taken with (``optax.sgd`` instead rescales the whole trace by the
    current rate; the two differ only after a decay). ``adam`` is ``optax.adam`` on the same schedule.
    ``<name>+tempbalance`` / ``<name>+alphadecay`` add rmtkit.optim's spectral control (control.py).
    """
    o = cfg.optimizer
    schedule = optax.exponential_decay(o.lr, transition_steps=steps_per_epoch, decay_rate=o.lr_decay, staircase=True)
    name, control = split_name(o.name)  # "sgd+tempbalance": simulations/train/control.py
    if name == "sgd":
        return with_control(optax.chain(optax.scale_by_learning_rate(schedule), optax.trace(decay=o.momentum)),
                            control, steps_per_epoch)
    if name == "adam":
        return with_control(optax.adam(schedule), control, steps_per_epoch)
    raise ValueError(f"unknown optimizer {o.name!r}; choose sgd or adam")


#: The losses of the training suite; ``softmax_mse`` is the authors' (Keras 'mse' on a softmax output).
LOSSES = ("softmax_mse", "mse", "cross_entropy")


def make_loss(kind: str, weight_decay: dict[str, float]):
    """``loss(model, x, y) -> (total, logits)``: the data term plus ``coef * sum(W**2)`` per named layer.

    ``softmax_mse``: mean over the batch and the classes of ``(softmax(logits) - onehot(y))**2`` (the
    paper's MiniAlexNet); ``mse``: the same on the logits; ``cross_entropy``: softmax cross-entropy.
    """
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")

    def loss(model, x, y):
        logits = model(x)
        if kind == "softmax_mse":
            data = jnp.mean((jax.nn.softmax(logits) - jax.nn.one_hot(y, logits.shape[-1])) ** 2)
        elif kind == "mse":
            data = jnp.mean((logits - jax.nn.one_hot(y, logits.shape[-1])) ** 2)
        else:
            data = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        kernels = weight_matrices(model)
        l2 = sum(coef * jnp.sum(kernels[name] ** 2) for name, coef in weight_decay.items())
        return data + l2, logits

    return loss


def make_train_chunk(graphdef, loss_fn):
    """A jitted ``(state, xs, ys) -> (state, losses, accs)`` running ``len(xs)`` SGD steps in one ``lax.scan``."""

    def step(state, batch):
        model, opt = nnx.merge(graphdef, state)
        x, y = batch
        (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x, y)
        opt.update(model, grads)
        _, state = nnx.split((model, opt))
        return state, (loss, jnp.mean(jnp.argmax(logits, -1) == y))

    @jax.jit
    def chunk(state, xs, ys):
        state, (losses, accs) = jax.lax.scan(step, state, (xs, ys))
        return state, losses, accs

    return chunk


def evaluate(model, split, batch: int = 2000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(split.x), batch):
        logits = _predict(model, jnp.asarray(split.x[i:i + batch]))
        correct += int(jnp.sum(jnp.argmax(logits, -1) == jnp.asarray(split.y[i:i + batch])))
    model.train()
    return correct / len(split.x)


@nnx.jit
def _predict(model, x):
    return model(x)


@nnx.jit
def _ever_active(model, x):
    return {k: jnp.any(v > 0, axis=0) for k, v in model.activations(x).items() if k != "fc3"}


def dead_units(model, x: np.ndarray, batch: int = 2000) -> dict[str, int]:
    """Per ReLU layer of a model with ``activations`` (MiniAlexNet): units never active on any input of ``x``.

    Inference mode (BatchNorm running statistics), as the trained network is used.
    """
    if not hasattr(model, "activations"):
        return {}
    model.eval()
    active = None
    for i in range(0, len(x), batch):
        now = _ever_active(model, jnp.asarray(x[i:i + batch]))
        active = now if active is None else {k: active[k] | now[k] for k in now}
    model.train()
    return {k: int(np.sum(~np.asarray(v))) for k, v in active.items()}


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


class ResumeError(RuntimeError):
    """A run folder cannot be continued: its config differs from this run's, or a saved file is unreadable."""


#: Fields that may differ between a run and the saved run it resumes: they change how it runs, not what it
#: computes. Everything else (seed, epochs, model, data, optimizer and its schedule, loss, batch size, x64,
#: analysis) must match. ``epochs`` is not among them: a finished run has dropped its state, the last epoch
#: is always analysed, and the saved ``config.json`` would no longer describe the history; train longer
#: in a new folder.
RESUME_MAY_DIFFER = ("progress", "threads", "resume", "fail_at_epoch", "kill_at")

#: Named points of an epoch where ``kill_at="EPOCH:POINT"`` SIGKILLs the process (testing only): ``train``
#: after the epoch's first chunk of steps; ``state`` with the new state written to its temporary file but not
#: renamed; ``saved`` with the state renamed but the CSVs not yet rebuilt; ``csv`` between rebuilding
#: ``metrics.csv`` and ``spectral.csv``.
KILL_POINTS = ("train", "state", "saved", "csv")


def _kill_at(cfg: TrainConfig, epoch: int, point: str) -> None:
    """The testing hook ``kill_at``: die here as the OOM killer kills, with no chance to clean up."""
    if cfg.kill_at == f"{epoch}:{point}":
        os.kill(os.getpid(), signal.SIGKILL)


def _check_kill_at(kill_at: str) -> None:
    if not kill_at:
        return
    epoch, _, point = kill_at.partition(":")
    if not epoch.isdigit() or point not in KILL_POINTS:
        raise ValueError(f"kill_at={kill_at!r}: expected EPOCH:POINT with POINT one of {', '.join(KILL_POINTS)}")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ResumeError(f"{path}: unreadable ({type(err).__name__}: {err})") from err


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v and prefix + k != "optimizer.weight_decay":
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def config_differences(saved: dict, now: dict) -> list[str]:
    """``"field (saved X, now Y)"`` for every field outside :data:`RESUME_MAY_DIFFER` that differs."""
    a, b = _flat(saved), _flat(now)
    keys = [k for k in dict.fromkeys([*a, *b]) if k.split(".")[0] not in RESUME_MAY_DIFFER]
    missing = "<absent>"

    def same(x, y) -> bool:  # NaN equals NaN (a diverged lr is still the run's lr); a field added later with
        # the default None matches a saved config that predates it
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            return True
        return x == y or (x is missing and y is None)

    return [f"{k} (saved {a.get(k, missing)!r}, now {b.get(k, missing)!r})" for k in keys
            if not same(a.get(k, missing), b.get(k, missing))]


def _check_config(path: Path, cfg: TrainConfig) -> None:
    """Refuse to continue (or to skip as finished) a run folder whose saved config is not this run's."""
    if not path.exists():
        raise ResumeError(f"{path} is missing, so the saved run cannot be checked against this one; "
                          "use resume=false to start this folder afresh")
    diff = config_differences(_read_json(path), json.loads(json.dumps(dataclasses.asdict(cfg))))
    if diff:
        raise ResumeError(f"{path.parent}: refusing to resume: this run's config differs from the saved one in "
                          f"{'; '.join(diff)}. Use another output folder, or resume=false to start this one afresh")


def _start_afresh(out: Path, cfg: TrainConfig) -> None:
    """Clear what an earlier run left in ``out`` and record ``cfg``. The state goes first: a kill part-way
    never leaves a state beside a config it does not belong to."""
    shutil.rmtree(out / "state", ignore_errors=True)
    for name in ("DONE.json", "metrics.csv", "spectral.csv", "final_weights.safetensors"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    write_atomically(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=1).encode())


class _State:
    """The full (model, optimizer) state of the last finished epoch, with the CSV rows up to it, in one file.

    ``state/state.npz``: ``epoch``, ``metrics`` and ``spectral`` (the CSVs' text) and ``leaf_XXXX`` (the
    leaves of ``nnx.state((model, opt))``), replaced atomically; ``state/epoch.json`` is a note for people,
    written after it.
    """

    def __init__(self, out: Path):
        self.dir = out / "state"
        self.path = self.dir / "state.npz"

    def exists(self) -> bool:
        return self.path.exists()

    def save(self, model, opt, epoch: int, metrics: str, spectral: str, before_rename=lambda: None) -> None:
        leaves = jax.tree.leaves(nnx.state((model, opt)))
        self.dir.mkdir(parents=True, exist_ok=True)
        with replacing(self.path, shared=False) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, epoch=np.int64(epoch), metrics=np.str_(metrics), spectral=np.str_(spectral),
                         **{f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(leaves)})
            before_rename()
        write_atomically(self.dir / "epoch.json", json.dumps({"epoch": epoch}).encode())

    def restore(self, model, opt) -> tuple[int, str, str]:
        """Load the saved state into ``(model, opt)``; returns ``(epoch, metrics_csv, spectral_csv)``."""
        state = nnx.state((model, opt))
        want, treedef = jax.tree.flatten(state)
        try:
            if not zipfile.is_zipfile(self.path):  # np.load would call it pickled data
                raise ValueError("not an .npz archive: torn, truncated or overwritten")
            with np.load(self.path, allow_pickle=False) as z:
                if "epoch" not in z.files and "arr_0" in z.files:
                    epoch, metrics, spectral = self._legacy_history()
                    leaves = [z[f"arr_{i}"] for i in range(len(z.files))]
                else:
                    epoch, metrics, spectral = int(z["epoch"]), str(z["metrics"]), str(z["spectral"])
                    names = sorted(k for k in z.files if k.startswith("leaf_"))
                    leaves = [z[k] for k in names]
        except ResumeError:
            raise
        except Exception as err:  # a torn or foreign file: BadZipFile, EOFError, KeyError, ValueError, OSError...
            raise ResumeError(f"{self.path}: unreadable training state ({type(err).__name__}: {err}); "
                              "delete it to restart this run from epoch 0") from err
        if len(leaves) != len(want) or any(np.shape(a) != np.shape(b) or a.dtype != np.asarray(b).dtype
                                           for a, b in zip(leaves, want, strict=False)):
            raise ResumeError(f"{self.path}: the saved arrays do not fit this model and optimizer "
                              f"({len(leaves)} saved, {len(want)} expected, or shapes/dtypes differ)")
        nnx.update((model, opt), jax.tree.unflatten(treedef, [jnp.asarray(x) for x in leaves]))
        return epoch, metrics, spectral


    def _legacy_history(self) -> tuple[int, str, str]:
        """The epoch and CSV history of a state written before the history moved into ``state.npz``.

        That layout (``arr_i`` leaves, the epoch in ``epoch.json``) saved the state *after* rewriting the
        CSVs, so they hold every epoch up to the saved one, and possibly the next: keep those up to it.
        """
        note = self.dir / "epoch.json"
        try:
            epoch = int(json.loads(note.read_text())["epoch"])
            tables = [pd.read_csv(self.dir.parent / name, **_EXACT_FLOATS) for name in ("metrics.csv", "spectral.csv")]
        except (OSError, ValueError, KeyError) as err:
            raise ResumeError(f"{self.path}: a state of the earlier layout whose history ({note}, metrics.csv, "
                              f"spectral.csv) is unreadable ({type(err).__name__}: {err}); delete the state "
                              "folder to restart this run from epoch 0") from err
        metrics, spectral = (t[t["epoch"] <= epoch].to_csv(index=False) for t in tables)
        if len(pd.read_csv(StringIO(metrics))) != epoch:
            raise ResumeError(f"{self.path}: the earlier layout's metrics.csv lacks epochs up to {epoch}; delete "
                              "the state folder to restart this run from epoch 0")
        return epoch, metrics, spectral


def analyse_weights(model, cfg: TrainConfig, epoch: int) -> pd.DataFrame:
    """The analyzer on the live watched kernels (no files), one row per layer, tagged with the epoch."""
    watched = {k: v for k, v in weight_matrices(model).items() if k in cfg.analysis.layers}
    df = rmtkit.analyze(watched, min_evals=cfg.analysis.min_evals, normalize=cfg.analysis.normalize,
                        progress=False).to_frame()
    df = df.rename(columns={"mp_soft_rank": "mp_softrank"})  # the training files keep their name (running sweeps)
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
    _check_kill_at(cfg.kill_at)
    _check_numbers(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = out / "DONE.json"
    state_store = _State(out)
    resuming = cfg.resume and (done.exists() or state_store.exists())
    if resuming:
        _check_config(out / "config.json", cfg)
        if done.exists():
            log.info("%s already finished: skipping", out)
            result = _read_json(done)
            shutil.rmtree(out / "state", ignore_errors=True)  # left by a kill just after DONE.json
            return result
    else:
        _start_afresh(out, cfg)
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
        metrics = [_parse_csv(metrics_csv)]
        spectral = [_parse_csv(spectral_csv)] if spectral_csv else []
        _write_csvs(out, cfg, start, metrics_csv, spectral_csv)  # they may lag the state by the epoch of the kill
        log.info("resuming %s after epoch %d", out, start)
    graphdef, state = nnx.split((model, opt))
    chunk_fn = make_train_chunk(graphdef, make_loss(cfg.loss, dict(cfg.optimizer.weight_decay)))
    (out / "checkpoints").mkdir(exist_ok=True)
    if start == 0 and cfg.analysis.every:
        spectral.append(analyse_weights(model, cfg, 0))

    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        state, loss, acc = _train_epoch(chunk_fn, state, data, cfg, epoch, steps_per_epoch)
        if not math.isfinite(loss):  # before anything is saved: the last finite epoch stays the resume point
            raise TrainingDiverged(f"{out}: training diverged in epoch {epoch} (mean training loss {loss}); the "
                                   f"state of epoch {epoch - 1} is kept. Lower optimizer.lr or change the run")
        nnx.update((model, opt), state)
        train_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        last = epoch == cfg.epochs
        if (cfg.analysis.every and epoch % cfg.analysis.every == 0) or last:
            spectral.append(analyse_weights(model, cfg, epoch))
            if cfg.analysis.checkpoints:
                with replacing(out / "checkpoints" / f"epoch_{epoch:03d}.safetensors", shared=False) as tmp:
                    write_safetensors(tmp, {k: np.asarray(v) for k, v in weight_matrices(model).items()
                                               if k in cfg.analysis.layers})
        analysis_seconds = time.perf_counter() - t1
        row = {"epoch": epoch, "train_loss": loss, "train_acc_running": acc, "val_acc": evaluate(model, data.val),
               "lr": float(cfg.optimizer.lr * cfg.optimizer.lr_decay ** (epoch - 1)),
               "train_seconds": train_seconds, "analysis_seconds": analysis_seconds}
        metrics.append(pd.DataFrame([row]))
        metrics_csv = pd.concat(metrics, ignore_index=True).to_csv(index=False)
        spectral_csv = pd.concat(spectral, ignore_index=True).to_csv(index=False) if spectral else ""
        # The state (with the history) is the record; the CSVs are rebuilt from it after it is safe.
        state_store.save(model, opt, epoch, metrics_csv, spectral_csv,
                         before_rename=functools.partial(_kill_at, cfg, epoch, "state"))
        _kill_at(cfg, epoch, "saved")
        _write_csvs(out, cfg, epoch, metrics_csv, spectral_csv)
        log.info("epoch %d: loss %.4f, running train acc %.4f, val acc %.4f (%.1f s + %.2f s analysis)", epoch, loss,
                 acc, row["val_acc"], train_seconds, analysis_seconds)
        if cfg.fail_at_epoch and epoch == cfg.fail_at_epoch:
            raise RuntimeError(f"fail_at_epoch={epoch}: simulated crash (testing)")

    # Both paths (uninterrupted, resumed) finish from the saved text, so their DONE.json agree to the bit.
    final = _finish(model, data, cfg, out, _parse_csv(metrics_csv), _parse_csv(spectral_csv))
    write_atomically(done, json.dumps(final, indent=1).encode())
    shutil.rmtree(out / "state", ignore_errors=True)
    return final


def _train_epoch(chunk_fn, state, data: Data, cfg: TrainConfig, epoch: int, steps: int):
    """One epoch of shuffled mini-batches (the last partial batch dropped), in scanned chunks."""
    rng = np.random.default_rng([cfg.seed, epoch])
    order = rng.permutation(len(data.train.x))[: steps * cfg.batch_size].reshape(steps, cfg.batch_size)
    chunk = max(1, min(MAX_CHUNK_STEPS, 8192 // cfg.batch_size))
    losses, accs = [], []
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{cfg.epochs}", unit="step", leave=False, disable=not cfg.progress)
    for i in range(0, steps, chunk):
        idx = order[i:i + chunk]
        state, loss, acc = chunk_fn(state, jnp.asarray(data.train.x[idx]), jnp.asarray(data.train.y[idx]))
        if i == 0:
            _kill_at(cfg, epoch, "train")
        losses.append(np.asarray(loss))
        accs.append(np.asarray(acc))
        bar.update(len(idx))
        bar.set_postfix(loss=f"{float(losses[-1].mean()):.4f}", acc=f"{float(accs[-1].mean()):.3f}")
    bar.close()
    return state, float(np.concatenate(losses).mean()), float(np.concatenate(accs).mean())


#: pandas parses floats to the bit by default since 3.0; before, only when asked (deprecated since).
_EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def _parse_csv(text: str) -> pd.DataFrame:
    """A CSV's text back to the frame it was written from, floats to the bit."""
    return pd.read_csv(StringIO(text), **_EXACT_FLOATS) if text else pd.DataFrame()


def _write_csvs(out: Path, cfg: TrainConfig, epoch: int, metrics: str, spectral: str) -> None:
    write_atomically(out / "metrics.csv", metrics.encode())
    _kill_at(cfg, epoch, "csv")
    if spectral:
        write_atomically(out / "spectral.csv", spectral.encode())


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
        for col in ("alpha", "num_spikes", "mp_softrank", "stable_rank", "hard_rank", "rank_loss", "phase",
                    "alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm", "mp_sigma", "lambda_max"):
            value = getattr(row, col)
            final[f"{row.name}_{col}"] = value.item() if hasattr(value, "item") else value
    write_figures(spectral, out, normalize=cfg.analysis.normalize)
    return final
