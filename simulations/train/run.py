"""Train one model with optax, watch its spectra every epoch, checkpoint, and resume after a kill.

Per run (``out_dir``): ``config.json``, ``metrics.csv`` (per epoch: losses, accuracies, learning
rate, seconds spent training and analysing), ``spectral.csv`` (per epoch and watched layer: the
analyzer's row), ``checkpoints/epoch_XXX.safetensors`` (watched weights), ``final_weights.safetensors``,
figures (``esd_<layer>.png`` over epochs, ``phases.png``) and ``DONE.json`` with the final figures.
``state/`` holds the full training state of the last finished epoch, so a killed run continues.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from flax import nnx
from tqdm.auto import tqdm

import rmtkit
from rmtkit import io
from simulations.train.config import TrainConfig, shrink
from simulations.train.data import Data, load_data
from simulations.train.models import build_model, weight_matrices

log = logging.getLogger(__name__)

#: Steps fused into one jitted ``lax.scan`` call: small batches are dispatch-bound otherwise.
MAX_CHUNK_STEPS = 256


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The learning rate falls by ``lr_decay`` after every epoch (a staircase, as Keras' per-epoch scheduler).

    ``sgd`` is Keras' momentum SGD, ``v <- momentum * v - lr_t * g; w <- w + v``: the velocity keeps the
    learning rate each gradient was taken with (``optax.sgd`` instead rescales the whole trace by the
    current rate; the two differ only after a decay). ``adam`` is ``optax.adam`` on the same schedule.
    """
    o = cfg.optimizer
    schedule = optax.exponential_decay(o.lr, transition_steps=steps_per_epoch, decay_rate=o.lr_decay, staircase=True)
    if o.name == "sgd":
        return optax.chain(optax.scale_by_learning_rate(schedule), optax.trace(decay=o.momentum))
    if o.name == "adam":
        return optax.adam(schedule)
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


