"""``analyze(model)``: per-layer spectra, MP and power-law fits, capacity metrics and the 5+1 phases.

The pipeline ([MM-JMLR] §3-5, [MPM-NC]; REFERENCE §1-4):

1. load the tensors (:func:`rmtkit.io.load_weights`) and split them into weight matrices and
   skipped tensors with reasons (:func:`rmtkit.layers.extract_layers`);
2. eigenvalues of ``W^T W`` (``normalize=True`` divides by ``N``) in batches of same-shape matrices,
   on the fastest correct path for the backend (:func:`rmtkit.eigenvalues`), in float64 by default;
3. one padded batch of spectra: the automatic MP fit and the power-law fit, each a single jitted
   call; capacity metrics; the phase of every layer (:func:`rmtkit.phases.classify_phases`);
4. optionally a seeded randomization baseline (elementwise shuffle of each ``W``).

Every tensor appears in the output: analysed rows have ``status == "ok"``, the others
``"skipped"`` or ``"failed"`` with the ``reason``.
"""

from __future__ import annotations

import dataclasses
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
from rmtkit.spectrum import eigenvalues, eigenvalues_numpy
from rmtkit.status import status_reason

COLUMNS = [
    "name", "kind", "shape", "N", "M", "Q", "num_evals", "lambda_max", "alpha", "xmin", "D", "sigma", "n_tail",
    "mp_sigma", "lambda_plus", "num_spikes", "mp_D", "mp_softrank", "stable_rank", "hard_rank", "rank_loss",
    "entropy", "log_norm", "log_spectral_norm", "alpha_weighted", "log_alpha_norm", "phase", "phase_reason", "status", "reason",
]


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
        mats = [np.asarray(layer.matrices, dtype=dtype) for layer in group]
        good = []
        for layer, w in zip(group, mats, strict=True):
            if np.isfinite(w.sum()):  # one cheap pass: NaN/Inf poison the sum
                good.append((layer, w))
            else:
                failures[layer.name] = _non_finite_reason(w)
        if good:
            ev = np.asarray(eigenvalues(np.stack([w for _, w in good]), normalize=normalize)).reshape(len(good), -1)
            for (layer, _), e in zip(good, ev, strict=True):
                _keep(layer, e, spectra, failures)
        progress.update(len(group))
    return spectra, failures


def _spectra_host(layers, dtype, normalize, progress):
    def one(layer: Layer) -> np.ndarray | str:
        w = np.asarray(layer.matrices, dtype=dtype)
        try:
            return eigenvalues_numpy(w).reshape(-1) / (layer.n if normalize else 1)
        except FloatingPointError:
            return _non_finite_reason(w)
        except np.linalg.LinAlgError as err:
            return f"eigensolver failed: {err}"

    order = sorted(layers, key=lambda la: -la.matrices.size)  # largest first: none finishes last alone
    spectra, failures = {}, {}
    for layer, result in zip(order, host_map(one, order, on_done=lambda _: progress.update(1)), strict=True):
        if isinstance(result, str):
            failures[layer.name] = result
        else:
            _keep(layer, result, spectra, failures)
    return spectra, failures


def _keep(layer: Layer, ev: np.ndarray, spectra: dict, failures: dict) -> None:
    if ev.max() > 0:
        spectra[layer.name] = np.sort(ev)
    else:
        failures[layer.name] = "all-zero matrix: no spectrum to fit"


def _non_finite_reason(w: np.ndarray) -> str:
    bad = int((~np.isfinite(w)).sum())
    if bad:
        return f"{bad} NaN/Inf entries in the weights"
    return f"W^T W overflows {w.dtype} (entries up to {np.abs(w).max():.3g})"


def _pad(spectra: list[np.ndarray], dtype) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([s.size for s in spectra])
    out = np.zeros((len(spectra), lengths.max()), dtype)
    for i, s in enumerate(spectra):
        out[i, : s.size] = s
    return out, lengths


def _options(options: dict[str, Any]) -> AnalyzeOptions:
    opts = AnalyzeOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    if opts.precision not in ("float32", "float64"):
        raise ValueError(f"precision must be 'float32' or 'float64', got {opts.precision!r}")
    return opts


def _select(model: Any, opts: AnalyzeOptions):
    weights = io.load_weights(model)
    return extract_layers(weights, layers=opts.layers, exclude=opts.exclude, types=opts.types,
                          min_evals=opts.min_evals, max_evals=opts.max_evals, conv_layout=opts.conv_layout)


