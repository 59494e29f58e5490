"""``analyze(model)``: per-layer spectra, MP and power-law fits, capacity metrics and the 5+1 phases.

The pipeline ([MM-JMLR] §3-5, [MPM-NC]; docs/theory.md §1-5):

1. load the tensors (:func:`rmtkit.checkpoints.load_weights`) and split them into weight matrices and
   skipped tensors with reasons (:func:`rmtkit.layers.extract_layers`);
2. eigenvalues of ``W^T W`` (``normalize=True`` divides by ``N``) in batches of same-shape matrices,
   on the fastest correct path for the backend (:func:`rmtkit.eigenvalues`), in float64 by default;
3. one padded batch of spectra: the automatic MP fit and the power-law fit, each a single jitted
   call; capacity metrics; the phase of every layer (:func:`rmtkit.phases.classify_phases`);
4. optionally a seeded randomization baseline (elementwise shuffle of each ``W``), eigenvector
   localization and correlation traps (:mod:`rmtkit.extra`), and with ``esd="farms"`` the power-law
   fit on the pooled ESD of fixed-aspect-ratio windows (:func:`rmtkit.spectrum.farms_eigenvalues`).

The result is an :class:`rmtkit.analysis.Analysis` holding all of it; with ``pl_method="auto"``
the power-law batch is fitted once, and the classifier fits (CSN) only the layers whose phase
turns on the calibrated tail statistic. Every tensor appears in its table (``to_frame()``) with a
``status`` and, unless ``ok``, the ``reason``:

- ``ok``: spectrum, both fits and every metric are numbers;
- ``partial``: the spectrum and metrics are there but a fit failed; ``mp_status``/``pl_status``
  (:attr:`rmtkit.FitStatus.label`) say which and the reason why, and that fit's numbers are NaN
  (never 0 or -1);
- ``failed``: no spectrum (NaN/Inf entries, all-zero, under/overflow);
- ``skipped``: not a weight matrix, or filtered out.

Degeneracy, null eigenvalues and ties are judged at the precision of the weights as stored and
of the eigensolver (:mod:`rmtkit.resolution`): an orthogonal matrix stored as float32 is
``degenerate``, not fitted on its rounding noise.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd

from rmtkit import executables, metrics, phases
from rmtkit.analysis import Analysis, AnalyzeOptions, PooledESD, Randomization, option_choices
from rmtkit.batch import fit_by_width, host_scalar, pad_spectra, to_host
from rmtkit.cache import cached_spectra
from rmtkit.checkpoints import load_weights
from rmtkit.checkpoints.delta import weight_delta
from rmtkit.columns import (
    COLUMNS,
    INTEGER_COLUMNS,
    RANDOMIZE_COLUMNS,
    RENAMED_COLUMNS,
    TRAP_COLUMNS,
    VECTOR_COLUMNS,
)
from rmtkit.compile_cache import enable_compilation_cache
from rmtkit.diagnostics import check_seed, layer_extras, layer_seed
from rmtkit.layer_warnings import WARNING_CATEGORIES, layer_warning, warning_categories
from rmtkit.layers import Layer, extract_layers
from rmtkit.marchenko_pastur import MPFit, fit_marchenko_pastur
from rmtkit.powerlaw import PowerLawFit, fit_power_law
from rmtkit.randomization import randomization_baseline
from rmtkit.resolution import ResolvedSpectrum, resolve_spectrum
from rmtkit.spectra import matrix_spectra
from rmtkit.spectrum import farms_eigenvalues, farms_windows
from rmtkit.status import FitStatus, RowStatus
from rmtkit.summary import summarize
from rmtkit.version import __version__

__all__ = ["COLUMNS", "INTEGER_COLUMNS", "RANDOMIZE_COLUMNS", "RENAMED_COLUMNS", "WARNING_CATEGORIES", "analyze",
           "describe", "layer_spectra", "layer_warning", "summarize", "warning_categories"]

#: ``esd=``: the ESD the power-law fit reads (docs/theory.md#farms); the choices of :class:`AnalyzeOptions`.
ESD_CHOICES = option_choices("esd")


def _options(options: dict[str, Any]) -> AnalyzeOptions:
    opts = AnalyzeOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    if opts.precision not in option_choices("precision"):
        raise ValueError(f"precision must be 'float32' or 'float64', got {opts.precision!r}")
    if opts.esd not in ESD_CHOICES:
        raise ValueError(f"esd must be one of {ESD_CHOICES}, got {opts.esd!r}")
    if opts.farms_size < 2 or opts.farms_windows < 1 or not 1 <= opts.farms_q < np.inf:
        raise ValueError(f"FARMS windows need farms_size >= 2, farms_windows >= 1 and a finite farms_q >= 1, got "
                         f"{opts.farms_size}, {opts.farms_windows}, {opts.farms_q}")
    check_seed(opts.seed)
    return opts


def _select(model: Any, opts: AnalyzeOptions):
    """The layers to fit, the skipped tensors, and every tensor's position in the model (for row order)."""
    weights = load_weights(model)
    layers, skipped = extract_layers(weights, layers=opts.layers, exclude=opts.exclude, types=opts.types,
                                     min_evals=opts.min_evals, max_evals=opts.max_evals, conv_layout=opts.conv_layout)
    return layers, skipped, {name: i for i, name in enumerate(weights)}


