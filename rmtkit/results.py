"""Results out and back in: the analysis table as CSV (with a sidecar), JSON or text, and read back with its dtypes.

:func:`write_results` and :func:`read_results` are inverse for ``csv`` and ``json``: column order,
dtypes, missing values and the provenance survive the round trip (docs/columns.md#files). Files
written before a column was renamed (:data:`rmtkit.columns.RENAMED_COLUMNS`) read with the
current names.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rmtkit.analysis import Analysis
from rmtkit.atomic import write_together
from rmtkit.columns import INTEGER_COLUMNS, current_name
from rmtkit.table import format_table

FORMATS = ("table", "csv", "json")


def results_metadata(df: Any) -> dict[str, Any]:
    """The provenance :func:`rmtkit.analyze` stores in ``df.attrs["rmtkit"]`` (version, options, convention)."""
    return dict(df.attrs.get("rmtkit", {}))


def write_results(df: Any, path: str | os.PathLike | None, fmt: str, summary: Any = None, **table_options: Any) -> str:
    """Serialise an analysis table as ``csv``, ``json`` or a text ``table``; :func:`read_results` reads csv/json back.

    - ``csv``: a plain CSV (``pandas.read_csv(path)`` reads it); when written to ``path``, the
      provenance (``df.attrs["rmtkit"]``), the column dtypes and the summary go to the sidecar
      ``<path>.meta.json`` (:func:`results_sidecar`).
    - ``json``: one object: the provenance keys (``version``, ``options``, ``convention``,
      ``precision``), ``dtypes``, ``layers`` (one record per row; counts as integers, NaN as null)
      and ``summary``.
    - ``table``: text for a terminal (:func:`rmtkit.table.format_table`, given ``table_options``).

    Returns the text; writes it to ``path`` unless ``path`` is None, atomically (a temporary file in
    the same folder, flushed to disk, then renamed over ``path``): a reader sees the old file or the
    new one, never half of one; a CSV and its sidecar are written together (both to temporary files,
    then renamed), and the sidecar holds the CSV's SHA-256 so that a reader refuses a pair from two
    different writes. Names that are not valid UTF-8 (lone surrogates from a checkpoint's
    JSON) are written backslash-escaped. ``df`` is a table: an :class:`rmtkit.Analysis` is written
    as its ``to_frame()``; a comparison or a checkpoint series as it is.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be 'table', 'csv' or 'json', got {fmt!r}")
    df = df.to_frame() if isinstance(df, Analysis) else df
    meta = results_metadata(df)
    dtypes = {str(c): str(t) for c, t in df.dtypes.items()}
    df = df.map(_escape)
    if fmt == "json":
        payload = {**meta, "dtypes": dtypes, "layers": json.loads(_with_integers(df).to_json(orient="records"))}
        if summary is not None:
            payload["summary"] = json.loads(summary.to_json())
        text = json.dumps(payload, indent=1)
    elif fmt == "csv":
        text = _with_integers(df).to_csv(index=False)
    else:
        text = format_table(df, summary, **table_options)
    if path is not None:
        data = text.encode("utf-8")
        if fmt == "csv":  # the CSV and its sidecar are replaced together, or neither is
            side = {"rmtkit": meta, "dtypes": dtypes, "csv_sha256": hashlib.sha256(data).hexdigest()}
            if summary is not None:
                side["summary"] = json.loads(summary.to_json())
            write_together({path: data, results_sidecar(path): json.dumps(side, indent=1).encode("utf-8")})
        else:
            write_together({path: data})
    return text


def results_sidecar(path: str | os.PathLike) -> Path:
    """Where :func:`write_results` puts a CSV's provenance, dtypes and summary: ``<path>.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def _with_integers(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its count columns (:data:`rmtkit.columns.INTEGER_COLUMNS`) as nullable integers, when they hold only integers."""
    df = df.copy()
    for col in INTEGER_COLUMNS:
        if col in df.columns and df[col].dtype.kind in "fiu":
            values = df[col].to_numpy(dtype=float, na_value=np.nan)
            finite = values[np.isfinite(values)]
            if np.isnan(values).sum() + finite.size == values.size and np.all(finite == np.round(finite)):
                df[col] = pd.array([None if np.isnan(v) else int(v) for v in values], dtype="Int64")
    return df


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_results` (``.csv`` with its sidecar, or ``.json``).

    Restores the column order and dtypes, missing values (None in text columns, NaN in numbers)
    and the provenance in ``df.attrs["rmtkit"]``; the summary, when one was written, is in
    ``df.attrs["rmtkit_summary"]``. A CSV without its sidecar reads with pandas' own dtypes and
    empty ``attrs``.

    Raises:
        ValueError: ``path`` is neither ``.csv`` nor ``.json``, or the JSON is not a results file.
    """
    path = Path(path)
    if path.suffix == ".json":
        payload = _load_json(path)
        if not isinstance(payload, dict) or "layers" not in payload:
            raise ValueError(f"{path}: not an rmtkit results file (no 'layers')")
        dtypes = payload.get("dtypes", {})
        df = pd.DataFrame.from_records(payload["layers"], columns=list(dtypes) or None)
        meta = {k: v for k, v in payload.items() if k not in ("layers", "dtypes", "summary")}
        summary = payload.get("summary")
    elif path.suffix == ".csv":
        side_path = results_sidecar(path)
        side = _load_json(side_path) if side_path.exists() else {}
        if not isinstance(side, dict):
            raise ValueError(f"{side_path}: not an rmtkit sidecar (a JSON object is expected)")
        if "csv_sha256" in side and side["csv_sha256"] != _sha256(path):
            raise ValueError(f"{path} and {side_path.name} do not belong together (the CSV is not the one the "
                             "sidecar was written with: a write was interrupted between them, or one was replaced)")
        dtypes = side.get("dtypes", {})
        text_cols = {c: object for c, t in dtypes.items() if t == "object"}
        df = pd.read_csv(path, dtype=text_cols or None, keep_default_na=False, na_values=[""])
        meta, summary = side.get("rmtkit", {}), side.get("summary")
    else:
        raise ValueError(f"{path}: results are read from .csv or .json, got {path.suffix!r}")
    for col, dtype in dtypes.items():
        if col not in df.columns:
            df[col] = None
        if dtype == "object":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        else:
            df[col] = df[col].astype(dtype)
    if dtypes:
        df = df[list(dtypes)]
    df = df.rename(columns=current_name)  # a file written before a column got its current name
    if summary is not None:
        summary = {f"mean_{current_name(k[5:])}" if k.startswith("mean_") else k: v for k, v in summary.items()}
    if meta:
        df.attrs["rmtkit"] = meta
    if summary is not None:
        df.attrs["rmtkit_summary"] = summary
    return df


def _load_json(path: Path) -> Any:
    """The JSON in ``path``; a torn or corrupt file is a ValueError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: corrupt, not valid JSON ({err})") from None


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _escape(value: Any) -> Any:
    """A string with lone surrogates (not encodable as UTF-8) backslash-escaped; anything else unchanged."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value
