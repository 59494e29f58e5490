"""The 5+1 phases of training of [MM-JMLR] §4, as operational criteria on the MP and power-law fits.

[MM-JMLR] sorts the empirical spectral density (ESD) of a layer's ``W^T W`` into six phases:
Random-like, Bleeding-out, Bulk+Spikes, Bulk-decay, Heavy-Tailed and Rank-collapse
(docs/theory.md#phases), partly by eye. This module makes the call automatic and reproducible: a short
decision list over scale-free features of the spectrum, its Marchenko-Pastur fit
(:func:`rmtkit.fit_marchenko_pastur`) and its power-law fit (:func:`rmtkit.powerlaw.fit_power_law`),
with every threshold held in :class:`PhaseCriteria`.

Decision list (first match wins; features in :func:`phase_features`):

1. no valid spectrum (NaN/Inf, negative, fewer than 3 values, ``q < 1``): ``None`` (undetermined);
2. **rank-collapse**: at least ``null_fraction`` of the eigenvalues are (near) zero, either lost
   to the hard rank or separated from the rest by a gap of ``null_gap_decades`` decades;
3. MP fit failed (e.g. all eigenvalues equal): ``None``;
4. **rank-collapse** (effective): no MP bulk, at least ``collapse_fraction`` of the eigenvalues
   below ``collapse_floor * lambda_max``, and entries that are not heavy-tailed (``entry_share``);
5. **heavy-tailed**: no MP bulk (too many outliers, or a bulk test ``D * n_bulk / sqrt(pooled)``
   above ``bulk_ks_max``) with a power-law top, see :func:`classify_phases`;
6. **bulk-decay**: no MP bulk, and the top is not a power law;
7. **random-like**: no eigenvalue beyond the MP edge plus the Tracy-Widom margin;
8. **bulk+spikes** if the largest outlier is ``spike_edge_ratio`` times the MP edge or more, else
   **bleeding-out**.

Every feature is a ratio of eigenvalues, a count or a fitted exponent, so the labels do not
change when all eigenvalues are multiplied by a constant (the ``s^2/N`` and ``s^2`` conventions
give the same phases).

What each phase means operationally is fixed by the generators of :func:`sample_phase` and the
parameter ranges in :data:`PHASE_RANGES` (both in :mod:`rmtkit.phase_definitions`, re-exported
here); ``benchmarks/phase_confusion.py`` measures the confusion matrix on fresh draws and
``docs/phases.md`` records it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from jax.typing import ArrayLike

from rmtkit.batch import as_float, batch_lengths
from rmtkit.marchenko_pastur import MPFit, fit_marchenko_pastur
from rmtkit.phase_definitions import PHASE_RANGES, Phase, sample_phase, sample_phase_params
from rmtkit.phase_rules import RULE_CODES, RULES, PhaseCriteria, criteria_table, phase_reason
from rmtkit.powerlaw import PowerLawFit, fit_power_law, hill_top_alpha
from rmtkit.status import FitStatus

__all__ = [
    "CLASSIFIER_VERSION",
    "PHASE_RANGES",
    "Phase",
    "PhaseCriteria",
    "calibrated_power_law",
    "classify_phases",
    "criteria_table",
    "entry_top_share",
    "RULES",
    "RULE_CODES",
    "explain_phase",
    "mp_bulk_holds",
    "phase_reason",
    "phase_features",
    "sample_phase",
    "sample_phase_params",
]


#: The version of the decision list, recorded with every label (docs/phases.md, "Versions"): 1, the list of
#: 2026-12-01; 2 (2026-12-07), the bulk test and outlier margin calibrated for pooled spectra, bulk+spikes by
#: the distance of the largest outlier from the edge, rank-collapse by the effective rank.
CLASSIFIER_VERSION = 2


# ----------------------------------------------------------------------------------------------
# Features.
# ----------------------------------------------------------------------------------------------


def _null_count(x: np.ndarray, n: int, c: PhaseCriteria, hard_rank: int | None) -> int:
    """Number of (near-)zero eigenvalues: those below a gap of ``null_gap_decades`` in the lower spectrum.

    ``x`` holds the ``n`` valid eigenvalues, ascending. Zeros (exact, or the round-off of order
    ``M eps lambda_max`` the Gram route leaves on them) are clipped at ``1e-30 lambda_max``, so a run
    of them has no gap inside and one large gap at its top. The widest gap with at least
    ``max(null_min_above, null_min_above_fraction * n)`` values above it is taken: this keeps the
    isolated largest eigenvalues of very heavy tails (whose ratios reach 1e3 and more) from
    counting as a collapse. A hard rank (if given) counts too, but only where it cuts the spectrum
    at such a gap: the numerical rank of a very heavy-tailed matrix can fall short of ``M``
    because its spectrum spans more decades than the precision resolves, with no gap anywhere.
    """
    if n < 3:
        return 0
    top = x[n - 1]
    if not np.isfinite(top) or top <= 0:
        return 0
    lx = np.log10(np.maximum(x[:n], top * 1e-30))
    gaps = np.diff(lx)  # gaps[j - 1] separates the j smallest from the rest
    below = np.arange(1, n)
    ok = n - below >= max(c.null_min_above, math.ceil(c.null_min_above_fraction * n))
    count = 0
    if ok.any():
        j = int(np.argmax(np.where(ok, gaps, -np.inf)))
        count = int(below[j]) if gaps[j] >= c.null_gap_decades else 0
    if hard_rank is not None and 0 < n - hard_rank < n:
        lost = int(n - hard_rank)
        if gaps[lost - 1] >= c.null_gap_decades:
            count = max(count, lost)
    return count


def entry_top_share(w: ArrayLike, fraction: float = 0.01) -> float:
    """Share of ``||W||_F^2`` carried by the largest ``fraction`` of the entries in absolute value.

    A matrix with heavy-tailed entries (Pareto or Student-t of index below 2: infinite variance) has
    a few huge entries that carry most of the norm (0.74-1.0 for the heavy-tailed generators at
    M = 200-1000); Gaussian or uniform entries give 0.03-0.09 and trained layers 0.08-0.22
    (all-MiniLM-L6-v2, MiniAlexNet). It tells apart two ESDs that look alike: very heavy tails
    carried by the entries, and an effective rank collapsed by a structure (e.g. strong L2).
    """
    a = np.abs(np.asarray(w, np.float64)).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        return math.nan
    k = max(1, math.ceil(fraction * a.size))
    top = np.partition(a, a.size - k)[a.size - k:]
    total = float(np.sum(a * a))
    return float(np.sum(top * top) / total) if total > 0 else math.nan


# ----------------------------------------------------------------------------------------------
# Criteria and the decision list.
# ----------------------------------------------------------------------------------------------


def calibrated_power_law(pl: PowerLawFit) -> bool:
    """Whether ``pl`` is the power-law fit the criteria were calibrated on: CSN without ``xmax``, one-sided KS.

    Judged on the batch: no row has a finite ``xmax`` (a bounded fit, e.g. ``method="auto"``) and
    none a two-sided KS distance. A batch whose every row failed cannot be told apart; pass
    ``pl_calibrated=`` to :func:`phase_features` when the method is known.
    """
    return not (np.any(np.isfinite(np.asarray(pl.xmax))) or np.any(np.asarray(pl.ks_two_sided, bool)))


def _batch(evals: ArrayLike, lengths: ArrayLike | None, mask: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    x = as_float(evals)
    x = x[None] if x.ndim == 1 else x
    if x.ndim != 2:
        raise ValueError(f"evals must be (B, L) padded spectra (or one (L,) spectrum), got shape {x.shape}")
    if (lengths is not None or mask is not None) and np.ndim(evals) == 1:
        lengths = None if lengths is None else np.reshape(lengths, -1)
        mask = None if mask is None else np.reshape(mask, (1, -1))
    return x, batch_lengths(x.shape, lengths, mask)


def _tail_features(pl: PowerLawFit | None, calibrated: bool, b: int) -> dict[str, np.ndarray]:
    """``alpha``, ``tail_ks``, ``pl_status`` of the calibrated fit where ``pl`` is one, NaN elsewhere; ``tail_fit``."""
    nan = np.full(b, np.nan)
    if pl is None or not calibrated:
        return {"alpha": nan, "tail_ks": nan.copy(), "pl_status": nan.copy(), "tail_fit": np.zeros(b, int)}
    with np.errstate(invalid="ignore"):
        return {"alpha": np.asarray(pl.alpha, float), "tail_ks": np.asarray(pl.D) * np.sqrt(np.asarray(pl.n_tail)),
                "pl_status": np.asarray(pl.status).astype(float), "tail_fit": np.ones(b, int)}


def phase_features(
    evals: ArrayLike,
    q: ArrayLike,
    *,
    lengths: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    mp: MPFit | None = None,
    pl: PowerLawFit | None = None,
    pl_calibrated: bool | None = None,
    hard_rank: ArrayLike | None = None,
    pooled: ArrayLike = 1,
    entry_share: ArrayLike | Callable[[int], float] | None = None,
    criteria: PhaseCriteria = PhaseCriteria(),
) -> dict[str, np.ndarray]:
    """The scale-free features the phase criteria look at, one value per spectrum.

    Args: as :func:`classify_phases`.

    Returns:
        A dict of ``(B,)`` arrays: ``length``, ``mp_status``, ``null_fraction`` (near-zero
        eigenvalues / M), ``num_spikes`` and ``spike_fraction`` (MP outliers), ``bulk_ks``
        (``D * num_bulk / sqrt(pooled)`` of the MP fit), ``top_ratio`` (``lambda_max / l+``),
        ``hill_alpha`` (top ``top_k``), ``decades`` (``log10(lambda_max / median)``),
        ``low_fraction`` (eigenvalues below ``collapse_floor * lambda_max`` / M), ``effective_rank``
        (the others), ``entry_share`` (:func:`entry_top_share`, NaN where not given or not
        needed: a callable ``i -> share`` is called only for the rows the rule reads), and from
        the calibrated power-law fit (CSN, no ``xmax``): ``alpha``, ``tail_ks``
        (``D sqrt(n_tail)``) and ``pl_status`` (NaN where the row has no such fit: the given fit
        is not the calibrated one and the decision did not need it), with ``tail_fit`` saying
        where they come from: 0 none, 1 the given ``pl``, 2 a CSN fit of that row made here.
    """
    x, lens = _batch(evals, lengths, mask)
    b = x.shape[0]
    qs = np.broadcast_to(np.asarray(q, x.dtype), (b,))
    pool = np.broadcast_to(np.asarray(pooled, float), (b,))
    if mp is None:
        mp = fit_marchenko_pastur(x, qs, lengths=lens, pooled=pool)
    calibrated = pl is not None and (calibrated_power_law(pl) if pl_calibrated is None else pl_calibrated)
    hard = None if hard_rank is None else np.asarray(hard_rank).reshape(-1).astype(int)
    mp_status = np.asarray(mp.status)
    nspk = np.where(mp_status == FitStatus.OK, np.asarray(mp.num_spikes), 0).astype(int)
    lp = np.asarray(mp.lambda_plus)
    rows = range(b)
    null = np.array([_null_count(x[i], lens[i], criteria, None if hard is None else hard[i]) for i in rows])
    top = np.array([x[i, lens[i] - 1] if lens[i] else np.nan for i in rows])
    med = np.array([np.median(x[i, : lens[i]]) if lens[i] else np.nan for i in rows])
    with np.errstate(divide="ignore", invalid="ignore"):
        f = dict(
            length=lens,
            mp_status=mp_status,
            null_fraction=null / np.maximum(lens, 1),
            num_spikes=nspk,
            spike_fraction=nspk / np.maximum(lens, 1),
            pooled=pool.astype(int),
            bulk_ks=np.asarray(mp.D) * np.asarray(mp.num_bulk) / np.sqrt(pool),
            top_ratio=top / lp,
            hill_alpha=np.array([hill_top_alpha(x[i], lens[i], criteria.top_k) for i in rows]),
            decades=np.log10(top / med),
            low_fraction=np.array([np.mean(x[i, : lens[i]] < criteria.collapse_floor * top[i]) if lens[i] else np.nan
                                   for i in rows]),
            effective_rank=np.array([int(np.sum(x[i, : lens[i]] >= criteria.collapse_floor * top[i])) for i in rows]),
            entry_share=np.full(b, np.nan),
            **_tail_features(pl, calibrated, b),
        )
    if callable(entry_share):
        for i in np.flatnonzero(_needs_entries(f, criteria)):
            f["entry_share"][i] = entry_share(int(i))
    elif entry_share is not None:
        f["entry_share"] = np.broadcast_to(np.asarray(entry_share, float), (b,)).copy()
    # Only the heavy-tailed / bulk-decay call with a soft Hill exponent reads the tail: fit just those rows.
    need = (f["tail_fit"] == 0) & _needs_tail(f, criteria)
    if need.any():
        fit = fit_power_law(x[need], lengths=lens[need], method="csn")
        for key, value in _tail_features(fit, True, int(need.sum())).items():
            f[key][need] = value
        f["tail_fit"][need] = 2
    return f


def _needs_entries(f: dict[str, np.ndarray], c: PhaseCriteria) -> np.ndarray:
    """Rows whose label turns on the entries: no MP bulk and an effective rank collapsed."""
    with np.errstate(invalid="ignore"):
        return ((f["mp_status"] == FitStatus.OK) & (f["null_fraction"] < c.null_fraction) & _bulk_rejected(f, c)
                & (f["low_fraction"] >= c.collapse_fraction))


def _needs_tail(f: dict[str, np.ndarray], c: PhaseCriteria) -> np.ndarray:
    """Rows whose label may turn on the power-law tail: without a tail fit they stop at ``no_bulk`` with a soft Hill exponent."""
    _, rule = _decide(f, c)
    return (rule == "no_bulk") & (f["hill_alpha"] <= c.ht_hill_alpha_soft)


#: Spectrum problems for which no phase can be given (the label is ``None``).
_INVALID = (FitStatus.TOO_FEW, FitStatus.NON_FINITE, FitStatus.NEGATIVE, FitStatus.BAD_Q)


def _bulk_rejected(f: dict[str, Any], c: PhaseCriteria):
    """The MP fit leaves too many outliers for a few spikes, or misses the bulk's shape (``D * n_bulk``)."""
    return (f["spike_fraction"] > c.few_spikes_fraction) | (f["bulk_ks"] > c.bulk_ks_max)