def layer_spectra(model: Any, *, spectra_cache: str | os.PathLike | None = None, **options: Any) -> dict[str, np.ndarray]:
    """The eigenvalues (ascending; pooled for conv) of every layer :func:`analyze` would fit, by name."""
    opts = _options(options)
    layers, _, _ = _select(model, opts)
    with jax.enable_x64(opts.precision == "float64"):
        spectra, _ = _cached_spectra(layers, opts, spectra_cache, _NoBar())
    return spectra


#: ``describe()``'s ``status`` of a tensor that ``analyze()`` would fit (the others are ``skipped``, with the reason).
SELECTED = "selected"


def describe(model: Any, **options: Any) -> pd.DataFrame:
    """What :func:`analyze` would analyse, without computing an eigenvalue: one row per tensor, in the model's order.

    The same selection as :func:`analyze` (:func:`rmtkit.layers.extract_layers` with the same options);
    no tensor of a checkpoint file is read, only its header.

    Args:
        model: anything :func:`analyze` takes.
        **options: fields of :class:`rmtkit.analysis.AnalyzeOptions` (``layers``, ``exclude``, ``types``,
            ``min_evals``, ``max_evals``, ``conv_layout`` choose the tensors; the others are checked, not used).

    Returns:
        A DataFrame with ``name, shape, kind, N, M, num_evals, dtype, status, reason``: ``N >= M`` are the
        sides of the matrices whose ``W^T W`` would be analysed, ``num_evals`` = ``k M`` the eigenvalues
        (``k`` = ``kh kw`` for a convolution), ``status`` ``"selected"`` or ``"skipped"`` with the reason
        (``analyze()``'s row for that tensor says the same). Counts are nullable integers.

    >>> import numpy as np, rmtkit
    >>> rmtkit.describe({"fc.kernel": np.ones((100, 40)), "fc.bias": np.ones(40)})[["name", "N", "M", "status"]]
            name     N     M    status
    0    fc.bias  <NA>  <NA>   skipped
    1  fc.kernel   100    40  selected
    """
    opts = _options(options)
    layers, skipped, order = _select(model, opts)
    rows = [{"name": layer.name, "shape": str(layer.shape), "kind": layer.kind, "N": layer.n, "M": layer.m,
             "num_evals": layer.num_evals, "dtype": layer.dtype, "status": SELECTED, "reason": None} for layer in layers]
    rows += [{"name": s.name, "shape": str(s.shape), "dtype": s.dtype, "status": RowStatus.SKIPPED.value,
              "reason": s.reason} for s in skipped]
    rows.sort(key=lambda row: order.get(row["name"], len(order)))
    columns = ["name", "shape", "kind", "N", "M", "num_evals", "dtype", "status", "reason"]
    df = pd.DataFrame(rows, columns=columns)
    return df.astype({"N": "Int64", "M": "Int64", "num_evals": "Int64"})


def _cached_spectra(layers: list[Layer], opts: AnalyzeOptions, folder, bar):
    """:func:`rmtkit.spectra.matrix_spectra`, through the :mod:`rmtkit.cache` folder when one is given."""
    return cached_spectra(lambda todo: matrix_spectra(todo, np.dtype(opts.precision), opts.normalize, bar), layers, folder,
                          normalize=opts.normalize, precision=opts.precision, conv_layout=opts.conv_layout, progress=bar)


