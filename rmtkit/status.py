"""Status codes shared by every fit, so batched results say why a row has no number.

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