def layer_spectra(model: Any, **options: Any) -> dict[str, np.ndarray]:
    """The eigenvalues (ascending; pooled for conv) of every layer :func:`analyze` would fit, by name."""
    opts = _options(options)
    layers, _ = _select(model, opts)
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
    layers, skipped = _select(model, opts)
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
            row.update(status="failed", reason=failures[layer.name], phase=None)
        else:
            row.update(table[layer.name])
        rows.append(row)
    for s in skipped:
        rows.append({"name": s.name, "shape": str(s.shape), "status": "skipped", "reason": s.reason})
    df = pd.DataFrame(rows).reindex(columns=COLUMNS + (["rand_lambda_plus", "rand_num_spikes", "correlation_traps",
                                                        "rand_distance"] if opts.randomize else []))
    df.attrs["rmtkit"] = {"version": _version(), "options": dataclasses.asdict(opts), "convention": opts.convention,
                          "precision": opts.precision}
    return df


def _fit_and_measure(layers: list[Layer], spectra: list[np.ndarray], opts: AnalyzeOptions, dtype) -> dict[str, dict]:
    evals, lengths = _pad(spectra, dtype)
    q = np.array([layer.n / layer.m for layer in layers], dtype)
    mp = fit_marchenko_pastur(evals, q, lengths=lengths)
    pl = fit_power_law(evals, lengths=lengths, method=opts.pl_method, xmax=opts.pl_xmax)
    ev = jnp.asarray(evals)
    top = metrics.lambda_max(ev)
    n = np.array([layer.n for layer in layers])
    m = np.array([layer.m for layer in layers])
    rtol = metrics.gram_rtol(n, m, lengths, dtype)  # ranks at the resolution of the Gram route
    hard = np.asarray(metrics.hard_rank(ev, n, m, rtol=rtol))
    entropy = np.asarray(metrics.matrix_entropy(ev, n, m, rtol=rtol))
    alpha = np.asarray(pl.alpha)
    fields = {
        "lambda_max": np.asarray(top),
        "alpha": alpha, "xmin": np.asarray(pl.xmin), "D": np.asarray(pl.D), "sigma": np.asarray(pl.sigma),
        "n_tail": np.asarray(pl.n_tail),
        "mp_sigma": np.asarray(mp.sigma), "lambda_plus": np.asarray(mp.lambda_plus),
        "num_spikes": np.asarray(mp.num_spikes), "mp_D": np.asarray(mp.D),
        "mp_softrank": np.asarray(metrics.mp_soft_rank(mp.lambda_plus, top)),
        "stable_rank": np.asarray(metrics.stable_rank(ev)),
        "hard_rank": hard, "rank_loss": lengths - hard, "entropy": entropy,
        "log_norm": np.asarray(metrics.log_norm(ev)),
        "log_spectral_norm": np.asarray(metrics.log_spectral_norm(ev)),
        "alpha_weighted": np.asarray(metrics.alpha_weighted(alpha, top)),
        "log_alpha_norm": np.asarray(metrics.log_alpha_norm(ev, jnp.asarray(alpha))),
    }
    explained = phases.explain_phase(evals, lengths, q, mp=mp, pl=pl, hard_rank=hard)
    pl_status = np.asarray(pl.status)
    out = {}
    for i, layer in enumerate(layers):
        row = {k: _scalar(v[i]) for k, v in fields.items()}
        row["phase"] = explained[i]["phase"]
        row["phase_reason"] = explained[i]["reason"]
        reasons = [f"power-law fit: {status_reason(pl_status[i])}"] if pl_status[i] else []
        if int(mp.status[i]):
            reasons.append(f"MP fit: {status_reason(int(mp.status[i]))}")
        row["status"] = "ok"
        row["reason"] = "; ".join(reasons) or None
        out[layer.name] = row
    if opts.randomize:
        for name, extra in randomization_baseline(layers, spectra, opts, dtype).items():
            out[name].update(extra)
    return out


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
        out[layer.name] = {"rand_lambda_plus": float(fit.lambda_plus[i]), "rand_num_spikes": int(fit.num_spikes[i]),
                           "correlation_traps": int(fit.num_spikes[i]), "rand_distance": float(dist)}
    return out


def summarize(df: pd.DataFrame) -> pd.Series:
    """Model-level figures over the analysed layers: means of the metrics, ``alpha_hat`` ([MM-SDM]) and phase counts."""
    ok = df[df["status"] == "ok"]
    out = {"layers_analysed": len(ok), "layers_skipped": int((df["status"] == "skipped").sum()),
           "layers_failed": int((df["status"] == "failed").sum())}
    for col in ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm", "stable_rank",
                "mp_softrank", "entropy", "num_spikes", "rank_loss"):
        out[f"mean_{col}"] = float(ok[col].astype(float).mean()) if len(ok) else np.nan
    out["alpha_hat"] = out.pop("mean_alpha_weighted")
    for label in phases.Phase.labels():
        out[f"phase_{label}"] = int((ok["phase"] == label).sum())
    return pd.Series(out)


def _scalar(v):
    v = np.asarray(v).item()
    return None if isinstance(v, float) and np.isnan(v) else v


def _version() -> str:
    from rmtkit import __version__

    return __version__
