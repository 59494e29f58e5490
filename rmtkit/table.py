"""The analysis table as text for a terminal: chosen columns, counts as integers, a width limit.

What the CLI prints (``rmtkit analyze PATH``); the CSV and JSON keep every column and row.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from rmtkit.analysis import as_frame
from rmtkit.columns import INTEGER_COLUMNS
from rmtkit.status import PairStatus, RowStatus

#: Columns printed by default: they fit 120 terminal columns on transformer checkpoints.
DEFAULT_COLUMNS = ("name", "shape", "alpha", "D", "phase", "phase_rule", "warning")
#: Extra default columns when the table has the ``randomize=True`` baseline.
RANDOMIZE_DEFAULT_COLUMNS = ("correlation_traps", "rand_distance")
#: Columns of a comparison (:func:`rmtkit.compare.compare`, ``rmtkit compare A B``) printed by default;
#: ``show_all`` adds ``reason`` (why a row is not compared).
COMPARE_COLUMNS = ("name", "alpha_a", "alpha_b", "phase_a", "phase_b", "esd_ks", "rel_frobenius")
#: Most reasons the one line about hidden comparison rows names (the most frequent first).
_HIDDEN_REASONS = 3
#: Columns that may be shortened (with "...") to fit the width, in the order they are shortened
#: (``.weight`` is first dropped from the names: ``name.weight`` shown as ``name``).
_SHRINKABLE = ("reason", "phase_reason", ".weight", "name", "warning")
_MIN_SHRUNK = 24


def format_table(df, summary: pd.Series | None = None, *, columns: list[str] | None = None,
                 wide: bool = False, show_all: bool = False, width: int | None = 120) -> str:
    """Render ``df`` (rows of :func:`rmtkit.analyze`) for a terminal.

    Args:
        df: the analysis table, in model order (or the :class:`rmtkit.analysis.Analysis` it comes from),
            or a comparison (:func:`rmtkit.compare.compare`: its ``compared`` rows by default, the
            models' labels above the header).
        summary: :func:`rmtkit.summarize`'s series, printed below the table.
        columns: the columns to print (default :data:`DEFAULT_COLUMNS`, plus the randomization
            columns when present); unknown names raise.
        wide: every column (``columns`` then ignored), no width limit.
        show_all: also the ``skipped`` rows (bias/norm tensors, filtered, too small); otherwise one
            line says how many were hidden. When a shown row is ``failed`` or ``partial``, the default
            columns end with its ``reason``.
        width: shorten text columns so lines fit: first ``reason``/``phase_reason``, then names lose
            their ``.weight`` suffix and are abbreviated part by part (:func:`short_names`: numbers
            kept, no two alike), then ``warning`` (its categories come first) is cut with "...",
            never below 24 characters.

    Raises:
        ValueError: a name in ``columns`` is not a column of ``df``.
    """
    df = as_frame(df)
    pair = "compare" in df.attrs.get("rmtkit", {})
    if wide:
        shown, width = list(df.columns), None
    elif columns:
        unknown = [c for c in columns if c not in df.columns]
        if unknown:
            raise ValueError(f"unknown column(s) {', '.join(unknown)}; choose from {', '.join(map(str, df.columns))}")
        shown = list(columns)
    elif pair:
        shown = [c for c in (*COMPARE_COLUMNS, *(("reason",) if show_all else ())) if c in df.columns]
    else:
        shown = [c for c in DEFAULT_COLUMNS if c in df.columns]
        shown += [c for c in RANDOMIZE_DEFAULT_COLUMNS if c in df.columns]
    keep = df["status"] == PairStatus.COMPARED if pair else df["status"] != RowStatus.SKIPPED
    rows = df if show_all else df[keep]
    trouble = rows["status"].isin([RowStatus.FAILED, RowStatus.PARTIAL]) if "status" in rows else None
    if not (wide or columns or pair) and "reason" in df.columns and trouble is not None and trouble.any():
        shown.append("reason")  # failed and partial rows say why in the default table (shortened first to fit)
    hidden = len(df) - len(rows)
    cells = pd.DataFrame({c: [_cell(v, c) for v in rows[c]] for c in shown}, columns=shown)
    if width is not None:
        cells = _fit(cells, width)
    text = _render(cells) if len(cells) else "(no analysed layer)\n"
    subject = df.attrs.get("rmtkit", {}).get("subject", "W")
    if subject != "W":  # e.g. W - W_base: say so above the header, and above the summary
        text = f"{subject}\n" + text
    if pair:
        text = "".join(f"{k}: {v}\n" for k, v in df.attrs["rmtkit"]["compare"].items()) + text
    if hidden and pair:
        text += _hidden_pairs(df[~keep], width)
    elif hidden:
        text += f"({hidden} skipped row(s) hidden: bias/norm tensors, filtered or too small; --all shows them)\n"
    if summary is not None:
        text += "\n" + ("" if subject == "W" else f"summary of {subject.split(' (')[0]}\n") + "\n".join(f"{k:<28} {_cell(v, k)}" for k, v in summary.items()) + "\n"
    meta = df.attrs.get("rmtkit", {})
    if meta:
        text += f"\nrmtkit {meta.get('version')}, {meta.get('convention')}, {meta.get('precision')}\n"
    return text


def _cell(value: Any, column: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "-"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if v.is_integer() and (column.removeprefix("delta_") in INTEGER_COLUMNS
                               or column.startswith(("layers_", "phase_", "warning_"))):
            return str(int(v))
        return f"{v:.3f}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.3g}"
    return str(value)


def _hidden_pairs(rows: pd.DataFrame, width: int | None) -> str:
    """One line: how many rows of a comparison are not shown, and the most frequent reasons why."""
    counts = Counter(_why_not_compared(s, r) for s, r in zip(rows["status"], rows["reason"], strict=True))
    named = [f"{why}: {n}" for why, n in counts.most_common(_HIDDEN_REASONS)]
    more = ", ..." if len(counts) > _HIDDEN_REASONS else ""
    while True:
        line = f"({len(rows)} row(s) not compared hidden: {', '.join(named)}{more}; --all shows them)\n"
        if width is None or len(line) <= width + 1 or len(named) == 1:
            return line
        named, more = named[:-1], ", ..."


def _why_not_compared(status: str, reason: Any) -> str:
    """The gist of a comparison row's reason (up to its first colon): ``only in a``, ``shape changed``, or
    why a side was not analysed (``1-D tensor (bias, norm or scalar)``, ``too small``, ``filtered``)."""
    if status in (PairStatus.ONLY_IN_A, PairStatus.ONLY_IN_B) or not isinstance(reason, str):
        return str(status)
    return reason.split(":")[0]


def _render(cells: pd.DataFrame) -> str:
    widths = {c: max([len(c), *(len(v) for v in cells[c])]) for c in cells.columns}
    left = {c for c in cells.columns if not any(_is_number(v) for v in cells[c])}

    def line(values: dict[str, str]) -> str:
        parts = [values[c].ljust(widths[c]) if c in left else values[c].rjust(widths[c]) for c in cells.columns]
        return "  ".join(parts).rstrip()

    out = [line({c: c for c in cells.columns})]
    out += [line(dict(zip(cells.columns, row, strict=True))) for row in cells.itertuples(index=False)]
    return "\n".join(out) + "\n"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fit(cells: pd.DataFrame, width: int) -> pd.DataFrame:
    """Shorten the text columns, one at a time, until a line fits ``width`` characters."""
    cells = cells.copy()

    def total() -> int:
        return sum(max([len(c), *(len(v) for v in cells[c])]) for c in cells.columns) + 2 * (len(cells.columns) - 1)

    for col in _SHRINKABLE:
        excess = total() - width
        if excess <= 0:
            break
        if col == ".weight" and "name" in cells.columns:
            cells["name"] = [v.removesuffix(".weight") for v in cells["name"]]
            continue
        if col not in cells.columns:
            continue
        current = max([len(col), *(len(v) for v in cells[col])])
        target = max(current - excess, _MIN_SHRUNK, len(col))
        cells[col] = short_names(list(cells[col]), target) if col == "name" else [_shorten(v, target, middle=False)
                                                                                for v in cells[col]]
    return cells


def short_names(names: list[str], n: int) -> list[str]:
    """``names`` shortened to ``n`` characters where possible, no two alike, numbers kept.

    The dotted parts are abbreviated to their first letter from the left, the last part and the numbers
    (block indices) kept: ``encoder.layer.5.attention.output.dense`` becomes ``e.l.5.a.output.dense``.
    Names that would then look alike keep more of their parts (a line may then exceed ``n``); a name still
    too long after every part is abbreviated is cut in the middle with "...".
    :meth:`rmtkit.analysis.Analysis.layer` accepts the shortened names.
    """
    forms = [_abbreviations(name) for name in names]  # from the whole name to the shortest form
    level = [next((k for k, f in enumerate(fs) if len(f) <= n), len(fs) - 1) for fs in forms]
    while True:
        shown = [fs[k] for fs, k in zip(forms, level, strict=True)]
        seen: dict[str, list[int]] = {}
        for i, s in enumerate(shown):
            seen.setdefault(s, []).append(i)
        clash = [i for rows in seen.values() if len({names[j] for j in rows}) > 1 for i in rows if level[i] > 0]
        if not clash:
            break
        for i in clash:
            level[i] -= 1
    return [s if len(s) <= n or level[i] < len(forms[i]) - 1 else _shorten(s, n, middle=True)
            for i, s in enumerate(shown)]


def _abbreviations(name: str) -> list[str]:
    parts = name.split(".")
    forms = [name]
    for i in range(len(parts) - 1):
        if parts[i].isdigit() or len(parts[i]) <= 1:
            continue
        parts[i] = parts[i][0]
        forms.append(".".join(parts))
    return forms


def _shorten(text: str, n: int, *, middle: bool) -> str:
    if len(text) <= n:
        return text
    if middle:
        head = (n - 3) // 2
        return text[:head] + "..." + text[len(text) - (n - 3 - head):]
    return text[: n - 3] + "..."
