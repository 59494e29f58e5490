"""The result of :func:`rmtkit.analyze`: one object with the spectra, the fits, the metrics, the phases and the provenance.

optimistix returns a ``Solution`` rather than a number; ``analyze`` returns an :class:`Analysis`
rather than a table, so that what comes after it (figures, the CLI, summaries) reads what the
analysis computed and never loads or fits again. :meth:`Analysis.to_frame` gives the table, one
row per tensor (docs/columns.md).

>>> import numpy as np, rmtkit
>>> a = rmtkit.analyze({"w": np.random.default_rng(0).standard_normal((400, 200))})
>>> a.names, a.evals.shape, int(a.lengths[0])
(('w',), (1, 200), 200)
>>> a.to_frame().loc[0, "status"], a.layer("w").phase
('ok', 'random-like')
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from rmtkit.layers import DEFAULT_MIN_EVALS, ConvLayout, LayerType, Skipped
from rmtkit.marchenko_pastur import MPFit
from rmtkit.powerlaw import Method, PowerLawFit

Precision = Literal["float64", "float32"]
#: The ESD the power-law fit reads (docs/theory.md#farms).
Esd = Literal["full", "farms"]


@dataclass(frozen=True)
class AnalyzeOptions:
    """Options of :func:`rmtkit.analyze`, recorded with its results: the one schema of their defaults and choices.

    The command line's flags (:mod:`rmtkit.cli`) and the zoo's config (``simulations/zoo/config.py``)
    take their defaults from here and their choices from the ``Literal`` types
    (:func:`option_choices`); tests/test_options.py checks them field by field.

    ``pl_method`` defaults to ``"csn"`` here while :func:`rmtkit.fit_power_law`'s ``method`` defaults
    to ``"auto"``, on purpose: the phase criteria and the under/over-trained warnings were calibrated
    on the CSN fit without ``xmax`` (:attr:`pl_calibrated`), and ``"auto"`` was chosen for accuracy
    on heavy-tailed (Pareto) spectra without a Marchenko-Pastur bulk (``fit_power_law``'s docstring).

    Attributes:
        layers, exclude, types, min_evals, max_evals, conv_layout: layer selection
            (see :func:`rmtkit.layers.extract_layers`).
        normalize: eigenvalues of ``W^T W / N`` (True, [MM-JMLR]) or of ``W^T W`` (False, the
            ``lambda = s^2`` of [MPM-NC] and WeightWatcher, default, so that log-norms compare).
        precision: ``"float64"`` (default) or ``"float32"``: the dtype of eigenvalues and fits.
            bfloat16 / float16 weights are always upcast to it.
        pl_method, pl_xmax: power-law fit (``fit_power_law``'s ``method`` and ``xmax``).
        randomize: add the shuffled-``W`` baseline (needs ``seed``).
        seed: seed of the randomization and of ``traps`` (explicit: same seed, same baseline).
        esd: the ESD the power-law fit reads: ``"full"`` (default, ``W``'s own) or ``"farms"``, the
            pooled ESD of fixed-aspect-ratio windows of ``W`` (Hu et al., ICML 2025;
            docs/theory.md#farms). With ``"farms"`` only ``alpha``, ``xmin``, ``D``, ``sigma``,
            ``n_tail``, ``pl_status``, the exponent inside ``alpha_weighted`` and ``log_alpha_norm``,
            and the ``warning`` that reads them change; the
            MP fit, the other metrics and the phases stay on the full ESD (the phase criteria were
            calibrated on it).
        farms_size, farms_q, farms_windows: the windows (:func:`rmtkit.spectrum.farms_windows`):
            short side, aspect ratio ``rows / cols >= 1``, windows per dimension at least.
        vectors: add the eigenvector-localization columns (:func:`rmtkit.extra.localization`).
        traps: add the correlation-trap columns (:func:`rmtkit.extra.correlation_traps`, seeded
            with ``seed`` and the layer's name, :func:`rmtkit.diagnostics.layer_seed`, as
            :func:`rmtkit.extra.analyze_extra`; ``randomize`` keys each layer's shuffle the same way).
    """

    layers: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    types: tuple[LayerType, ...] | None = None
    min_evals: int = DEFAULT_MIN_EVALS
    max_evals: int | None = None
    conv_layout: ConvLayout = "auto"
    normalize: bool = False
    precision: Precision = "float64"
    pl_method: Method = "csn"
    pl_xmax: float | str | None = None  # None, "max" or a number (fit_power_law's xmax)
    randomize: bool = False
    seed: int = 0
    esd: Esd = "full"
    farms_size: int = 100
    farms_q: float = 1.0
    farms_windows: int = 10
    vectors: bool = False
    traps: bool = False

    @property
    def convention(self) -> str:
        return "lambda = s^2 / N" if self.normalize else "lambda = s^2"

    @property
    def pl_calibrated(self) -> bool:
        """Whether the power-law fit is the one the phase criteria were calibrated on (CSN, no ``xmax``)."""
        return self.pl_method == "csn" and self.pl_xmax is None


#: The fields of :class:`AnalyzeOptions` that choose the layers (:func:`rmtkit.layers.extract_layers`' arguments).
SELECTION_FIELDS = ("layers", "exclude", "types", "min_evals", "max_evals", "conv_layout")


def option_choices(name: str) -> tuple | None:
    """The values an :class:`AnalyzeOptions` field may take when its type is a ``Literal`` (alone, the items of a
    tuple, or beside None), else None.

    >>> option_choices("esd"), option_choices("seed")
    (('full', 'farms'), None)
    """
    hint = typing.get_type_hints(AnalyzeOptions)[name]
    found = []
    stack = [hint]
    while stack:
        t = stack.pop(0)
        if typing.get_origin(t) is Literal:
            found += [v for v in typing.get_args(t) if v not in found]
        else:
            stack += [a for a in typing.get_args(t) if a is not Ellipsis]
    return tuple(found) or None


@dataclass(frozen=True, eq=False)
class Randomization:
    """The baseline of ``randomize=True``: each ``W`` shuffled elementwise (seeded), its spectrum and MP fit.

    Attributes:
        evals: ``(B, L)`` eigenvalues of the shuffled matrices, ascending, zero padding after
            (rows as :attr:`Analysis.names`).
        lengths: ``(B,)`` valid entries per row.
        mp: the batched :class:`~rmtkit.MPFit` of those spectra.
    """

    evals: np.ndarray
    lengths: np.ndarray
    mp: MPFit


@dataclass(frozen=True, eq=False)
class PooledESD:
    """The ESD the power-law fit read with ``esd="farms"``: each layer's window eigenvalues, pooled.

    Attributes:
        evals: ``(B, L)`` pooled eigenvalues (:func:`rmtkit.spectrum.farms_eigenvalues`), ascending,
            nulls at 0, zero padding after (rows as :attr:`Analysis.names`).
        lengths: ``(B,)`` valid entries per row.
        windows: ``(B,)`` windows per layer (times its conv slices).
        window_shape: ``(B, 2)`` rows and columns of the layer's windows.
    """

    evals: np.ndarray
    lengths: np.ndarray
    windows: np.ndarray
    window_shape: np.ndarray


class LayerResult(NamedTuple):
    """One analysed layer of an :class:`Analysis` (:meth:`Analysis.layer`); fits are unbatched."""

    name: str
    evals: np.ndarray  # (num_evals,) ascending, as fitted (nulls at 0, ties merged: rmtkit.resolution)
    q: float  # N / M
    mp: MPFit
    mp_q: float  # the aspect ratio of the MP fit (on the non-null part: q num_evals / non-null)
    pl: PowerLawFit
    metrics: dict[str, float]
    phase: str | None
    phase_reason: str | None
    phase_features: dict[str, Any]
    warning: str | None
    randomized: np.ndarray | None  # the shuffled W's spectrum (randomize=True)
    randomized_mp: MPFit | None
    tail_evals: np.ndarray | None = None  # with esd="farms": the pooled ESD that ``pl`` was fitted to


@dataclass(frozen=True, eq=False)
class Analysis:
    """What :func:`rmtkit.analyze` found, for every tensor of a model.

    The ``B`` analysed layers (those with a spectrum) are rows of the batched fields, in model
    order (:attr:`names`); every other tensor is in :attr:`failed` or :attr:`skipped` with why.

    Attributes:
        names: ``(B,)`` names of the analysed layers.
        evals: ``(B, L)`` their eigenvalues as fitted (ascending; null eigenvalues set to 0 and
            ties merged at the data's precision, :mod:`rmtkit.resolution`), zero padding after.
        lengths: ``(B,)`` eigenvalues per layer.
        q: ``(B,)`` aspect ratios ``N / M``.
        mp: batched :class:`~rmtkit.MPFit`, fitted to the non-null eigenvalues with aspect ratio
            ``mp_q``; NaN numbers and the analyzer's status where its verdict overrules the fit.
        mp_q: ``(B,)`` aspect ratio of the MP fit: ``q * lengths / non-null`` (``q`` at full rank).
        pl: batched :class:`~rmtkit.PowerLawFit` (``options.pl_method``, ``options.pl_xmax``) of
            :meth:`tail_spectrum`: the full ESD, or the pooled one with ``esd="farms"``.
        metrics: ``(B,)`` arrays by name: ``lambda_max``, ``stable_rank``, ``hard_rank``,
            ``rank_loss``, ``mp_soft_rank``, ``entropy``, ``log_norm``, ``log_spectral_norm``,
            ``alpha_weighted``, ``log_alpha_norm``.
        phases: per analysed layer, :func:`rmtkit.phases.explain_phase`'s record: ``phase``,
            ``rule``, ``reason`` and every feature the decision read.
        randomized: the shuffled-``W`` baseline, or None without ``randomize=True``.
        farms: with ``esd="farms"``, the pooled ESD that :attr:`pl` was fitted to; None otherwise.
        failed: ``{name: why}`` for layers without a spectrum (NaN/Inf, all zero, overflow).
        skipped: the tensors that were not analysed (:class:`rmtkit.layers.Skipped`, with reasons).
        options: the :class:`AnalyzeOptions` used.
        provenance: version, options (as JSON), eigenvalue convention and precision.
        table: the per-tensor table (use :meth:`to_frame`, which returns a copy).
    """

    names: tuple[str, ...]
    evals: np.ndarray
    lengths: np.ndarray
    q: np.ndarray
    mp: MPFit
    mp_q: np.ndarray
    pl: PowerLawFit
    metrics: Mapping[str, np.ndarray]
    phases: tuple[Mapping[str, Any], ...]
    randomized: Randomization | None
    farms: PooledESD | None
    failed: Mapping[str, str]
    skipped: tuple[Skipped, ...]
    options: AnalyzeOptions
    provenance: Mapping[str, Any]
    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row per tensor (the columns of docs/columns.md); ``attrs["rmtkit"]`` holds the provenance."""
        df = self.table.copy()
        df.attrs = copy.deepcopy(self.table.attrs)
        return df

    def index(self, name: str) -> int:
        """Row of ``name`` in the batched fields. Raises ``KeyError`` for a tensor that was not analysed.

        ``name`` may also be written as the printed table shows it: without ``.weight``, abbreviated part
        by part (``e.l.5.a.output.dense``) or cut with "..." (:func:`rmtkit.table.short_names`), when
        exactly one analysed layer matches.
        """
        if name in self.names:
            return self.names.index(name)
        found = [i for i, full in enumerate(self.names) if _table_form_of(name, full)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise KeyError(f"{name!r} matches {len(found)} layers: {', '.join(self.names[i] for i in found[:5])}")
        why = self.failed.get(name) or next((s.reason for s in self.skipped if s.name == name), None)
        raise KeyError(f"{name!r} was not analysed" + (f": {why}" if why else "")) from None

    def spectrum(self, name: str) -> np.ndarray:
        """The eigenvalues of layer ``name`` as fitted, ascending."""
        i = self.index(name)
        return self.evals[i, : self.lengths[i]]

    def tail_spectrum(self, name: str) -> np.ndarray:
        """The eigenvalues the power-law fit of ``name`` read: :meth:`spectrum`, or its FARMS pooled ESD."""
        if self.farms is None:
            return self.spectrum(name)
        i = self.index(name)
        return self.farms.evals[i, : self.farms.lengths[i]]

    def layer(self, name: str) -> LayerResult:
        """Everything about one analysed layer, its fits unbatched."""
        i = self.index(name)
        name = self.names[i]  # the full name, also when given as the printed table shows it
        row = self.table.loc[self.table["name"] == name].iloc[0]
        rand = None if self.randomized is None else self.randomized.evals[i, : self.randomized.lengths[i]]
        return LayerResult(
            name=name, evals=self.spectrum(name), q=float(self.q[i]), mp=_row(self.mp, i), mp_q=float(self.mp_q[i]),
            pl=_row(self.pl, i), metrics={k: np.asarray(v)[i].item() for k, v in self.metrics.items()},
            phase=self.phases[i]["phase"], phase_reason=self.phases[i]["reason"], phase_features=dict(self.phases[i]),
            warning=_text(row.get("warning")), randomized=rand,
            randomized_mp=None if self.randomized is None else _row(self.randomized.mp, i),
            tail_evals=None if self.farms is None else self.tail_spectrum(name))

    def __len__(self) -> int:
        return len(self.names)


def as_frame(results: Analysis | pd.DataFrame) -> pd.DataFrame:
    """The table of an :class:`Analysis` (:meth:`Analysis.to_frame`); a DataFrame is returned as it is."""
    return results.to_frame() if isinstance(results, Analysis) else results


def _table_form_of(short: str, name: str) -> bool:
    """Whether ``short`` is how the printed table may show ``name`` (:func:`rmtkit.table.short_names`)."""
    for full in (name, name.removesuffix(".weight")):
        if "..." in short:
            head, _, tail = short.partition("...")
            if len(full) >= len(head) + len(tail) and full.startswith(head) and full.endswith(tail):
                return True
            continue
        parts, want = full.split("."), short.split(".")
        if len(parts) == len(want) and all(p == w or (len(w) == 1 and p.startswith(w))
                                           for p, w in zip(parts, want, strict=True)):
            return True
    return False


def _row(fit, i: int):
    return type(fit)(*(np.asarray(v)[i] for v in fit))


def _text(value) -> str | None:
    return value if isinstance(value, str) else None
