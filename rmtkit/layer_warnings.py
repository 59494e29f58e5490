"""The ``warning`` column: what a reader of one analysed row should know first (docs/columns.md#warning)."""

from __future__ import annotations

import numpy as np

#: Thresholds of the ``warning`` column (docs/columns.md#warning).
UNDER_TRAINED_ALPHA = 6.0  # [MM-JMLR], WeightWatcher: alpha > 6, the layer is close to random (under-trained)
OVER_TRAINED_ALPHA = 2.0  # alpha < 2: very heavy tail, over-trained / over-fit ([MPM-NC])
MIN_TAIL = 10  # fewer tail points than this: alpha is the fit of a handful of eigenvalues
KS_CRITICAL = 1.36  # D > 1.36 / sqrt(n_tail): the KS test rejects the power law at the 5% level
#: Phases whose "tail" is the MP bulk edge and a few spikes.
_MP_LIKE = ("random-like", "bleeding-out", "bulk+spikes")
#: The categories a ``warning`` cell is made of (the text before ``":"`` of each part).
WARNING_CATEGORIES = ("under-trained", "over-trained", "unreliable", "rank-deficient")


def layer_warning(row: dict) -> str | None:
    """The ``warning`` of one analysed row: what a reader should know first, or None (docs/columns.md#warning).

    Rules, in this order, all that apply joined by ``", "`` (each starts with its category, the text
    before any ``":"``, which :func:`rmtkit.summarize` counts):

    - ``under-trained``: alpha > 6 ([MM-JMLR] §5; WeightWatcher's rule);
    - ``over-trained``: alpha < 2 (a tail heavier than any finite-variance law, [MPM-NC]);
      both read ``verdict_alpha`` (the CSN fit on the full ESD, whatever ``pl_method`` and ``esd``
      chose for ``alpha``: the 2-6 band was read on that fit) where the row has it, else ``alpha``;
    - ``unreliable: ...``, the power-law fit is not to be trusted, naming the test that failed:
      ``power-law fit <pl_status>`` (the fit itself failed); ``tail of k`` (``n_tail`` = k < 10
      eigenvalues); ``D d>c`` with ``c = 1.36 / sqrt(n_tail)``, the 5% critical value of the KS
      test; ``MP-like`` (phase random-like, bleeding-out or bulk+spikes with a successful MP fit:
      the "tail" is the bulk edge and a few spikes, so alpha says nothing about heavy tails);
    - ``rank-deficient: rank r of M``: ``rank_loss > 0`` eigenvalues at the null floor.
    """
    found = []
    alpha = row.get("verdict_alpha", row.get("alpha"))
    if alpha is not None and np.isfinite(alpha):
        if alpha > UNDER_TRAINED_ALPHA:
            found.append("under-trained")
        elif alpha < OVER_TRAINED_ALPHA:
            found.append("over-trained")
    if row.get("pl_status") not in (None, "ok"):
        found.append(f"unreliable: power-law fit {row['pl_status']}")
    else:
        n_tail, d = row.get("n_tail"), row.get("D")
        if n_tail is not None and np.isfinite(n_tail) and n_tail < MIN_TAIL:
            found.append(f"unreliable: tail of {int(n_tail)}")
        elif n_tail and d is not None and np.isfinite(d) and d > KS_CRITICAL / np.sqrt(n_tail):
            found.append(f"unreliable: D {d:.2f}>{KS_CRITICAL / np.sqrt(n_tail):.2f}")
        if row.get("phase") in _MP_LIKE and row.get("mp_status") == "ok":
            found.append("unreliable: MP-like")
    rank_loss = row.get("rank_loss")
    if rank_loss is not None and np.isfinite(rank_loss) and rank_loss > 0:
        found.append(f"rank-deficient: rank {int(row['hard_rank'])} of {int(row['hard_rank'] + rank_loss)}")
    return ", ".join(found) or None


def warning_categories(warning: str | None) -> list[str]:
    """The categories of a ``warning`` cell: ``"under-trained, unreliable: tail of 8"`` ->
    ``["under-trained", "unreliable"]``."""
    if not isinstance(warning, str) or not warning:
        return []
    return [part.split(":")[0] for part in warning.split(", ") if part]
