"""``analyze(model)``: per-layer spectra, MP and power-law fits, capacity metrics and the 5+1 phases.

The pipeline ([MM-JMLR] §3-5, [MPM-NC]; docs/theory.md §1-5):

1. load the tensors (:func:`rmtkit.io.load_weights`) and split them into weight matrices and
   skipped tensors with reasons (:func:`rmtkit.layers.extract_layers`);
2. eigenvalues of ``W^T W`` (``normalize=True`` divides by ``N``) in batches of same-shape matrices,
   on the fastest correct path for the backend (:func:`rmtkit.eigenvalues`), in float64 by default;
3. one padded batch of spectra: the automatic MP fit and the power-law fit, each a single jitted
   call; capacity metrics; the phase of every layer (:func:`rmtkit.phases.classify_phases`);
4. optionally a seeded randomization baseline (elementwise shuffle of each ``W``).

Every tensor appears in the output with a ``status`` and, unless ``ok``, the ``reason``:

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
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from rmtkit import io, metrics, phases
from rmtkit._parallel import host_map
from rmtkit.layers import DEFAULT_MIN_EVALS, Layer, extract_layers
from rmtkit.marchenko_pastur import fit_marchenko_pastur
from rmtkit.powerlaw import fit_power_law
from rmtkit.resolution import ResolvedSpectrum, resolve_spectrum
from rmtkit.spectrum import eigenvalues, eigenvalues_numpy
from rmtkit.status import FitStatus

COLUMNS = [
    "name", "kind", "shape", "N", "M", "Q", "num_evals", "lambda_max", "alpha", "xmin", "D", "sigma", "n_tail",
    "mp_sigma", "lambda_plus", "num_spikes", "mp_D", "mp_softrank", "stable_rank", "hard_rank", "rank_loss",
    "entropy", "log_norm", "log_spectral_norm", "alpha_weighted", "log_alpha_norm", "phase", "phase_reason",
    "warning", "mp_status", "pl_status", "status", "reason",
]
#: Columns added by ``randomize=True``.
RANDOMIZE_COLUMNS = ["rand_lambda_plus", "rand_num_spikes", "correlation_traps", "rand_distance"]
#: Columns that hold counts: integers wherever they are not missing (written and printed as integers).
INTEGER_COLUMNS = ["N", "M", "num_evals", "n_tail", "num_spikes", "hard_rank", "rank_loss", "rand_num_spikes",
                   "correlation_traps"]

#: Thresholds of the ``warning`` column (docs/columns.md#warning).
UNDER_TRAINED_ALPHA = 6.0  # [MM-JMLR], WeightWatcher: alpha > 6, the layer is close to random (under-trained)
OVER_TRAINED_ALPHA = 2.0  # alpha < 2: very heavy tail, over-trained / over-fit ([MPM-NC])
MIN_TAIL = 10  # fewer tail points than this: alpha is the fit of a handful of eigenvalues
KS_CRITICAL = 1.36  # D > 1.36 / sqrt(n_tail): the KS test rejects the power law at the 5% level


@dataclass(frozen=True)
class AnalyzeOptions:
    """Options of :func:`analyze`, recorded with its results.

    Attributes:
        layers, exclude, types, min_evals, max_evals, conv_layout: layer selection
            (see :func:`rmtkit.layers.extract_layers`).
        normalize: eigenvalues of ``W^T W / N`` (True, [MM-JMLR]) or of ``W^T W`` (False, the
            ``lambda = s^2`` of [MPM-NC] and WeightWatcher, default, so that log-norms compare).
        precision: ``"float64"`` (default) or ``"float32"``: the dtype of eigenvalues and fits.
            bfloat16 / float16 weights are always upcast to it.
        pl_method, pl_xmax: power-law fit (``fit_power_law``'s ``method`` and ``xmax``).
        randomize: add the shuffled-``W`` baseline (needs ``seed``).
        seed: seed of the randomization (explicit: same seed, same baseline).
    """

    layers: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    min_evals: int = DEFAULT_MIN_EVALS
    max_evals: int | None = None
    conv_layout: str = "auto"
    normalize: bool = False
    precision: str = "float64"
    pl_method: str = "csn"
    pl_xmax: float | str | None = None
    randomize: bool = False
    seed: int = 0

    @property
    def convention(self) -> str:
        return "lambda = s^2 / N" if self.normalize else "lambda = s^2"


def _spectra(layers: list[Layer], dtype, normalize: bool, progress) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Eigenvalues of every layer (pooled over conv slices), with the layers that have none and why.

    On a CPU backend the matrices go to LAPACK one per task on a pool of one thread per core, with
    BLAS itself single-threaded (:func:`rmtkit._parallel.host_map`): ~1.3x faster on MiniLM than
    one matrix at a time with multi-threaded BLAS. Elsewhere same-shape matrices are stacked and
    sent to the device in one batched call.
    """
    if jax.default_backend() == "cpu":
        return _spectra_host(layers, dtype, normalize, progress)
    groups: dict[tuple, list[Layer]] = defaultdict(list)
    for layer in layers:
        groups[tuple(layer.matrices.shape)].append(layer)
    spectra, failures = {}, {}
    for group in groups.values():
        good = []
        for layer in group:
            w, why = _as_compute(layer, dtype)
            if why:
                failures[layer.name] = why
            else:
                good.append((layer, w))
        if good:
            ev = np.asarray(eigenvalues(np.stack([w for _, w in good]), normalize=normalize)).reshape(len(good), -1)
            for (layer, w), e in zip(good, ev, strict=True):
                if not np.isfinite(e).all():
                    failures[layer.name] = _non_finite_reason(w)
                elif e.max() > 0:
                    spectra[layer.name] = np.sort(e)
                else:
                    failures[layer.name] = _zero_reason(layer, dtype)
        progress.update(len(group))
    return spectra, failures


def _spectra_host(layers, dtype, normalize, progress):
    def one(layer: Layer) -> np.ndarray | str:
        w, why = _as_compute(layer, dtype)
        if why:
            return why
        try:
            ev = eigenvalues_numpy(w).reshape(-1) / (layer.n if normalize else 1)
        except FloatingPointError:
            return _non_finite_reason(w)
        except np.linalg.LinAlgError as err:
            return f"eigensolver failed: {err}"
        return ev if ev.max() > 0 else _zero_reason(layer, dtype)

    order = sorted(layers, key=lambda la: -la.matrices.size)  # largest first: none finishes last alone
    spectra, failures = {}, {}
    for layer, result in zip(order, host_map(one, order, on_done=lambda _: progress.update(1)), strict=True):
        if isinstance(result, str):
            failures[layer.name] = result
        else:
            spectra[layer.name] = np.sort(result)
    return spectra, failures


def _as_compute(layer: Layer, dtype) -> tuple[np.ndarray | None, str | None]:
    """The layer's matrices in the compute dtype, or why they cannot be: NaN/Inf stored, or entries the dtype cannot hold."""
    stored = np.asarray(layer.matrices)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is what is being checked
        if not (np.isfinite(stored.sum()) or np.isfinite(stored).all()):  # one cheap pass; a sum may overflow alone
            return None, _non_finite_reason(stored)
        w = stored.astype(dtype, copy=False)
        fits = np.isfinite(w.sum()) or np.isfinite(w).all()
    if not fits:
        top = float(np.abs(stored.astype(np.float64)).max())
        return None, f"entries up to {top:.3g} overflow the compute precision {np.dtype(dtype).name} (use precision='float64')"
    return w, None


def _non_finite_reason(w: np.ndarray) -> str:
    bad = int((~np.isfinite(w)).sum())
    if bad:
        return f"{bad} NaN/Inf entries in the weights"
    return f"W^T W overflows {w.dtype} (entries up to {np.abs(w).max():.3g})"


def _zero_reason(layer: Layer, dtype) -> str:
    """Why every eigenvalue came out 0: the matrix is zero, or its Gram matrix underflows the compute dtype."""
    top = float(np.abs(np.asarray(layer.matrices, dtype=np.float64)).max())
    if top == 0:
        return "all-zero matrix: no spectrum to fit"
    return (f"W^T W underflows {np.dtype(dtype).name} (entries at most {top:.3g}): its eigenvalues are not "
            "representable; rescale W")


def _pad(spectra: list[np.ndarray], dtype, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([s.size for s in spectra])
    out = np.zeros((len(spectra), width or lengths.max()), dtype)
    for i, s in enumerate(spectra):
        out[i, : s.size] = s
    return out, lengths


def _options(options: dict[str, Any]) -> AnalyzeOptions:
    opts = AnalyzeOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    if opts.precision not in ("float32", "float64"):
        raise ValueError(f"precision must be 'float32' or 'float64', got {opts.precision!r}")
    return opts


def _select(model: Any, opts: AnalyzeOptions):
    """The layers to fit, the skipped tensors, and every tensor's position in the model (for row order)."""
    weights = io.load_weights(model)
    layers, skipped = extract_layers(weights, layers=opts.layers, exclude=opts.exclude, types=opts.types,
                                     min_evals=opts.min_evals, max_evals=opts.max_evals, conv_layout=opts.conv_layout)
    return layers, skipped, {name: i for i, name in enumerate(weights)}


def layer_spectra(model: Any, **options: Any) -> dict[str, np.ndarray]:
    """The eigenvalues (ascending; pooled for conv) of every layer :func:`analyze` would fit, by name."""
    opts = _options(options)
    layers, _, _ = _select(model, opts)
    with jax.enable_x64(opts.precision == "float64"):
        spectra, _ = _spectra(layers, np.dtype(opts.precision), opts.normalize, _NoBar())
    return spectra


class _NoBar:
    def update(self, _):
        pass


def analyze(model: Any, *, progress: bool | None = None, **options: Any) -> pd.DataFrame:
    """Analyse every weight matrix of ``model``: one row per tensor (see ``COLUMNS``).

    Args:
        model: anything :func:`rmtkit.io.load_weights` reads: a path (``.safetensors``, HF directory,
            ``.npz``, PyTorch file), a Flax NNX module or state, a Linen params pytree, a dict of arrays.
        progress: show a progress bar (default: only for models with more than 20 matrices).
        **options: fields of :class:`AnalyzeOptions`.

    Returns:
        A DataFrame with the columns of ``COLUMNS``; ``df.attrs["rmtkit"]`` records the version,
        options and eigenvalue convention. ``phase`` is one of :class:`rmtkit.phases.Phase`'s labels.

    Raises:
        rmtkit.io.CheckpointError: the model cannot be read.
        ValueError: an unknown option value.
    """
    opts = _options(options)
    layers, skipped, order = _select(model, opts)
    dtype = np.dtype(opts.precision)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(layers), desc="rmtkit analyze", unit="layer",
               disable=not (progress if progress is not None else len(layers) > 20))
    with jax.enable_x64(opts.precision == "float64"):
        spectra, failures = _spectra(layers, dtype, opts.normalize, bar)
        ok = [layer for layer in layers if layer.name in spectra]
        table = _fit_and_measure(ok, [spectra[layer.name] for layer in ok], opts, dtype) if ok else {}
    bar.close()

    rows = []
    for layer in layers:
        row = {"name": layer.name, "kind": layer.kind, "shape": str(layer.shape), "N": layer.n, "M": layer.m,
               "Q": layer.n / layer.m, "num_evals": layer.num_evals}
        if layer.name in failures:
            row.update(status="failed", reason=failures[layer.name], phase=None, warning=None)
        else:
            row.update(table[layer.name])
        rows.append(row)
    for s in skipped:
        rows.append({"name": s.name, "shape": str(s.shape), "status": "skipped", "reason": s.reason})
    rows.sort(key=lambda row: order.get(row["name"], len(order)))  # model order (stable)
    df = pd.DataFrame(rows).reindex(columns=COLUMNS + (RANDOMIZE_COLUMNS if opts.randomize else []))
    options_json = json.loads(json.dumps(dataclasses.asdict(opts)))  # tuples as lists: as a JSON file records them
    df.attrs["rmtkit"] = {"version": _version(), "options": options_json, "convention": opts.convention,
                          "precision": opts.precision}
    return df


def _fit_and_measure(layers: list[Layer], spectra: list[np.ndarray], opts: AnalyzeOptions, dtype) -> dict[str, dict]:
    resolved = [resolve_spectrum(s, n=layer.n, m=layer.m, storage_dtype=layer.dtype, compute_dtype=dtype)
                for layer, s in zip(layers, spectra, strict=True)]
    evals, lengths = _pad([r.evals for r in resolved], dtype)
    q = np.array([layer.n / layer.m for layer in layers], dtype)
    # The MP law is fitted to the non-null part: W = G P with P of rank r has the MP(N / r) spectrum there.
    nonnull = np.array([r.num_nonnull for r in resolved])
    mp_evals, _ = _pad([r.evals[r.num_null:] for r in resolved], dtype, width=evals.shape[1])  # one program per shape
    mp = fit_marchenko_pastur(mp_evals, q * lengths / nonnull, lengths=nonnull)
    pl = fit_power_law(evals, lengths=lengths, method=opts.pl_method, xmax=opts.pl_xmax)  # zeros are left out
    verdict = np.array([FitStatus.TOO_FEW if r.evals.size < 3 else FitStatus.RANK_DEFICIENT if r.num_nonnull < 3 else
                        FitStatus.DEGENERATE if r.degenerate else FitStatus.OK for r in resolved])
    mp, pl = _overrule(mp, verdict), _overrule(pl, verdict)
    ev = jnp.asarray(evals)
    top = metrics.lambda_max(ev)
    hard = lengths - np.array([r.num_null for r in resolved])
    rtol = np.array([r.rtol for r in resolved], dtype)
    mp_ok, pl_ok = np.asarray(mp.status) == FitStatus.OK, np.asarray(pl.status) == FitStatus.OK
    alpha = np.asarray(pl.alpha)
    fields = {
        "lambda_max": np.asarray(top),
        "alpha": alpha, "xmin": np.asarray(pl.xmin), "D": np.asarray(pl.D), "sigma": np.asarray(pl.sigma),
        "n_tail": np.where(pl_ok, np.asarray(pl.n_tail), np.nan),
        "mp_sigma": np.asarray(mp.sigma), "lambda_plus": np.asarray(mp.lambda_plus),
        "num_spikes": np.where(mp_ok, np.asarray(mp.num_spikes), np.nan), "mp_D": np.asarray(mp.D),
        "mp_softrank": np.asarray(metrics.mp_soft_rank(mp.lambda_plus, top)),
        "stable_rank": np.asarray(metrics.stable_rank(ev)),
        "hard_rank": hard, "rank_loss": lengths - hard,
        "entropy": np.asarray(metrics.matrix_entropy(ev, 1, 1, rtol=rtol)),
        "log_norm": np.asarray(metrics.log_norm(ev)),
        "log_spectral_norm": np.asarray(metrics.log_spectral_norm(ev)),
        "alpha_weighted": np.asarray(metrics.alpha_weighted(alpha, top)),
        "log_alpha_norm": np.asarray(metrics.log_alpha_norm(ev, jnp.asarray(alpha))),
    }
    explained = phases.explain_phase(evals, lengths, q, mp=mp, pl=pl, hard_rank=hard)
    out = {}
    for i, layer in enumerate(layers):
        row = {k: _scalar(v[i]) for k, v in fields.items()}
        row["phase"] = explained[i]["phase"]
        row["phase_reason"] = explained[i]["reason"]
        row["mp_status"] = FitStatus(int(mp.status[i])).label
        row["pl_status"] = FitStatus(int(pl.status[i])).label
        row["status"], row["reason"] = _row_status(row, resolved[i], layer)
        row["warning"] = layer_warning(row)
        out[layer.name] = row
    if opts.randomize:
        for name, extra in randomization_baseline(layers, spectra, opts, dtype).items():
            out[name].update(extra)
    return out


#: Numbers an ``ok`` row must have; each is NaN only where a fit failed, and then the row says which.
_NUMBERS = ("lambda_max", "alpha", "xmin", "D", "sigma", "n_tail", "mp_sigma", "lambda_plus", "num_spikes", "mp_D",
            "mp_softrank", "stable_rank", "hard_rank", "rank_loss", "entropy", "log_norm", "log_spectral_norm",
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
        if label != "ok":
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
    return ("partial" if reasons else "ok"), "; ".join(reasons + notes) or None


def randomization_baseline(layers: list[Layer], spectra: list[np.ndarray], opts: AnalyzeOptions, dtype) -> dict[str, dict]:
    """Shuffle each ``W`` elementwise (seeded), and compare: its MP edge, correlation traps, ESD distance.

    A correlation trap is an eigenvalue of the *shuffled* matrix beyond its own MP threshold
    (``l+ + 3 Delta_TW``): shuffling destroys correlations, so what survives it comes from a few very
    large entries. ``rand_distance`` is the two-sample KS distance between the ESDs of ``W`` and of
    its shuffle.
    """
    key = jax.random.key(opts.seed)
    shuffled = []
    for i, layer in enumerate(layers):
        w = np.asarray(layer.matrices, dtype)
        flat = np.asarray(jax.random.permutation(jax.random.fold_in(key, i), w.reshape(-1)))
        ev = np.asarray(eigenvalues(flat.reshape(w.shape), normalize=opts.normalize))
        shuffled.append(np.sort(ev.reshape(-1)))
    evals, lengths = _pad(shuffled, dtype)
    q = np.array([layer.n / layer.m for layer in layers], dtype)
    fit = fit_marchenko_pastur(evals, q, lengths=lengths)
    out = {}
    for i, layer in enumerate(layers):
        a, b = spectra[i], shuffled[i]
        grid = np.concatenate([a, b])
        dist = np.max(np.abs(np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size))
        ok = int(fit.status[i]) == FitStatus.OK  # a failed fit of the shuffle counts no trap: NaN, not -1
        spikes = int(fit.num_spikes[i]) if ok else np.nan
        out[layer.name] = {"rand_lambda_plus": _scalar(fit.lambda_plus[i]), "rand_num_spikes": spikes,
                           "correlation_traps": spikes, "rand_distance": float(dist)}
    return out


_MP_LIKE = ("random-like", "bleeding-out", "bulk+spikes")
#: The categories a ``warning`` cell is made of (the text before ``":"`` of each part).
WARNING_CATEGORIES = ("under-trained", "over-trained", "unreliable", "rank-deficient")


def layer_warning(row: dict) -> str | None:
    """The ``warning`` of one analysed row: what a reader should know first, or None (docs/columns.md#warning).

    Rules, in this order, all that apply joined by ``", "`` (each starts with its category, the text
    before any ``":"``, which :func:`summarize` counts):

    - ``under-trained``: alpha > 6 ([MM-JMLR] §5; WeightWatcher's rule);
    - ``over-trained``: alpha < 2 (a tail heavier than any finite-variance law, [MPM-NC]);
    - ``unreliable: ...``, the power-law fit is not to be trusted, naming the test that failed:
      ``power-law fit <pl_status>`` (the fit itself failed); ``tail of k`` (``n_tail`` = k < 10
      eigenvalues); ``D d>c`` with ``c = 1.36 / sqrt(n_tail)``, the 5% critical value of the KS
      test; ``MP-like`` (phase random-like, bleeding-out or bulk+spikes with a successful MP fit:
      the "tail" is the bulk edge and a few spikes, so alpha says nothing about heavy tails);
    - ``rank-deficient: rank r of M``: ``rank_loss > 0`` eigenvalues at the null floor.
    """
    found = []
    alpha = row.get("alpha")
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


def summarize(df: pd.DataFrame) -> pd.Series:
    """Model-level figures over the analysed layers: means of the metrics, phase and warning counts.

    ``alpha_hat`` is the [MPM-NC] model metric, the mean of ``alpha * log10(lambda_max)`` over the
    layers; ``mean_log_alpha_norm`` the mean log alpha-norm; ``layers_in_alpha_hat`` and
    ``layers_in_log_alpha_norm`` say how many layers entered each. ``phase_<label>`` counts layers
    per phase, ``warning_<category>`` layers per warning category (a layer may count in several).
    Layers are analysed when their status is ``ok`` or ``partial`` (a fit failed; its numbers are NaN).
    Means are over the finite values only: a failed fit's NaN never enters an average.
    """
    analysed = df[df["status"].isin(["ok", "partial"])]
    out = {"layers_analysed": len(analysed), "layers_ok": int((df["status"] == "ok").sum()),
           "layers_partial": int((df["status"] == "partial").sum()),
           "layers_skipped": int((df["status"] == "skipped").sum()),
           "layers_failed": int((df["status"] == "failed").sum())}
    for col in ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm", "stable_rank",
                "mp_softrank", "entropy", "num_spikes", "rank_loss"):
        values = pd.to_numeric(analysed[col], errors="coerce").astype(float)
        values = values[np.isfinite(values)]
        out[f"mean_{col}"] = float(values.mean()) if len(values) else np.nan
    out["alpha_hat"] = out.pop("mean_alpha_weighted")
    for col, key in (("alpha_weighted", "layers_in_alpha_hat"), ("log_alpha_norm", "layers_in_log_alpha_norm")):
        out[key] = int(np.isfinite(pd.to_numeric(analysed[col], errors="coerce").astype(float)).sum())
    for label in phases.Phase.labels():
        out[f"phase_{label}"] = int((analysed["phase"] == label).sum())
    categories = [c for w in analysed.get("warning", []) for c in set(warning_categories(w))]  # layers, not parts
    for category in WARNING_CATEGORIES:
        out[f"warning_{category}"] = categories.count(category)
    out["layers_without_warning"] = int(sum(not warning_categories(w) for w in analysed.get("warning", [])))
    return pd.Series(out)


def _scalar(v):
    v = np.asarray(v).item()
    return None if isinstance(v, float) and np.isnan(v) else v


def _version() -> str:
    from rmtkit import __version__

    return __version__