class _NoBar:
    def update(self, _):
        pass


def analyze(model: Any, *, base: Any = None, progress: bool | None = None, progress_label: str = "rmtkit analyze",
            spectra_cache: str | os.PathLike | None = None, **options: Any) -> Analysis:
    """Analyse every weight matrix of ``model``: spectra, fits, metrics and phases, one entry per tensor.

    Args:
        model: anything :func:`rmtkit.checkpoints.load_weights` reads: a path (``.safetensors``, HF directory,
            ``.npz``, PyTorch file), a Flax NNX module or state, a Linen params pytree, a live
            ``torch.nn.Module`` or Hugging Face ``PreTrainedModel``, a dict of arrays.
        base: a base model (anything ``model`` may be): analyse ``W - W_base``, the change of every tensor
            from its base (:func:`rmtkit.checkpoints.delta.weight_delta`). The table then describes
            differences: its provenance says so (``subject``), and no training verdict is given (``phase``
            None with ``phase_rule`` ``difference``; no under/over-trained warning): the 5+1 phases and the
            alpha band describe trained layers, not the change between two of them.
        progress: show a progress bar with ETA (default: only for models with more than 20 matrices).
        progress_label: the bar's label (``rmtkit compare`` names its two analyses).
        spectra_cache: a folder of eigenvalues (:mod:`rmtkit.cache`): layers found there are not
            recomputed, the others are stored; a changed checkpoint misses.
        **options: fields of :class:`rmtkit.analysis.AnalyzeOptions`.

    Returns:
        An :class:`rmtkit.analysis.Analysis`: the spectra, the MP and power-law fits, the metrics,
        the phases with their reasons, the failed and skipped tensors with why, the options and
        provenance. ``.to_frame()`` is the table, one row per tensor with the columns of
        ``COLUMNS``; its ``attrs["rmtkit"]`` records the version, options and eigenvalue
        convention. ``phase`` is one of :class:`rmtkit.phases.Phase`'s labels.

    Raises:
        rmtkit.CheckpointError: the model cannot be read.
        ValueError: an unknown option value.
    """
    opts = _options(options)
    enable_compilation_cache()  # a new process loads the compiled fits instead of compiling them (RMTKIT_JAX_CACHE)
    difference = base is not None
    if difference:
        model = weight_delta(model, base)
    layers, skipped, order = _select(model, opts)
    dtype = np.dtype(opts.precision)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(layers), desc=progress_label, unit="layer",
               disable=not (progress if progress is not None else len(layers) > 20))
    with jax.enable_x64(opts.precision == "float64"):
        spectra, failures = _cached_spectra(layers, opts, spectra_cache, bar)
        ok = [layer for layer in layers if layer.name in spectra]
        fitted = _fit_and_measure(ok, [spectra[layer.name] for layer in ok], opts, dtype, difference) if ok else None
    bar.close()

    rows = []
    for layer in layers:
        row = {"name": layer.name, "kind": layer.kind, "shape": str(layer.shape), "N": layer.n, "M": layer.m,
               "Q": layer.n / layer.m, "num_evals": layer.num_evals}
        if layer.name in failures:
            row.update(status=RowStatus.FAILED.value, reason=failures[layer.name], phase=None, warning=None)
        else:
            row.update(fitted.rows[layer.name])
            if opts.vectors or opts.traps:  # seeded by the seed and the layer's name, as analyze_extra
                row.update(layer_extras(layer, vectors=opts.vectors,
                                        seed=layer_seed(opts.seed, layer.name) if opts.traps else None))
        rows.append(row)
    for s in skipped:
        rows.append({"name": s.name, "shape": str(s.shape), "status": RowStatus.SKIPPED.value, "reason": s.reason})
    rows.sort(key=lambda row: order.get(row["name"], len(order)))  # model order (stable)
    extra = (RANDOMIZE_COLUMNS if opts.randomize else []) + (VECTOR_COLUMNS if opts.vectors else []) + \
        (TRAP_COLUMNS if opts.traps else [])
    df = pd.DataFrame(rows).reindex(columns=COLUMNS + extra)
    options_json = json.loads(json.dumps(dataclasses.asdict(opts)))  # tuples as lists: as a JSON file records them
    provenance = {"version": _version(), "options": options_json, "convention": opts.convention,
                  "precision": opts.precision, "esd": ESD_NOTES[opts.esd],
                  "subject": DIFFERENCE_SUBJECT if difference else "W", "phase_classifier": phases.CLASSIFIER_VERSION}
    df.attrs["rmtkit"] = provenance
    fitted = fitted or _nothing_fitted(dtype)
    return Analysis(names=tuple(layer.name for layer in ok), evals=fitted.evals, lengths=fitted.lengths, q=fitted.q,
                    mp=fitted.mp, mp_q=fitted.mp_q, pl=fitted.pl, metrics=fitted.metrics, phases=fitted.phases,
                    randomized=fitted.randomized, farms=fitted.farms, failed=dict(failures), skipped=tuple(skipped), options=opts,
                    provenance=json.loads(json.dumps(provenance)), table=df)


