"""The thresholds of the phase decision list and its wording: :class:`PhaseCriteria`, the rules and the reasons.

:mod:`rmtkit.phases` measures a spectrum's features and walks the decision list; this module holds what the
list compares them with (every threshold, with how it was calibrated) and how each decision is said: the rule
keys (:data:`RULES`), their short codes for tables (:data:`RULE_CODES`) and the one-line ``phase_reason`` with
the numbers compared (:func:`phase_reason`). docs/phases.md explains each rule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rmtkit.status import FitStatus

__all__ = ["RULES", "RULE_CODES", "PhaseCriteria", "criteria_table", "phase_reason"]


@dataclass(frozen=True)
class PhaseCriteria:
    """Every threshold of the phase decision list, with the defaults used by :func:`rmtkit.phases.classify_phases`.

    The defaults were tuned on draws of :func:`rmtkit.phase_definitions.sample_phase` (M = 200, 500, 1000; Q = 1, 2, 4)
    and checked on fresh draws in ``benchmarks/phase_confusion.py`` (``docs/phases.md``).

    Rank-collapse:
        null_fraction: least fraction of (near-)zero eigenvalues for rank-collapse (0.25: hard
            rank at most 75% of M).
        null_gap_decades: a gap of this many decades (``log10`` ratio of consecutive eigenvalues)
            separates near-zero eigenvalues from the rest (2.0, a factor 100 in ``lambda``).
        null_min_above, null_min_above_fraction: at least ``max(3, 1% of M)`` eigenvalues must lie
            above that gap (the largest eigenvalues of very heavy tails are isolated by gaps).

    Effective rank collapse, among spectra without an MP bulk:
        collapse_floor, collapse_fraction: at least ``collapse_fraction`` (0.75) of the eigenvalues
            lie below ``collapse_floor`` (1e-2) times ``lambda_max``: the effective rank is a
            quarter of M or less, whatever the numerical rank (the paper's rank-collapse figure,
            linear axes: most eigenvalues in the first bin). The calibration generators give at
            most 0.61 outside rank-collapse and heavy tails (bulk-decay, M = 200-500, Q = 1-4).
        heavy_entry_share: ... unless the entries are heavy-tailed: the largest 1% of them carry at
            least this share (0.4) of ``||W||_F^2`` (:func:`rmtkit.phases.entry_top_share`). Very heavy-tailed
            entries (``mu < 2``) give the same ESD, and are heavy-tailed. Without the entries
            (``entry_share=None``) the rule is not applied.

    MP bulk (docs/theory.md#marchenko-pastur; the fit's outliers lie beyond ``l+ + 3 Delta_TW``):
        few_spikes_fraction: more outliers than this fraction of M (0.05) means no MP bulk with a
            few spikes: bulk-decay or heavy-tailed.
        bulk_ks_max: largest ``D * num_bulk / sqrt(pooled)`` of an MP bulk (6.0). The eigenvalues
            of a random matrix are rigid, so the KS distance of a good MP fit shrinks like ``1/M``
            (Gaussian and spiked matrices give ``D * num_bulk`` of 1.3-3.3 for M = 16-1000,
            bulk-decay 8-70). A spectrum pooled from ``k`` independent matrices (conv slices,
            seeds) averages ``k`` rigid ESDs: its ``D`` falls like ``1 / (M sqrt(k))`` while
            ``num_bulk`` is ``k M``, hence the ``sqrt(pooled)`` (docs/phases.md, calibration).
        spike_edge_ratio: an outlier at least this many times the MP edge (``lambda_max >= 2 l+``)
            makes bulk+spikes; outliers all closer to the edge bleed out (2.0). By the BBP
            formula a planted rank-1 spike lands at ``2 l+`` for a strength of 2.4-2.7 times the
            BBP threshold (Q = 1-10), between the bleeding-out (1.4-2.0x) and bulk+spikes (3-6x)
            generators; the distance is from the bulk, not between outliers (trained layers'
            outliers are spread, not clustered).

    Heavy-tailed versus bulk-decay (both without an MP bulk):
        top_k: number of largest eigenvalues in the Hill estimate of the top's
            exponent (5).
        ht_hill_alpha: a Hill exponent of the top at most this (2.6) is a power-law top
            (Frechet extremes of heavy-tailed entries give ``alpha = 1 + mu/2``).
        ht_hill_alpha_soft, ht_tail_ks: or a Hill exponent up to 4.0 together with a clean
            power-law tail: ``D * sqrt(n_tail) <= 0.62`` for the CSN fit (``method="csn"``,
            no ``xmax``). A bulk-decay top is flat (Hill exponent 3-17) and its tail bends
            (``D sqrt(n_tail)`` 0.5-1.6).
    """

    null_fraction: float = 0.25
    null_gap_decades: float = 2.0
    null_min_above: int = 3
    null_min_above_fraction: float = 0.01
    collapse_floor: float = 1e-2
    collapse_fraction: float = 0.75
    heavy_entry_share: float = 0.4
    few_spikes_fraction: float = 0.05
    bulk_ks_max: float = 6.0
    spike_edge_ratio: float = 2.0
    top_k: int = 5
    ht_hill_alpha: float = 2.6
    ht_hill_alpha_soft: float = 4.0
    ht_tail_ks: float = 0.62


#: The rules of the decision list, in order: key -> what it says (``phase_reason`` fills in the numbers).
RULES = {
    "invalid": "no valid spectrum (NaN/Inf, negative, fewer than 3 values or q < 1)",
    "null": "rank-collapse: a fraction null_fraction of the eigenvalues is (near) zero",
    "mp_failed": "no phase: the MP fit failed (e.g. all eigenvalues equal)",
    "effective": "rank-collapse: no MP bulk, a fraction collapse_fraction of the eigenvalues below "
                 "collapse_floor x lambda_max, and entries that are not heavy-tailed",
    "no_bulk_power_top": "heavy-tailed: no MP bulk, and the top eigenvalues follow a power law",
    "no_bulk": "bulk-decay: no MP bulk, and the top is not a power law",
    "bulk_no_outlier": "random-like: an MP bulk and no eigenvalue beyond l+ + 3 Delta_TW",
    "separated": "bulk+spikes: an MP bulk and an outlier at spike_edge_ratio x l+ or beyond",
    "not_separated": "bleeding-out: an MP bulk and outliers all closer to it than spike_edge_ratio x l+",
}

#: A short code per rule, for tables (the CSV's ``phase_reason`` keeps the full line with the numbers):
#: what part of the spectrum decided, and by which test.
RULE_CODES = {
    "invalid": "spectrum:invalid",
    "null": "rank:null",
    "mp_failed": "mp:failed",
    "effective": "rank:effective",
    "no_bulk_power_top": "tail:hill",
    "no_bulk": "bulk:ks",
    "bulk_no_outlier": "edge:tw",
    "separated": "spikes:edge",
    "not_separated": "spikes:near",
}


def _null_text(f: dict[str, Any]) -> str:
    """The numerical-rank facts: how many eigenvalues sit below a gap (and none may)."""
    null = int(round(f["null_fraction"] * f["length"]))
    return f"{null} of {int(f['length'])} eigenvalues below a gap of 2 decades" if null else "no gap in the spectrum"


def _bulk_stat(f: dict[str, Any]) -> str:
    k = int(f.get("pooled", 1))
    return "D*n_bulk" if k == 1 else f"D*n_bulk/sqrt({k})"


def _no_bulk_text(f: dict[str, Any], c: PhaseCriteria) -> str:
    why = []
    if f["spike_fraction"] > c.few_spikes_fraction:
        why.append(f"{f['num_spikes']} outliers = {f['spike_fraction']:.1%} of M > {c.few_spikes_fraction:.0%}")
    if f["bulk_ks"] > c.bulk_ks_max:
        why.append(f"{_bulk_stat(f)} {f['bulk_ks']:.3g} > {c.bulk_ks_max:g}")
    return "no MP bulk (" + "; ".join(why) + ")"


def phase_reason(key: str, f: dict[str, Any], c: PhaseCriteria = PhaseCriteria()) -> str:
    """One line saying which rule decided a spectrum's phase, with the numbers it compared.

    ``key`` is the rule of :data:`RULES`; ``f`` one spectrum's :func:`rmtkit.phases.phase_features` (scalars).
    "Hill" is the Hill exponent of the ``top_k`` largest eigenvalues, "tail D*sqrt(n)" the scaled KS
    distance of the CSN power-law fit (see :class:`PhaseCriteria`); "of a CSN fit made for the
    phase" when the classifier fitted that layer's tail itself (``tail_fit == 2``: the fit it was
    given is not the calibrated one).
    """
    hill, tail = f["hill_alpha"], f["tail_ks"]
    made = " of a CSN fit made for the phase" if f.get("tail_fit") == 2 else ""
    if key in ("invalid", "mp_failed"):
        return RULES[key]
    if key == "null":
        return f"{f['null_fraction']:.1%} of the eigenvalues near zero (>= {c.null_fraction:.0%}): rank-collapse"
    if key == "effective":
        m = int(f["length"])
        return (f"{_no_bulk_text(f, c)}; {f['low_fraction']:.1%} of the eigenvalues below {c.collapse_floor:g} "
                f"lambda_max (>= {c.collapse_fraction:.0%}: effective rank {int(f['effective_rank'])} of {m}); top 1% "
                f"of the entries carry {f['entry_share']:.0%} of ||W||^2 (< {c.heavy_entry_share:.0%}: not heavy-tailed "
                f"entries); {_null_text(f)}: rank-collapse")
    if key == "no_bulk_power_top":
        top = (f"Hill {hill:.3g} <= {c.ht_hill_alpha:g}" if hill <= c.ht_hill_alpha else
               f"Hill {hill:.3g} <= {c.ht_hill_alpha_soft:g} and tail D*sqrt(n){made} {tail:.3g} <= {c.ht_tail_ks:g}")
        return f"{_no_bulk_text(f, c)}; power-law top ({top}): heavy-tailed"
    if key == "no_bulk":
        if not hill <= c.ht_hill_alpha_soft:
            top = f"Hill {hill:.3g} > {c.ht_hill_alpha_soft:g}"
        elif f["pl_status"] != FitStatus.OK:
            top = f"Hill {hill:.3g} > {c.ht_hill_alpha:g} and the power-law fit{made} failed"
        else:
            top = f"Hill {hill:.3g} > {c.ht_hill_alpha:g} and tail D*sqrt(n){made} {tail:.3g} > {c.ht_tail_ks:g}"
        return f"{_no_bulk_text(f, c)}; top not a power law ({top}): bulk-decay"
    bulk = f"MP bulk ({_bulk_stat(f)} {f['bulk_ks']:.3g} <= {c.bulk_ks_max:g})"
    if key == "bulk_no_outlier":
        return f"{bulk}, no outlier beyond l+ + 3 Delta_TW: random-like"
    far = f"{f['num_spikes']} outliers, the largest at {f['top_ratio']:.3g} x l+"
    if key == "separated":
        return f"{bulk}, {far} >= {c.spike_edge_ratio:g}: bulk+spikes"
    return f"{bulk}, {far} < {c.spike_edge_ratio:g}: bleeding-out"


def criteria_table(criteria: PhaseCriteria = PhaseCriteria()) -> list[tuple[str, Any]]:
    """``(name, value)`` of every threshold, for reports."""
    return [(fl.name, getattr(criteria, fl.name)) for fl in dataclasses.fields(criteria)]
