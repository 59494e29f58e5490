"""Merge a zoo's per-model tables: ``python -m simulations.zoo.collect MULTIRUN_DIR [--out DIR]``.

Runs by itself at the end of every zoo multirun (:class:`CollectZoo`, a Hydra callback in
``conf/zoo.yaml``) and by hand on a multirun folder, e.g. after a SLURM job was killed. Writes

- ``layers.csv``: every finished model's table, one row per tensor, with ``model`` and ``checkpoint``
  columns first (its provenance in ``layers.csv.meta.json`` when every model shares it);
- ``models.csv``: one row per model: ``model``, ``checkpoint``, ``status`` (``done``, ``failed``,
  ``unfinished``: started, never recorded, e.g. a SLURM task killed at its time limit; a model whose
  ``DONE.json``, ``layers.csv`` or sidecar is torn is ``failed`` with the file named), ``error``,
  ``seconds`` and :func:`rmtkit.summarize`'s figures;
- ``failed.json``: the failed models, each with its checkpoint and error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback

from rmtkit.status import RunStatus
from simulations.train.collect import run_folders
from simulations.zoo.run import RESULT

#: Columns of the printed overview, when present.
OVERVIEW = ["model", "status", "layers_analysed", "layers_failed", "alpha_hat", "mean_alpha", "seconds", "error"]


def collect(sweep: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(layers, models)``: the finished models' tables stacked, and one row per model folder under ``sweep``.

    Raises:
        FileNotFoundError: ``sweep`` holds no model folder (``config.json``).
    """
    from rmtkit.results import read_results

    tables, rows = [], []
    for folder, cfg in run_folders(sweep):
        row: dict[str, Any] = {"model": folder.name, "checkpoint": cfg.get("checkpoint")}
        if (folder / "DONE.json").exists() and (folder / RESULT).exists():
            try:
                done, table = _finished(folder, read_results)
            except (OSError, ValueError, KeyError, TypeError) as err:  # a torn file: this model's failure, not all
                row.update(status=RunStatus.FAILED.value, error=f"unreadable result ({type(err).__name__}: {err})")
                rows.append(row)
                continue
            row.update(model=done["model"], status=RunStatus.DONE.value, error=None, seconds=done["seconds"], **done["summary"])
            tables.append(table)
        elif (folder / "FAILED.json").exists():
            try:
                failed = json.loads((folder / "FAILED.json").read_text())
                error = str(failed["error"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                failed, error = {}, f"{folder / 'FAILED.json'}: unreadable ({type(err).__name__}: {err})"
            row.update(model=failed.get("model", folder.name), status=RunStatus.FAILED.value, error=error)
        else:
            row.update(status=RunStatus.UNFINISHED.value, error=None)
        rows.append(row)
    if not rows:
        raise FileNotFoundError(f"{sweep}: no model folders (config.json) found")
    layers = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["model", "checkpoint"])
    provenance = [t.attrs.get("rmtkit") for t in tables]
    if provenance and all(p == provenance[0] for p in provenance):
        layers.attrs["rmtkit"] = provenance[0]
    return layers, pd.DataFrame(rows)


def _finished(folder: Path, read_results: Any) -> tuple[dict, pd.DataFrame]:
    """A finished model's ``DONE.json`` and table (``model`` and ``checkpoint`` columns first); raises if either is torn."""
    done_path = folder / "DONE.json"
    try:
        done = json.loads(done_path.read_text())
    except ValueError as err:
        raise ValueError(f"{done_path}: corrupt, not valid JSON ({err})") from None
    if not isinstance(done, dict) or not isinstance(done.get("summary"), dict) or "model" not in done:
        raise ValueError(f"{done_path}: not a finished model's record (model, summary)")
    done.setdefault("seconds", None)
    table = read_results(folder / RESULT)
    table.insert(0, "checkpoint", done.get("checkpoint"))
    table.insert(0, "model", done["model"])
    return done, table


def write(layers: pd.DataFrame, models: pd.DataFrame, out: str | Path) -> Path:
    """``layers.csv`` (with its sidecar), ``models.csv`` and ``failed.json`` into ``out``; prints an overview."""
    from rmtkit.atomic import write_atomically
    from rmtkit.results import write_results

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_results(layers, out / "layers.csv", "csv")
    write_atomically(out / "models.csv", models.to_csv(index=False).encode())
    failed = models[models["status"] == RunStatus.FAILED][["model", "checkpoint", "error"]]
    write_atomically(out / "failed.json", json.dumps(failed.to_dict(orient="records"), indent=1).encode())
    cols = [c for c in OVERVIEW if c in models]
    print(models[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    counts = models["status"].value_counts().to_dict()
    print(f"\n{counts.get('done', 0)} done, {counts.get('failed', 0)} failed, {counts.get('unfinished', 0)} unfinished; "
          f"written to {out.resolve()}", flush=True)
    return out


class CollectZoo(Callback):
    """Hydra callback: after a zoo multirun, :func:`collect` its folder into itself."""

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        sweep = config.hydra.sweep.dir
        write(*collect(sweep), sweep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", help="a zoo multirun folder, e.g. multirun/zoo")
    parser.add_argument("--out", help="where to write layers.csv, models.csv and failed.json (default: the sweep folder)")
    args = parser.parse_args(argv)
    try:
        layers, models = collect(args.sweep)
    except FileNotFoundError as err:
        print(f"collect: error: {err}", file=sys.stderr)
        return 2
    write(layers, models, args.out or args.sweep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