def mp_bulk_holds(features: dict[str, Any], criteria: PhaseCriteria = PhaseCriteria()):
    """Whether the MP fit describes a bulk, by the decision list's own test: the fit succeeded, its
    outliers are at most ``few_spikes_fraction`` of M and ``D * n_bulk <= bulk_ks_max``.

    ``features`` are :func:`phase_features` (arrays: a boolean array) or one row of
    :func:`explain_phase` (scalars: a bool). Figures draw the MP curve and spikes only where it holds.
    """
    with np.errstate(invalid="ignore"):
        return (np.asarray(features["mp_status"]) == FitStatus.OK) & ~_bulk_rejected(features, criteria)


def _decide(f: dict[str, np.ndarray], c: PhaseCriteria) -> tuple[np.ndarray, np.ndarray]:
    """Phase codes (``-1``: undetermined) and the key of the rule that fired (see :data:`RULES`), per row."""
    b = f["length"].shape[0]
    code = np.full(b, -1)
    rule = np.full(b, "", dtype=object)
    invalid = np.isin(f["mp_status"], [int(s) for s in _INVALID])
    pending = np.ones(b, bool)

    def assign(mask, phase, key):
        nonlocal pending
        hit = pending & mask
        code[hit] = -1 if phase is None else int(phase)
        rule[hit] = key
        pending &= ~hit

    assign(invalid, None, "invalid")
    assign(f["null_fraction"] >= c.null_fraction, Phase.RANK_COLLAPSE, "null")
    assign(f["mp_status"] != FitStatus.OK, None, "mp_failed")
    no_bulk = _bulk_rejected(f, c)
    with np.errstate(invalid="ignore"):
        light_entries = f["entry_share"] < c.heavy_entry_share  # NaN (not given): False
    assign(no_bulk & (f["low_fraction"] >= c.collapse_fraction) & light_entries, Phase.RANK_COLLAPSE, "effective")
    pl_ok = f["pl_status"] == FitStatus.OK
    power_top = (f["hill_alpha"] <= c.ht_hill_alpha) | (
        (f["hill_alpha"] <= c.ht_hill_alpha_soft) & pl_ok & (f["tail_ks"] <= c.ht_tail_ks))
    assign(no_bulk & power_top, Phase.HEAVY_TAILED, "no_bulk_power_top")
    assign(no_bulk, Phase.BULK_DECAY, "no_bulk")
    assign(f["num_spikes"] == 0, Phase.RANDOM_LIKE, "bulk_no_outlier")
    assign(f["top_ratio"] >= c.spike_edge_ratio, Phase.BULK_PLUS_SPIKES, "separated")
    assign(np.ones(b, bool), Phase.BLEEDING_OUT, "not_separated")
    return code, rule