class _Fitted(NamedTuple):
    """What :func:`_fit_and_measure` returns: the batched results and one table row per layer."""

    evals: np.ndarray
    lengths: np.ndarray
    q: np.ndarray
    mp: MPFit
    mp_q: np.ndarray
    pl: PowerLawFit
    metrics: dict[str, np.ndarray]
    phases: tuple[dict, ...]
    randomized: Randomization | None
    farms: PooledESD | None
    rows: dict[str, dict]


def _nothing_fitted(dtype) -> _Fitted:
    empty = np.zeros(0, dtype)
    return _Fitted(np.zeros((0, 0), dtype), np.zeros(0, np.int64), empty, MPFit(*[empty] * len(MPFit._fields)), empty,
                   PowerLawFit(*[empty] * len(PowerLawFit._fields)), {}, (), None, None, {})


#: The provenance's ``subject`` of an analysis with ``base=``: what the table describes.
DIFFERENCE_SUBJECT = "W - W_base (differences from a base model: no training verdicts)"
_DIFFERENCE_REASON = ("W - W_base, a change of weights rather than a trained layer: no phase (the 5+1 phases and the "
                      "alpha band describe trained layers)")


def _fit_and_measure(layers: list[Layer], spectra: list[np.ndarray], opts: AnalyzeOptions, dtype,
                     difference: bool = False) -> _Fitted:
    resolved = [resolve_spectrum(s, n=layer.n, m=layer.m, storage_dtype=layer.dtype, compute_dtype=dtype)
                for layer, s in zip(layers, spectra, strict=True)]
    evals, lengths = pad_spectra([r.evals for r in resolved], dtype=dtype)
    q = np.array([layer.n / layer.m for layer in layers], dtype)
    # The MP law is fitted to the non-null part: W = G P with P of rank r has the MP(N / r) spectrum there.
    nonnull = np.array([r.num_nonnull for r in resolved])
    mp_evals, _ = pad_spectra([r.evals[r.num_null:] for r in resolved], width=evals.shape[1], dtype=dtype)  # one program per shape
    mp_q = q * lengths / np.maximum(nonnull, 1)
    pooled = np.array([layer.matrices.shape[0] for layer in layers])  # conv: the kh * kw slices share one ESD
    mp = fit_marchenko_pastur(mp_evals, mp_q, lengths=nonnull, pooled=pooled)
    farms = None if opts.esd == "full" else pooled_esd(layers, [r.rtol for r in resolved], opts, dtype)
    tail, tail_lengths = (evals, lengths) if farms is None else (farms.evals, farms.lengths)
    # zeros are left out; FARMS ESDs differ in length by 30x (an embedding's windows): fitted per width, not padded
    pl = (fit_power_law(tail, lengths=tail_lengths, method=opts.pl_method, xmax=opts.pl_xmax) if farms is None else
          fit_by_width(fit_power_law, tail, tail_lengths, method=opts.pl_method, xmax=opts.pl_xmax))
    verdict = np.array([FitStatus.TOO_FEW if r.evals.size < 3 else FitStatus.RANK_DEFICIENT if r.num_nonnull < 3 else
                        FitStatus.DEGENERATE if r.degenerate else FitStatus.OK for r in resolved])
    mp, pl = _overrule(mp, verdict), _overrule(pl, verdict)
    mp, pl = to_host(mp), to_host(pl)  # host arrays: read, never traced again
    hard = lengths - np.array([r.num_null for r in resolved])
    mp_ok, pl_ok = mp.status == FitStatus.OK, pl.status == FitStatus.OK
    m = {k: np.asarray(v) for k, v in executables.call(_measure, evals, mp.lambda_plus, pl.alpha, hard).items()}
    top = m["lambda_max"]
    measured = {
        "lambda_max": top, "mp_soft_rank": m["mp_soft_rank"], "stable_rank": m["stable_rank"],
        "hard_rank": hard, "rank_loss": lengths - hard,
        **{k: m[k] for k in ("entropy", "log_norm", "log_spectral_norm", "alpha_weighted", "log_alpha_norm")},
    }
    fields = {
        "lambda_max": top,
        "alpha": pl.alpha, "xmin": pl.xmin, "D": pl.D, "sigma": pl.sigma,
        "n_tail": np.where(pl_ok, pl.n_tail, np.nan),
        "mp_sigma": mp.sigma, "lambda_plus": mp.lambda_plus,
        "num_spikes": np.where(mp_ok, mp.num_spikes, np.nan), "mp_D": mp.D,
        **{k: v for k, v in measured.items() if k != "lambda_max"},
    }
    # The verdicts (phase, under/over-trained) read one reference fit whatever the options: CSN without xmax on
    # the full ESD. It is the fit made above with the default options; another estimator or FARMS gets it here.
    reference = pl if opts.pl_calibrated and farms is None else to_host(
        _overrule(fit_power_law(evals, lengths=lengths, method="csn"), verdict))
    fields["verdict_alpha"] = reference.alpha
    explained = phases.explain_phase(evals, q, lengths=lengths, mp=mp, pl=reference, hard_rank=hard, pooled=pooled,
                                     pl_calibrated=True,
                                     entry_share=lambda i: phases.entry_top_share(layers[i].matrices))
    if difference:
        explained = [{**e, "phase": None, "rule": "difference", "reason": _DIFFERENCE_REASON} for e in explained]
        fields["verdict_alpha"] = np.full(len(layers), np.nan)
    rows = {}
    for i, layer in enumerate(layers):
        row = {k: host_scalar(v[i]) for k, v in fields.items()}
        row["phase"] = explained[i]["phase"]
        row["phase_rule"] = phases.RULE_CODES.get(explained[i]["rule"], explained[i]["rule"])
        row["phase_reason"] = explained[i]["reason"]
        row["mp_status"] = FitStatus(int(mp.status[i])).label
        row["pl_status"] = FitStatus(int(pl.status[i])).label
        row["status"], row["reason"] = _row_status(row, resolved[i], layer)
        row["warning"] = layer_warning(row)
        rows[layer.name] = row
    randomized = None
    if opts.randomize:
        randomized, extra = randomization_baseline(layers, spectra, opts, dtype)
        for name, values in extra.items():
            rows[name].update(values)
    return _Fitted(evals, lengths, q, mp, mp_q, pl, measured, tuple(explained), randomized, farms, rows)


