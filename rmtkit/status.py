"""The status vocabulary: per fit (:class:`FitStatus`), per table row (:class:`RowStatus`), per compared layer
(:class:`PairStatus`) and per run of a sweep (:class:`RunStatus`), so that results say why a row has no number.

Single-spectrum entry points raise a ``ValueError`` naming the problem before any jitted code
runs; batched entry points cannot raise per row, so each result carries one of these codes and
its numeric fields are NaN wherever the status is not ``OK``.
"""

from __future__ import annotations

import enum


class FitStatus(enum.IntEnum):
    """Why a fit did or did not produce numbers (stored as ``int32`` in batched results)."""

    OK = 0
    TOO_FEW = 1  # fewer than 3 valid eigenvalues (or tail points)
    NON_FINITE = 2  # NaN or Inf among the valid entries
    NEGATIVE = 3  # eigenvalues below zero beyond round-off
    DEGENERATE = 4  # all values equal (e.g. an orthogonal matrix): no spread to fit
    BAD_Q = 5  # aspect ratio q = N / M below 1 (transpose W) or not finite
    TAIL_TOO_SHORT = 6  # power law: the chosen tail holds too few points
    RANK_DEFICIENT = 7  # fewer than 3 eigenvalues above the null floor (the analyzer's resolution)

    @property
    def reason(self) -> str:
        return _REASONS[self]

    @property
    def label(self) -> str:
        """The name used in tables (``mp_status``/``pl_status`` columns): ``"ok"``, ``"degenerate"``, ..."""
        return self.name.lower()


_REASONS = {
    FitStatus.OK: "ok",
    FitStatus.TOO_FEW: "fewer than 3 valid eigenvalues",
    FitStatus.NON_FINITE: "NaN or Inf among the eigenvalues",
    FitStatus.NEGATIVE: "negative eigenvalues beyond round-off",
    FitStatus.DEGENERATE: "all eigenvalues equal (within round-off of the data or the eigensolver): nothing to fit",
    FitStatus.BAD_Q: "aspect ratio q = N/M must be finite and >= 1 (transpose W)",
    FitStatus.TAIL_TOO_SHORT: "the power-law tail holds too few points",
    FitStatus.RANK_DEFICIENT: "fewer than 3 eigenvalues above the null floor (W is numerically of rank < 3)",
}


def status_reason(code: int) -> str:
    """The human-readable reason for a status code, e.g. for a per-layer table."""
    return FitStatus(int(code)).reason


class RowStatus(enum.StrEnum):
    """What one row of the analysis table holds (its ``status`` column); the value is the word the table shows.

    ``analysed`` rows (``ok``, ``partial``) have a spectrum and enter summaries and figures. The
    members are in the order :func:`rmtkit.summarize` counts them (``layers_ok``, ...).
    """

    OK = "ok"  # spectrum, both fits and every metric are numbers
    PARTIAL = "partial"  # spectrum and metrics; a fit failed (mp_status / pl_status say which, reason why)
    SKIPPED = "skipped"  # not a weight matrix, or filtered out; reason says why
    FAILED = "failed"  # no spectrum (NaN/Inf entries, all-zero, under/overflow); reason says why

    @property
    def analysed(self) -> bool:
        """Whether the row has a spectrum (``ok`` or ``partial``)."""
        return self in (RowStatus.OK, RowStatus.PARTIAL)

    @property
    def meaning(self) -> str:
        return _ROW_MEANINGS[self]

    @classmethod
    def analysed_values(cls) -> list[str]:
        """The words of the analysed rows, for ``df["status"].isin(...)``."""
        return [s.value for s in cls if s.analysed]


_ROW_MEANINGS = {
    RowStatus.OK: "spectrum, both fits and every metric are numbers",
    RowStatus.PARTIAL: "spectrum and metrics, but a fit failed (mp_status / pl_status say which, reason why)",
    RowStatus.FAILED: "no spectrum (NaN/Inf entries, all-zero, under/overflow)",
    RowStatus.SKIPPED: "not a weight matrix, or filtered out",
}


class PairStatus(enum.StrEnum):
    """What one row of :func:`rmtkit.compare`'s table holds (its ``status`` column)."""

    COMPARED = "compared"  # analysed in both models, same shape: every delta is there
    ONLY_IN_A = "only in a"
    ONLY_IN_B = "only in b"
    NOT_COMPARABLE = "not comparable"  # the shape changed, or a side was not analysed (reason says which)


class RunStatus(enum.StrEnum):
    """Where one run of a sweep (a training run, a zoo model) stands, as the collectors report it."""

    DONE = "done"
    FAILED = "failed"
    UNFINISHED = "unfinished"