def classify_phases(
    evals: ArrayLike,
    q: ArrayLike,
    *,
    lengths: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    mp: MPFit | None = None,
    pl: PowerLawFit | None = None,
    pl_calibrated: bool | None = None,
    hard_rank: ArrayLike | None = None,
    pooled: ArrayLike = 1,
    entry_share: ArrayLike | Callable[[int], float] | None = None,
    criteria: PhaseCriteria = PhaseCriteria(),
) -> np.ndarray:
    """The [MM-JMLR] phase of each spectrum of a padded batch, by the decision list of this module.

    Batch convention of :mod:`rmtkit.batch`: ``evals`` first, valid entries by ``lengths=`` or ``mask=``.

    Args:
        evals: ``(B, L)`` eigenvalues of ``W^T W`` (either convention, ``s^2/N`` or ``s^2``),
            ascending in the valid entries of each row, padding after.
            A 1-D ``(L,)`` spectrum is taken as a batch of one.
        q: ``(B,)`` (or scalar) aspect ratios ``N / M >= 1``.
        lengths: ``(B,)`` number of valid entries per row (``None`` and no ``mask``: all).
        mask: ``(B, L)`` booleans, true on the valid entries (padding at the end); instead of ``lengths``.
        mp: the batch's :func:`rmtkit.fit_marchenko_pastur` result (fitted here if ``None``).
        pl: the batch's :func:`rmtkit.powerlaw.fit_power_law` result. The criteria were
            calibrated on ``method="csn"`` without ``xmax``: a calibrated fit is used as given and
            never refitted. With ``None`` or another fit (e.g. ``method="auto"``, bounded at
            ``xmax``), only the rows whose label turns on the tail (no MP bulk and a top Hill
            exponent between ``ht_hill_alpha`` and ``ht_hill_alpha_soft``) get a CSN fit here,
            and their ``phase_reason`` says so.
        pl_calibrated: whether ``pl`` is the calibrated fit (default: judged by
            :func:`calibrated_power_law` from its ``xmax`` and KS side).
        hard_rank: ``(B,)`` numerical ranks, if known (e.g. from an SVD); counted towards
            rank-collapse where they cut the spectrum at a gap (see :class:`PhaseCriteria`).
        pooled: ``(B,)`` (or scalar) number of independent matrices each spectrum pools (a conv
            kernel's ``kh * kw`` slices; seeds): the MP fit's outlier margin and the bulk test are
            calibrated for it (:func:`rmtkit.fit_marchenko_pastur`, :class:`PhaseCriteria`).
        entry_share: ``(B,)`` :func:`entry_top_share` of each matrix, or a callable ``i -> share``
            (called only for rows without an MP bulk whose effective rank collapsed). It tells an
            effective rank collapse (rank-collapse) from very heavy-tailed entries (heavy-tailed);
            ``None`` leaves such rows to the heavy-tailed / bulk-decay rules.
        criteria: the thresholds.

    Returns:
        ``(B,)`` object array of :meth:`Phase.labels` strings, ``None`` where no phase can be
        given: invalid spectra (NaN/Inf, negative, fewer than 3 values, ``q < 1``) and failed MP
        fits that are not rank-collapsed (e.g. all eigenvalues equal).

    >>> import jax, rmtkit
    >>> w = rmtkit.ensembles.gaussian(jax.random.key(0), 400, 200)
    >>> classify_phases(rmtkit.eigenvalues(w)[None], 2.0).tolist()
    ['random-like']
    """
    f = phase_features(evals, q, lengths=lengths, mask=mask, mp=mp, pl=pl, pl_calibrated=pl_calibrated,
                       hard_rank=hard_rank, pooled=pooled,
                       entry_share=entry_share, criteria=criteria)
    code, _ = _decide(f, criteria)
    labels = Phase.labels()
    return np.array([labels[c] if c >= 0 else None for c in code], dtype=object)