@jax.jit
def _measure(evals: jax.Array, lambda_plus: jax.Array, alpha: jax.Array, hard: jax.Array) -> dict[str, jax.Array]:
    """The capacity metrics of every layer (:mod:`rmtkit.metrics`) in one compiled program, not one per operation."""
    top = metrics.lambda_max(evals)
    return {
        "lambda_max": top,
        "mp_soft_rank": metrics.mp_soft_rank(lambda_plus, top),
        "stable_rank": metrics.stable_rank(evals),
        "entropy": metrics.matrix_entropy(evals, 1, 1, rank=hard),  # the hard rank resolved by the caller
        "log_norm": metrics.log_norm(evals),
        "log_spectral_norm": metrics.log_spectral_norm(evals),
        "alpha_weighted": metrics.alpha_weighted(alpha, top),
        "log_alpha_norm": metrics.log_alpha_norm(evals, alpha),
    }


#: What the ``esd`` option changed, as the provenance records it.
ESD_NOTES = {"full": "every fit on the full ESD of W^T W",
             "farms": "power-law fit on the pooled ESD of fixed-aspect-ratio windows (FARMS, Hu et al. ICML 2025); "
                      "MP fit, phases and norms on the full ESD"}


def pooled_esd(layers: list[Layer], rtols: list[float], opts: AnalyzeOptions, dtype) -> PooledESD:
    """The FARMS ESD of every layer (:func:`rmtkit.spectrum.farms_eigenvalues`), padded into one batch.

    ``rtols`` are the layers' null floors (:class:`rmtkit.resolution.ResolvedSpectrum`), applied per window.
    """
    pooled, windows, shapes = [], [], []
    for layer, rtol in zip(layers, rtols, strict=True):
        w = np.asarray(layer.matrices, dtype)
        pooled.append(np.asarray(farms_eigenvalues(w, size=opts.farms_size, q=opts.farms_q, per_dim=opts.farms_windows,
                                                   normalize=opts.normalize, rtol=rtol)))
        r, _, rows, cols = farms_windows(layer.n, layer.m, size=opts.farms_size, q=opts.farms_q, per_dim=opts.farms_windows)
        windows.append(len(r) * w.shape[0])
        shapes.append((rows, cols))
    evals, lengths = pad_spectra(pooled, dtype=dtype)
    return PooledESD(evals, lengths, np.array(windows), np.array(shapes, dtype=np.int64).reshape(-1, 2))


