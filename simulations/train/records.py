"""The training suite's records read with the current column names (``mp_soft_rank``), whenever they were written.

Files written before the column was renamed hold ``mp_softrank``: a column of ``spectral.csv``
(and of the history inside ``state/state.npz``), of the headline report's CSVs committed under
docs/results/, and the key ``<layer>_mp_softrank`` of ``DONE.json`` and of the runs tables. The
readers here give every such name its current form (:data:`rmtkit.columns.RENAMED_COLUMNS`), so that
committed results, finished runs and the runs of a sweep started before the rename read like new ones.
:func:`run_knobs` reads the identifying columns of a run (batch size, seed, training-set size, L2) from its config.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rmtkit.columns import RENAMED_COLUMNS

__all__ = ["current_columns", "current_header", "current_key", "read_csv", "read_record", "run_knobs"]


def current_key(key: str) -> str:
    """A column or a record's key with its current name: ``mp_softrank`` and ``fc1_mp_softrank`` -> ``..._mp_soft_rank``.

    >>> current_key("fc1_mp_softrank"), current_key("mp_softrank"), current_key("fc1_alpha")
    ('fc1_mp_soft_rank', 'mp_soft_rank', 'fc1_alpha')
    """
    for old, new in RENAMED_COLUMNS.items():
        if key == old or key.endswith("_" + old):
            return key[: len(key) - len(old)] + new
    return key


def current_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every column under its current name."""
    return df.rename(columns=current_key)


def read_csv(path: str | Path, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` with the current column names."""
    return current_columns(pd.read_csv(path, **kwargs))


def read_record(path: str | Path) -> dict:
    """A JSON record (``DONE.json``) with its keys under their current names."""
    return {current_key(k): v for k, v in json.loads(Path(path).read_text()).items()}


def current_header(csv_text: str) -> str:
    """A CSV's text with the names of its header line current, the rows untouched to the byte (names hold no comma)."""
    header, sep, rows = csv_text.partition("\n")
    return ",".join(current_key(name) for name in header.split(",")) + sep + rows


def run_knobs(run: str | Path) -> dict:
    """The knobs of a finished or running training run, from its ``config.json``: one row's identifying columns.

    ``train_size`` is the subset's size, or the 60,000 training images less the validation split; ``weight_decay``
    is the per-layer mapping as sorted JSON, or ``"none"``.
    """
    run = Path(run)
    cfg = json.loads((run / "config.json").read_text())
    wd = cfg["optimizer"]["weight_decay"]
    return {"run": run.name, "model": cfg["model"]["name"], "batch_size": cfg["batch_size"], "seed": cfg["seed"],
            "epochs": cfg["epochs"],
            "train_size": cfg["data"]["subset"] or 60000 - cfg["data"]["val_size"],
            "label_noise": cfg["data"].get("label_noise", 0.0),
            "weight_decay": json.dumps(wd, sort_keys=True) if wd else "none"}