def explain_phase(
    evals: ArrayLike,
    q: ArrayLike,
    *,
    lengths: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    mp: MPFit | None = None,
    pl: PowerLawFit | None = None,
    pl_calibrated: bool | None = None,
    hard_rank: ArrayLike | None = None,
    pooled: ArrayLike = 1,
    entry_share: ArrayLike | Callable[[int], float] | None = None,
    criteria: PhaseCriteria = PhaseCriteria(),
) -> list[dict[str, Any]]:
    """Per spectrum: the phase, the rule that decided it (a key of :data:`RULES`), a ``reason`` line with
    the numbers the rule compared (:func:`phase_reason`) and every feature (arguments as :func:`classify_phases`)."""
    f = phase_features(evals, q, lengths=lengths, mask=mask, mp=mp, pl=pl, pl_calibrated=pl_calibrated,
                       hard_rank=hard_rank, pooled=pooled,
                       entry_share=entry_share, criteria=criteria)
    code, rule = _decide(f, criteria)
    labels = Phase.labels()
    out = []
    for i in range(code.shape[0]):
        feats = {k: v[i].item() for k, v in f.items()}
        row = {"phase": labels[code[i]] if code[i] >= 0 else None, "rule": rule[i],
               "reason": phase_reason(rule[i], feats, criteria)}
        row.update(feats)
        out.append(row)
    return out