#: Numbers an ``ok`` row must have; each is NaN only where a fit failed, and then the row says which.
_NUMBERS = ("lambda_max", "alpha", "xmin", "D", "sigma", "n_tail", "mp_sigma", "lambda_plus", "num_spikes", "mp_D",
            "mp_soft_rank", "stable_rank", "hard_rank", "rank_loss", "entropy", "log_norm", "log_spectral_norm",
            "alpha_weighted", "log_alpha_norm")


def _overrule(fit, verdict: np.ndarray):
    """The fit with the analyzer's own verdict (at the data's precision) where it is not OK: NaN numbers, that status."""
    bad = verdict != FitStatus.OK
    if not bad.any():
        return fit
    fields = {}
    for name, value in fit._asdict().items():
        v = np.asarray(value)
        if name == "status":
            fields[name] = np.where(bad, verdict, v).astype(np.int32)
        elif np.issubdtype(v.dtype, np.floating) and v.shape == bad.shape:
            fields[name] = np.where(bad, np.nan, v)
        elif name in ("num_spikes", "num_bulk"):
            fields[name] = np.where(bad, -1, v).astype(v.dtype)
        elif name == "n_tail":
            fields[name] = np.where(bad, 0, v).astype(v.dtype)
        else:
            fields[name] = v
    return type(fit)(**fields)


def _row_status(row: dict, resolved: ResolvedSpectrum, layer: Layer) -> tuple[str, str | None]:
    """``("ok", note)`` when every number is there, else ``("partial", why)`` naming each fit that failed."""
    failed = {}
    for fit, label in (("MP fit", row["mp_status"]), ("power-law fit", row["pl_status"])):
        if label != FitStatus.OK.label:
            failed.setdefault(label, []).append(fit)
    reasons = []
    for label, fits in failed.items():
        status = FitStatus[label.upper()]
        if status == FitStatus.DEGENERATE and resolved.degenerate:
            why = (f"all eigenvalues equal at the precision of {layer.dtype} weights and of the eigensolver "
                   f"(singular values within {resolved.spread:.2g} of the largest; resolved: {resolved.storage_rtol:.2g} "
                   f"by the weights, {resolved.tie_rtol:.2g} of lambda_max by the eigensolver): nothing to fit")
        elif status == FitStatus.RANK_DEFICIENT:
            why = (f"{resolved.num_nonnull} eigenvalue(s) above the null floor ({resolved.num_null} of "
                   f"{resolved.evals.size} below {resolved.rtol:.2g} s_max): W is numerically of rank < 3")
        else:
            why = status.reason
        reasons.append(f"{' and '.join(fits)}: {why}")
    missing = [k for k in _NUMBERS if row.get(k) is None or not np.isfinite(row[k])]
    if not reasons and missing:
        reasons.append(f"no finite value for {', '.join(missing)}")
    notes = []
    if resolved.degenerate:
        pass  # nothing was fitted: merged ties and nulls would say nothing more
    elif resolved.num_null and resolved.num_nonnull >= 3:
        notes.append(f"fits on the {resolved.num_nonnull} non-null eigenvalues ({resolved.num_null} below "
                     f"{resolved.rtol:.2g} s_max: rank {resolved.num_nonnull} of {resolved.evals.size})")
    if resolved.num_tied and not resolved.degenerate:
        notes.append(f"{resolved.num_tied} eigenvalues equal to round-off merged with their ties")
    return (RowStatus.PARTIAL if reasons else RowStatus.OK).value, "; ".join(reasons + notes) or None


def _version() -> str:
    return __version__
