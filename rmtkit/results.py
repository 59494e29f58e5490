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
from rmtkit.status import PairStatus, RowStatus
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
    empty ``attrs``, when it is an rmtkit table (``name`` and ``status`` columns, rmtkit's status
    words).

    Raises:
        ValueError: naming the file: ``path`` is neither ``.csv`` nor ``.json``; it is not an rmtkit
            results file (another tool's CSV, a JSON whose ``layers`` is not a list of records);
            a CSV and its sidecar do not match (another write's sidecar, a column in one and not the
            other); the file is torn or malformed.
        OSError: the file cannot be read.
    """
    path = Path(path)
    try:
        return _read_results(path)
    except OSError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as err:  # malformed: say which file
        if str(path) in str(err) or path.name in str(err):
            raise ValueError(str(err)) from None
        raise ValueError(f"{path}: not a readable rmtkit results file ({type(err).__name__}: {err})") from None


#: The status words of rmtkit's tables (analysis rows, comparisons) that a CSV without a sidecar may hold.
_STATUS_WORDS = frozenset([*(s.value for s in RowStatus), *(s.value for s in PairStatus)])


def _read_results(path: Path) -> pd.DataFrame:
    if path.suffix == ".json":
        payload = _load_json(path)
        if not isinstance(payload, dict) or "layers" not in payload:
            raise ValueError(f"{path}: not an rmtkit results file (no 'layers')")
        layers = payload["layers"]
        if not isinstance(layers, list) or not all(isinstance(r, dict) for r in layers):
            raise ValueError(f"{path}: not an rmtkit results file ('layers' must be a list of records, one per row)")
        dtypes = _dtypes(path, payload.get("dtypes", {}))
        unknown = sorted({k for r in layers for k in r} - set(dtypes)) if dtypes else []
        if unknown:
            raise ValueError(f"{path}: column {unknown[0]!r} is not in its 'dtypes'")
        df = pd.DataFrame.from_records(layers, columns=list(dtypes) or None)
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
        dtypes = _dtypes(side_path, side.get("dtypes", {}))
        text_cols = {c: object for c, t in dtypes.items() if t == "object"}
        df = pd.read_csv(path, dtype=text_cols or None, keep_default_na=False, na_values=[""])
        extra, missing = [c for c in df.columns if c not in dtypes], [c for c in dtypes if c not in df.columns]
        if dtypes and extra:
            raise ValueError(f"{path}: column {extra[0]!r} is not in its sidecar {side_path.name} (they do not match)")
        if dtypes and missing:
            raise ValueError(f"{path}: column {missing[0]!r} of its sidecar is not in the CSV (they do not match)")
        if not dtypes:
            _check_rmtkit_table(path, df)
        meta, summary = side.get("rmtkit", {}), side.get("summary")
    else:
        raise ValueError(f"{path}: results are read from .csv or .json, got {path.suffix!r}")
    if not isinstance(meta, dict) or not (summary is None or isinstance(summary, dict)):
        raise ValueError(f"{path}: not an rmtkit results file (its provenance and summary must be objects)")
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


def _dtypes(path: Path, dtypes: Any) -> dict[str, str]:
    """The ``dtypes`` object of a results file or sidecar: column name -> dtype name, else a ValueError naming ``path``."""
    if not isinstance(dtypes, dict) or not all(isinstance(t, str) for t in dtypes.values()):
        raise ValueError(f"{path}: 'dtypes' must be an object mapping column names to dtype names")
    return dtypes


def _check_rmtkit_table(path: Path, df: pd.DataFrame) -> None:
    """A CSV without a sidecar: refused unless it has rmtkit's ``name`` and ``status`` columns and status words."""
    if not {"name", "status"} <= set(df.columns):
        raise ValueError(f"{path}: not an rmtkit results table (no 'name' and 'status' columns, and no sidecar "
                         f"{results_sidecar(path).name})")
    words = set(df["status"].dropna().astype(str)) - _STATUS_WORDS
    if words:
        raise ValueError(f"{path}: not an rmtkit results table (status {sorted(words)[0]!r} is none of rmtkit's)")


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
