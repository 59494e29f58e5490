"""What a killed run needs to continue: the saved state and history, the config check, the kill hooks.

``state/state.npz`` holds the model and optimizer state of the last finished epoch and the rows of
both CSVs up to it (:class:`TrainingState`); it is replaced atomically after each epoch and the
CSVs are rebuilt from it (:func:`write_csvs`). A resume refuses a config that differs from the
saved ``config.json`` (:func:`check_config`, :data:`RESUME_MAY_DIFFER`). ``kill_at`` (testing) kills
the process at the named points of an epoch (:data:`KILL_POINTS`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import signal
import zipfile
from io import StringIO
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import nnx

from rmtkit.atomic import replacing, write_atomically
from simulations.train.config import TrainConfig
from simulations.train.records import current_header


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


def kill_at(cfg: TrainConfig, epoch: int, point: str) -> None:
    """The testing hook ``kill_at``: die here as the OOM killer kills, with no chance to clean up."""
    if cfg.kill_at == f"{epoch}:{point}":
        os.kill(os.getpid(), signal.SIGKILL)


def check_kill_at(kill_at: str) -> None:
    if not kill_at:
        return
    epoch, _, point = kill_at.partition(":")
    if not epoch.isdigit() or point not in KILL_POINTS:
        raise ValueError(f"kill_at={kill_at!r}: expected EPOCH:POINT with POINT one of {', '.join(KILL_POINTS)}")


def read_json(path: Path) -> dict:
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


def check_config(path: Path, cfg: TrainConfig) -> None:
    """Refuse to continue (or to skip as finished) a run folder whose saved config is not this run's."""
    if not path.exists():
        raise ResumeError(f"{path} is missing, so the saved run cannot be checked against this one; "
                          "use resume=false to start this folder afresh")
    diff = config_differences(read_json(path), json.loads(json.dumps(dataclasses.asdict(cfg))))
    if diff:
        raise ResumeError(f"{path.parent}: refusing to resume: this run's config differs from the saved one in "
                          f"{'; '.join(diff)}. Use another output folder, or resume=false to start this one afresh")


def start_afresh(out: Path, cfg: TrainConfig) -> None:
    """Clear what an earlier run left in ``out`` and record ``cfg``. The state goes first: a kill part-way
    never leaves a state beside a config it does not belong to."""
    shutil.rmtree(out / "state", ignore_errors=True)
    for name in ("DONE.json", "metrics.csv", "spectral.csv", "final_weights.safetensors"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    write_atomically(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=1).encode())


class TrainingState:
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
        return epoch, metrics, current_header(spectral)  # a history saved before the rename: mp_soft_rank


    def _legacy_history(self) -> tuple[int, str, str]:
        """The epoch and CSV history of a state written before the history moved into ``state.npz``.

        That layout (``arr_i`` leaves, the epoch in ``epoch.json``) saved the state *after* rewriting the
        CSVs, so they hold every epoch up to the saved one, and possibly the next: keep those up to it.
        """
        note = self.dir / "epoch.json"
        try:
            epoch = int(json.loads(note.read_text())["epoch"])
            tables = [pd.read_csv(self.dir.parent / name, **EXACT_FLOATS) for name in ("metrics.csv", "spectral.csv")]
        except (OSError, ValueError, KeyError) as err:
            raise ResumeError(f"{self.path}: a state of the earlier layout whose history ({note}, metrics.csv, "
                              f"spectral.csv) is unreadable ({type(err).__name__}: {err}); delete the state "
                              "folder to restart this run from epoch 0") from err
        metrics, spectral = (t[t["epoch"] <= epoch].to_csv(index=False) for t in tables)
        if len(pd.read_csv(StringIO(metrics))) != epoch:
            raise ResumeError(f"{self.path}: the earlier layout's metrics.csv lacks epochs up to {epoch}; delete "
                              "the state folder to restart this run from epoch 0")
        return epoch, metrics, spectral


#: pandas parses floats to the bit by default since 3.0; before, only when asked (deprecated since).
EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def parse_csv(text: str) -> pd.DataFrame:
    """A CSV's text back to the frame it was written from, floats to the bit."""
    return pd.read_csv(StringIO(text), **EXACT_FLOATS) if text else pd.DataFrame()


def write_csvs(out: Path, cfg: TrainConfig, epoch: int, metrics: str, spectral: str) -> None:
    """``metrics.csv`` and ``spectral.csv`` rebuilt from the saved history (the ``csv`` kill point between them)."""
    write_atomically(out / "metrics.csv", metrics.encode())
    kill_at(cfg, epoch, "csv")
    if spectral:
        write_atomically(out / "spectral.csv", spectral.encode())