class _State:
    """Save / restore the full (model, optimizer) state of the last finished epoch."""

    def __init__(self, out: Path):
        self.dir = out / "state"

    def save(self, model, opt, epoch: int) -> None:
        leaves = jax.tree.leaves(nnx.state((model, opt)))
        tmp = self.dir.with_suffix(".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        np.savez(tmp / "state.npz", *[np.asarray(x) for x in leaves])
        (tmp / "epoch.json").write_text(json.dumps({"epoch": epoch}))
        shutil.rmtree(self.dir, ignore_errors=True)
        tmp.rename(self.dir)  # atomic: a kill leaves the previous epoch's state intact

    def restore(self, model, opt) -> int:
        if not (self.dir / "epoch.json").exists():
            return 0
        state = nnx.state((model, opt))
        treedef = jax.tree.structure(state)
        with np.load(self.dir / "state.npz") as z:
            leaves = [jnp.asarray(z[f"arr_{i}"]) for i in range(len(z.files))]
        nnx.update((model, opt), jax.tree.unflatten(treedef, leaves))
        return int(json.loads((self.dir / "epoch.json").read_text())["epoch"])


def analyse_weights(model, cfg: TrainConfig, epoch: int) -> pd.DataFrame:
    """The analyzer on the live watched kernels (no files), one row per layer, tagged with the epoch."""
    watched = {k: v for k, v in weight_matrices(model).items() if k in cfg.analysis.layers}
    df = rmtkit.analyze(watched, min_evals=cfg.analysis.min_evals, normalize=cfg.analysis.normalize, progress=False)
    df.insert(0, "epoch", epoch)
    return df


def run(cfg: TrainConfig, out_dir: str | Path) -> dict:
    """Train ``cfg`` into ``out_dir`` and return the final figures (also in ``DONE.json``)."""
    if cfg.smoke:
        cfg = shrink(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = out / "DONE.json"
    if cfg.resume and done.exists():
        log.info("%s already finished: skipping", out)
        return json.loads(done.read_text())
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
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

    state_store = _State(out)
    start = state_store.restore(model, opt) if cfg.resume else 0
    metrics = _read_csv(out / "metrics.csv", start)
    spectral = _read_csv(out / "spectral.csv", start)
    if start:
        log.info("resuming %s after epoch %d", out, start)
    graphdef, state = nnx.split((model, opt))
    chunk_fn = make_train_chunk(graphdef, make_loss(cfg.loss, dict(cfg.optimizer.weight_decay)))
    (out / "checkpoints").mkdir(exist_ok=True)
    if start == 0 and cfg.analysis.every:
        spectral.append(analyse_weights(model, cfg, 0))

    for epoch in range(start + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        state, loss, acc = _train_epoch(chunk_fn, state, data, cfg, epoch, steps_per_epoch)
        nnx.update((model, opt), state)
        train_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        last = epoch == cfg.epochs
        if (cfg.analysis.every and epoch % cfg.analysis.every == 0) or last:
            spectral.append(analyse_weights(model, cfg, epoch))
            if cfg.analysis.checkpoints:
                io.write_safetensors(out / "checkpoints" / f"epoch_{epoch:03d}.safetensors",
                                     {k: np.asarray(v) for k, v in weight_matrices(model).items()
                                      if k in cfg.analysis.layers})
        analysis_seconds = time.perf_counter() - t1
        row = {"epoch": epoch, "train_loss": loss, "train_acc_running": acc, "val_acc": evaluate(model, data.val),
               "lr": float(cfg.optimizer.lr * cfg.optimizer.lr_decay ** (epoch - 1)),
               "train_seconds": train_seconds, "analysis_seconds": analysis_seconds}
        metrics.append(pd.DataFrame([row]))
        _write(out, metrics, spectral)
        state_store.save(model, opt, epoch)
        log.info("epoch %d: loss %.4f, running train acc %.4f, val acc %.4f (%.1f s + %.2f s analysis)", epoch, loss,
                 acc, row["val_acc"], train_seconds, analysis_seconds)
        if cfg.fail_at_epoch and epoch == cfg.fail_at_epoch:
            raise RuntimeError(f"fail_at_epoch={epoch}: simulated crash (testing)")

    final = _finish(model, data, cfg, out, pd.concat(metrics, ignore_index=True), pd.concat(spectral, ignore_index=True))
    done.write_text(json.dumps(final, indent=1))
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
        losses.append(np.asarray(loss))
        accs.append(np.asarray(acc))
        bar.update(len(idx))
        bar.set_postfix(loss=f"{float(losses[-1].mean()):.4f}", acc=f"{float(accs[-1].mean()):.3f}")
    bar.close()
    return state, float(np.concatenate(losses).mean()), float(np.concatenate(accs).mean())


def _read_csv(path: Path, upto: int) -> list[pd.DataFrame]:
    if upto and path.exists():
        df = pd.read_csv(path)
        return [df[df["epoch"] <= upto]]
    return []


def _write(out: Path, metrics: list[pd.DataFrame], spectral: list[pd.DataFrame]) -> None:
    pd.concat(metrics, ignore_index=True).to_csv(out / "metrics.csv", index=False)
    if spectral:
        pd.concat(spectral, ignore_index=True).to_csv(out / "spectral.csv", index=False)


def _finish(model, data: Data, cfg: TrainConfig, out: Path, metrics: pd.DataFrame, spectral: pd.DataFrame) -> dict:
    io.write_safetensors(out / "final_weights.safetensors", {k: np.asarray(v) for k, v in weight_matrices(model).items()})
    final = {"train_acc": evaluate(model, data.train), "val_acc": evaluate(model, data.val),
             "test_acc": evaluate(model, data.test), "epochs": cfg.epochs,
             "train_seconds": float(metrics["train_seconds"].sum()),
             "analysis_seconds": float(metrics["analysis_seconds"].sum())}
    final["gap"] = final["train_acc"] - final["test_acc"]
    final.update({f"{k}_dead_units": v for k, v in dead_units(model, data.train.x).items()})
    last = spectral[(spectral["epoch"] == spectral["epoch"].max()) & (spectral["status"] == "ok")]
    for row in last.itertuples():
        for col in ("alpha", "num_spikes", "mp_softrank", "stable_rank", "hard_rank", "rank_loss", "phase",
                    "alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm", "mp_sigma", "lambda_max"):
            value = getattr(row, col)
            final[f"{row.name}_{col}"] = value.item() if hasattr(value, "item") else value
    _figures(spectral, cfg, out)
    return final


def _figures(spectral: pd.DataFrame, cfg: TrainConfig, out: Path) -> None:
    import matplotlib.pyplot as plt

    from rmtkit.plot import PHASE_COLORS

    ok = spectral[spectral["status"] == "ok"]
    layers = list(dict.fromkeys(ok["name"]))
    fig, axes = plt.subplots(len(layers), 2, figsize=(10, 3 * len(layers)), squeeze=False)
    for (a1, a2), layer in zip(axes, layers, strict=True):
        rows = ok[ok["name"] == layer]
        for phase, color in PHASE_COLORS.items():
            sel = rows["phase"] == phase
            if sel.any():
                a1.scatter(rows.loc[sel, "epoch"], rows.loc[sel, "alpha"], color=color, label=phase, s=18)
        a1.set_title(f"{layer}: power-law alpha and phase", fontsize=9)
        a1.set_xlabel("epoch")
        a1.legend(fontsize=7)
        for col in ("mp_softrank", "stable_rank"):
            values = rows[col] / rows[col].iloc[0] if col == "stable_rank" else rows[col]
            a2.plot(rows["epoch"], values, "o-", ms=3, label=col + (" / initial" if col == "stable_rank" else ""))
        a2.set_xlabel("epoch")
        a2.set_title(f"{layer}: MP soft rank, stable rank", fontsize=9)
        a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "phases.png", dpi=100)
    plt.close(fig)
    ckpts = sorted((out / "checkpoints").glob("epoch_*.safetensors"))
    if not ckpts:
        return
    chosen = ckpts[:: max(1, len(ckpts) // 4)] + ([ckpts[-1]] if len(ckpts) % 4 else [])
    for layer in layers:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for path in dict.fromkeys(chosen):
            w = io.read_safetensors(path).get(layer)
            if w is None:
                continue
            ev = np.asarray(rmtkit.eigenvalues(np.asarray(w, np.float64), normalize=cfg.analysis.normalize))
            ev = ev[ev > 0]
            ax.hist(ev, bins=np.geomspace(ev.min(), ev.max(), 60), histtype="step", density=True, label=path.stem)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\lambda$")
        ax.set_title(f"ESD of {layer} over training", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / f"esd_{layer}.png", dpi=100)
        plt.close(fig)
