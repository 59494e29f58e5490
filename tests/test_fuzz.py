"""Property-based fuzzing (hypothesis) of the checkpoint reader, the fits, the spectra cache, the result readers
and the CLI's output paths (issue 12, scope 5; issue 23, item 4).

- the safetensors reader against generated hostile headers: it returns exactly the tensors an
  independent oracle accepts, with the bytes of the file, or raises a ``CheckpointError`` that
  names the file; nothing else;
- the index reader against hostile shard paths (``..``, absolute, symlinks out of the folder);
- the fits against hostile spectra (ties, round-off, huge and tiny scales, degenerate,
  rank-deficient, NaN, negative, mixed good and bad rows): every row has a status, numbers exactly
  when it is OK, and a row's result does not depend on the rows next to it;
- spectra cache entries overwritten with hostile content (bytes, other lengths, 2-D, NaN, integers):
  the layer's true spectrum comes back, never the entry's wrong one, never a crash;
- the result readers on hostile JSON and CSV with hostile sidecars: a table or a ValueError naming
  the file, nothing else;
- the CLI's ``-o`` against inputs, links to inputs, a sidecar that is an input, devices, folders and
  ``--plots``: exit 2 before any work or a regular file written, and no input ever changed.

Shapes are fixed so that each jitted fit compiles once; ``max_examples`` keeps the file near 30 s on an idle
2-core machine (about 60 s while a training sweep shares it).
"""

import itertools
import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rmtkit
from rmtkit import checkpoints
from rmtkit.resolution import resolve_spectrum
from rmtkit.status import FitStatus

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FITS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ANALYZE = settings(max_examples=5, deadline=None)

# ---------------------------------------------------------------------------------------------
# Safetensors headers
# ---------------------------------------------------------------------------------------------

ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1, "U32": 4, "C64": 8}
small_int = st.integers(-3, 12)
json_junk = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3),
                      st.integers(-(2**70), 2**70))
dtypes = st.one_of(st.sampled_from(sorted(ITEMSIZE)), st.sampled_from(["F4", "X9", ""]), st.integers(0, 3))
shapes = st.one_of(st.lists(small_int, max_size=3), st.lists(st.sampled_from([2**40, 2**70]), min_size=1, max_size=2),
                   json_junk)
offsets = st.one_of(st.lists(st.integers(-50, 400), min_size=2, max_size=2), st.lists(small_int, max_size=3), json_junk)
entries = st.one_of(st.fixed_dictionaries({"dtype": dtypes, "shape": shapes, "data_offsets": offsets}),
                    st.fixed_dictionaries({"dtype": dtypes, "shape": shapes}), json_junk)


@st.composite
def consistent_entries(draw):
    """Entries that are valid on their own (the fuzz then only breaks overlaps and bounds)."""
    code = draw(st.sampled_from(sorted(ITEMSIZE)))
    shape = draw(st.lists(st.integers(0, 6), max_size=2))
    begin = draw(st.integers(0, 200))
    return {"dtype": code, "shape": shape, "data_offsets": [begin, begin + math.prod(shape) * ITEMSIZE[code]]}


headers = st.dictionaries(st.text(min_size=1, max_size=4), st.one_of(entries, consistent_entries()), max_size=4)


def oracle(header: dict, data_size: int) -> bool:
    """Whether a header is valid, written from the safetensors format description alone."""
    spans = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= set(e):
            return False
        shape, off, code = e["shape"], e["data_offsets"], e["dtype"]
        ints = lambda v: isinstance(v, list) and all(type(i) is int and i >= 0 for i in v)  # noqa: E731
        if not isinstance(code, str) or not ints(shape) or not ints(off) or len(off) != 2 or off[0] > off[1]:
            return False
        if off[1] > data_size or (code in ITEMSIZE and math.prod(shape) * ITEMSIZE[code] != off[1] - off[0]):
            return False
        if off[1] > off[0]:
            spans.append(tuple(off))
    spans.sort()
    return all(b[0] >= a[1] for a, b in itertools.pairwise(spans))


@FUZZ
@given(header=headers, data_size=st.integers(0, 400))
def test_safetensors_reader_accepts_exactly_the_valid_headers(tmp_path, header, data_size):
    data = bytes(range(256)) * 2
    blob = json.dumps(header).encode()
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data[:data_size])
    try:
        out = checkpoints.read_safetensors(path)
    except checkpoints.CheckpointError as err:
        assert str(err).startswith(f"{path}: ")
        assert not oracle(header, data_size), f"valid header refused: {err}"
        return
    assert oracle(header, data_size), "invalid header accepted"
    assert set(out) == set(header) - {"__metadata__"}
    for name, tensor in out.items():
        e = header[name]
        assert tuple(tensor.shape) == tuple(e["shape"])
        if isinstance(tensor, checkpoints.UnsupportedTensor):
            assert e["dtype"] not in ITEMSIZE and tensor.reason == f"dtype {e['dtype']} is not supported by rmtkit"
        else:
            begin, end = e["data_offsets"]
            assert np.ascontiguousarray(tensor).tobytes() == data[begin:end]  # the file's own bytes, no others


@FUZZ
@given(garbage=st.binary(max_size=64), declared=st.one_of(st.integers(0, 80), st.integers(0, 2**64 - 1)))
def test_safetensors_reader_on_garbage_raises_checkpoint_error_only(tmp_path, garbage, declared):
    path = tmp_path / "g.safetensors"
    path.write_bytes(struct.pack("<Q", declared) + garbage)
    try:
        out = checkpoints.read_safetensors(path)
    except checkpoints.CheckpointError as err:
        assert str(err).startswith(f"{path}: ")
    else:  # a valid (probably empty) header made of garbage: then it really was one
        header = json.loads(garbage[:declared])
        assert isinstance(header, dict) and oracle(header, len(garbage) - declared) and len(out) <= len(header)


shard_paths = st.one_of(
    st.sampled_from(["a.safetensors", "sub/b.safetensors", "./a.safetensors", "link/secret.safetensors",
                     "../outside/secret.safetensors", "sub/../../outside/secret.safetensors", "", ".", "sub",
                     "/etc/passwd", "missing.safetensors"]),
    st.text(alphabet="ab./\\~", min_size=1, max_size=12),
)


@FUZZ
@given(paths=st.dictionaries(st.sampled_from(["a", "b", "s"]), shard_paths, min_size=1, max_size=3))
def test_index_never_reads_outside_the_model_folder(tmp_path_factory, paths):
    root = tmp_path_factory.mktemp("idx")
    model, outside = root / "model", root / "outside"
    (model / "sub").mkdir(parents=True)
    outside.mkdir()
    checkpoints.write_safetensors(model / "a.safetensors", {"a": np.ones(2, np.float32)})
    checkpoints.write_safetensors(model / "sub" / "b.safetensors", {"b": np.ones(3, np.float32)})
    checkpoints.write_safetensors(outside / "secret.safetensors", {"s": np.full(4, 7, np.float32)})
    (model / "link").symlink_to(outside)
    (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": paths}))
    try:
        out = checkpoints.load_weights(model)
    except checkpoints.CheckpointError as err:
        assert str(model) in str(err) or "tensor" in str(err)
        return
    assert "s" not in out  # the secret never comes back
    for name, shard in paths.items():
        resolved = (model / shard).resolve()
        assert resolved.is_relative_to(model.resolve()) and Path(shard).parts.count("..") == 0
        assert name in out


# ---------------------------------------------------------------------------------------------
# Hostile spectra
# ---------------------------------------------------------------------------------------------

M = 40  # eigenvalues per spectrum (fixed: one compiled program per fit)
ROWS = 4


@st.composite
def hostile_spectrum(draw):
    """``(eigenvalues (M,), length, kind)`` of one of the hostile families, at a random scale."""
    kind = draw(st.sampled_from(["good", "ties", "roundoff", "degenerate", "rank1", "rank_deficient", "nan", "negative",
                                 "zeros", "short"]))
    scale = 10.0 ** draw(st.integers(-150, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.chisquare(4, M) / 4
    if kind == "ties":
        x = np.repeat(np.arange(1.0, M // 8 + 1), 8)[:M] ** 2
    elif kind == "roundoff":
        x = np.repeat(np.arange(1.0, M // 8 + 1), 8)[:M] ** 2 * (1 + 8 * M * 2.2e-16 * rng.uniform(-1, 1, M))
    elif kind == "degenerate":
        x = 1 + 1e-15 * rng.uniform(-1, 1, M)
    elif kind == "rank1":
        x = np.r_[1e-14 * rng.uniform(0, 1, M - 1), 1.0]
    elif kind == "rank_deficient":
        x[: M // 2] = 1e-15 * rng.uniform(0, 1, M // 2)
    elif kind == "nan":
        x[rng.integers(M)] = np.nan
    elif kind == "negative":
        x[0] = -1.0
    elif kind == "zeros":
        x[:] = 0
    length = 2 if kind == "short" else M
    return np.sort(x) * scale, length, kind


FAILS = {"nan": FitStatus.NON_FINITE, "negative": FitStatus.NEGATIVE, "zeros": FitStatus.DEGENERATE,
         "short": FitStatus.TOO_FEW, "degenerate": FitStatus.DEGENERATE}


def batch(rows):
    x = np.zeros((ROWS, M))
    lengths = np.zeros(ROWS, int)
    for i, (ev, n, _) in enumerate(rows):
        x[i, :n] = ev[:n]
        lengths[i] = n
    return x, lengths


@FITS
@given(rows=st.lists(hostile_spectrum(), min_size=ROWS, max_size=ROWS), q=st.floats(1.0, 4.0))
def test_mp_fit_rows_have_a_status_and_numbers_only_when_ok(rows, q):
    x, lengths = batch(rows)
    fit = rmtkit.fit_marchenko_pastur(x, q, lengths=lengths)
    alone = rmtkit.fit_marchenko_pastur(np.roll(x, 1, axis=0), q, lengths=np.roll(lengths, 1))
    for i, (_, n, kind) in enumerate(rows):
        status = int(fit.status[i])
        if kind in FAILS:
            assert status == FAILS[kind], (kind, status)
        numbers = np.array([fit.sigma[i], fit.lambda_plus[i], fit.lambda_minus[i], fit.D[i], fit.threshold[i]])
        if status == FitStatus.OK:
            assert np.isfinite(numbers).all() and fit.sigma[i] > 0 and 0 <= fit.num_spikes[i] <= n
            assert 0 <= fit.lambda_minus[i] <= fit.lambda_plus[i] <= fit.threshold[i] and 0 <= fit.D[i] <= 1
        else:
            assert np.isnan(numbers).all() and int(fit.num_spikes[i]) == -1
        # a row's fit does not depend on its neighbours (mixed good and bad rows)
        j = (i + 1) % ROWS
        assert int(alone.status[j]) == status
        np.testing.assert_array_equal(np.asarray(alone.sigma[j]), np.asarray(fit.sigma[i]))


@FITS
@given(rows=st.lists(hostile_spectrum(), min_size=ROWS, max_size=ROWS))
def test_power_law_rows_have_a_status_and_numbers_only_when_ok(rows):
    x, lengths = batch(rows)
    fit = rmtkit.fit_power_law(x, lengths=lengths, method="csn")
    for i, (ev, n, kind) in enumerate(rows):
        status = int(fit.status[i])
        if kind in ("nan", "negative", "short"):
            assert status == FAILS[kind]
        if status == FitStatus.OK:
            positive = ev[:n][ev[:n] > 0]
            assert np.isfinite([fit.alpha[i], fit.xmin[i], fit.D[i], fit.sigma[i]]).all() and fit.alpha[i] >= 1
            assert positive.min() <= fit.xmin[i] <= positive.max() and 2 <= fit.n_tail[i] <= n
        else:
            assert np.isnan([fit.alpha[i], fit.xmin[i], fit.D[i]]).all() and int(fit.n_tail[i]) == 0


@FITS
@given(kind=st.sampled_from(["ties", "roundoff", "degenerate", "rank1", "rank_deficient", "good"]),
       exponent=st.integers(-100, 100), seed=st.integers(0, 2**16),
       storage=st.sampled_from(["float64", "float32", "bfloat16", "float16"]))
def test_resolution_finds_degeneracy_nulls_and_ties_at_any_scale(kind, exponent, seed, storage):
    rng = np.random.default_rng(seed)
    scale = 10.0**exponent
    n, m = 80, M
    eps = 2.2e-16
    if kind in ("ties", "roundoff"):
        x = np.repeat(np.arange(1.0, M // 8 + 1), 8) ** 2 * (1 + (kind == "roundoff") * 4 * M * eps * rng.uniform(-1, 1, M))
    elif kind == "degenerate":
        x = 1 + M * eps * rng.uniform(-1, 1, M)
    elif kind == "rank1":
        x = np.r_[M * eps * rng.uniform(0, 1, M - 1), 1.0]
    elif kind == "rank_deficient":
        x = np.r_[M * eps * rng.uniform(0, 1, M // 2), rng.chisquare(4, M // 2) + 1]
    else:
        x = np.linspace(0.5, 3.0, M) ** 2
    r = resolve_spectrum(np.sort(x) * scale, n=n, m=m, storage_dtype=storage, compute_dtype="float64")
    assert r.evals.shape == (M,) and np.all(np.diff(r.evals) >= 0)
    distinct = np.unique(r.evals[r.num_null:])
    if kind in ("ties", "roundoff"):  # 5 tied groups, whatever the round-off and the scale
        assert distinct.size == 5 and not r.degenerate and r.num_null == 0
        np.testing.assert_allclose(distinct / scale, np.arange(1.0, 6.0) ** 2, rtol=1e-12)
    elif kind == "degenerate":
        assert r.degenerate
    elif kind == "rank1":
        assert (r.num_null, r.num_nonnull) == (M - 1, 1) and np.all(r.evals[:-1] == 0)
    elif kind == "rank_deficient":
        assert r.num_null == M // 2 and not r.degenerate
    else:
        assert (r.num_null, r.num_tied, r.degenerate) == (0, 0, False)


@pytest.mark.slow
@ANALYZE
@given(kinds=st.lists(st.sampled_from(["good", "orthogonal", "rank1", "rank3", "tiny", "nan", "zero"]),
                      min_size=3, max_size=3),
       storage=st.sampled_from(["float64", "float32", "float16"]), seed=st.integers(0, 2**16))
def test_analyze_rows_never_ok_next_to_nan(kinds, storage, seed):
    rng = np.random.default_rng(seed)
    n, m = 90, 60
    make = {
        "good": lambda: rng.standard_normal((n, m)),
        "orthogonal": lambda: np.linalg.qr(rng.standard_normal((n, m)))[0],
        "rank1": lambda: np.outer(rng.standard_normal(n), rng.standard_normal(m)),
        "rank3": lambda: rng.standard_normal((n, 3)) @ rng.standard_normal((3, m)),
        "tiny": lambda: rng.standard_normal((n, m)) * 1e-4,
        "nan": lambda: np.full((n, m), np.nan),
        "zero": lambda: np.zeros((n, m)),
    }
    weights = {f"{k}{i}": make[k]().astype(storage) for i, k in enumerate(kinds)}
    df = rmtkit.analyze(weights).to_frame().set_index("name")
    numbers = ["alpha", "xmin", "D", "n_tail", "mp_sigma", "lambda_plus", "num_spikes", "mp_D", "mp_soft_rank",
               "alpha_weighted", "log_alpha_norm"]
    for name, row in df.iterrows():
        kind = name.rstrip("0123456789")
        values = np.array([np.nan if row[c] is None else float(row[c]) for c in numbers])
        assert row.status in ("ok", "partial", "failed")
        if row.status == "ok":
            assert np.isfinite(values).all()
            assert pd.isna(row.reason) or "non-null" in row.reason or "merged with their ties" in row.reason
        if row.status == "partial":
            assert "ok" in (row.mp_status, row.pl_status) or np.isnan(values).all()
            assert row.reason and ("MP fit" in row.reason or "power-law fit" in row.reason)
        expected = {"nan": "failed", "zero": "failed", "orthogonal": "partial", "rank1": "partial", "good": "ok"}
        if kind in expected:
            assert row.status == expected[kind], (name, row.status, row.reason)
        if kind == "rank1":
            assert (row.mp_status, row.pl_status, row.hard_rank) == ("rank_deficient", "rank_deficient", 1)
    summary = rmtkit.summarize(df.reset_index())
    assert summary["mean_num_spikes"] >= 0 or np.isnan(summary["mean_num_spikes"])


def test_fuzz_shapes_are_what_the_strategies_say():
    # Guards the fixed shapes the fits compile once for (a change here would multiply the run time).
    assert (ROWS, M) == (4, 40) and FUZZ.max_examples == 40 and FITS.max_examples == 15 and ANALYZE.max_examples == 5


pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# ---------------------------------------------------------------------------------------------
# Spectra cache entries, result readers, CLI output paths (issue 23)
# ---------------------------------------------------------------------------------------------

OPTS = {"normalize": False, "precision": "float64", "conv_layout": "auto"}
W_CACHE = np.random.default_rng(23).standard_normal((30, 20))


def _numpy_spectra(layers):
    """NumPy's eigenvalues of W^T W per layer (no JAX), as the cache's ``compute``."""
    return {la.name: np.sort(np.linalg.eigvalsh(np.asarray(la.matrices, np.float64)[0].T
                                                @ np.asarray(la.matrices, np.float64)[0])) for la in layers}, {}


arrays = st.one_of(
    st.binary(max_size=200),  # not an .npy at all
    st.builds(lambda v, shape: np.resize(np.array(v, np.float64), shape),
              st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=40),
              st.sampled_from([(0,), (19,), (20,), (21,), (4, 5), (20, 1), (1, 20)])),
    st.builds(lambda n: np.arange(n), st.integers(0, 25)),
)


@FUZZ
@given(content=arrays, store=st.sampled_from(["memory", "file"]))
def test_a_cache_entry_is_used_only_when_it_can_be_the_layers_spectrum(tmp_path_factory, content, store):
    from rmtkit.cache import cached_spectra
    from rmtkit.layers import extract_layers

    folder = tmp_path_factory.mktemp("cache")
    if store == "file":
        path = folder / "m.safetensors"
        checkpoints.write_safetensors(path, {"w": W_CACHE.astype(np.float32)})
        layers = lambda: extract_layers(checkpoints.load_weights(path))[0]  # noqa: E731
    else:
        layers = lambda: extract_layers({"w": W_CACHE})[0]  # noqa: E731
    cache = folder / "cache"
    truth = cached_spectra(_numpy_spectra, layers(), cache, **OPTS)[0]["w"]
    (entry,) = cache.iterdir()
    if isinstance(content, bytes):
        entry.write_bytes(content)
    elif store == "file":
        with np.load(entry, allow_pickle=False) as z:
            members = {k: z[k] for k in z.files}
        (key,) = [k for k in members if k != "__identity__"]
        np.savez(entry, **{**members, key: content})
    else:
        np.save(entry, content)
    got = cached_spectra(_numpy_spectra, layers(), cache, **OPTS)[0]["w"]
    np.testing.assert_array_equal(got, truth)  # the entry's content, when usable, is the truth itself


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                          max_size=3), max_leaves=8)
payloads = st.one_of(json_values, st.fixed_dictionaries({"layers": json_values}, optional={
    "dtypes": st.one_of(json_values, st.dictionaries(st.sampled_from(["name", "status", "alpha"]),
                                                     st.sampled_from(["object", "float64", "Int64", "int8", "bogus"]))),
    "summary": json_values, "version": json_values}))


@FUZZ
@given(payload=payloads, csv=st.text(max_size=80), as_csv=st.booleans())
def test_result_readers_return_a_table_or_a_value_error_naming_the_file(tmp_path_factory, payload, csv, as_csv):
    from rmtkit.results import read_results, results_sidecar

    folder = tmp_path_factory.mktemp("results")
    path = folder / ("r.csv" if as_csv else "r.json")
    if as_csv:
        path.write_text(csv)
        results_sidecar(path).write_text(json.dumps(payload))
    else:
        path.write_text(json.dumps(payload))
    try:
        df = read_results(path)
    except ValueError as err:
        assert "r.csv" in str(err) or "r.json" in str(err), err
    else:
        assert isinstance(df, pd.DataFrame)


@settings(max_examples=12, deadline=None)
@given(output=st.sampled_from(["input", "link", "sidecar of input", "/dev/null", "folder", "missing folder",
                               "fresh", "plots"]),
       fmt=st.sampled_from(["csv", "json", "table"]), series=st.booleans())
def test_cli_outputs_never_replace_an_input_or_a_non_regular_file(tmp_path_factory, output, fmt, series):
    import os

    from rmtkit import cli

    folder = tmp_path_factory.mktemp("cli")
    a, b = folder / "a.safetensors", folder / "b.safetensors"
    for p, seed in ((a, 0), (b, 1)):
        checkpoints.write_safetensors(p, {"fc.kernel": np.random.default_rng(seed).standard_normal((30, 20))
                                          .astype(np.float32)})
    (folder / "link.csv").symlink_to(a)
    (folder / "dir").mkdir()
    target = {"input": a, "link": folder / "link.csv", "sidecar of input": folder / "a",
              "/dev/null": Path("/dev/null"), "folder": folder / "dir", "missing folder": folder / "no" / "r.csv",
              "fresh": folder / "r.out", "plots": folder / "figs"}[output]
    if output == "sidecar of input":  # -o a --format csv would write its sidecar a.meta.json, a link to the input
        (folder / "a.meta.json").symlink_to(a)
    inputs = [a, b] if series else [a]
    before = {p: p.read_bytes() for p in (a, b)}
    argv = ["analyze", *map(str, inputs), "-o", str(target), "--format", fmt, "--no-progress"]
    if output == "plots":
        argv += ["--plots", str(target)]
    os.environ["RMTKIT_JAX_CACHE"] = "off"
    code = cli.main(argv)
    assert {p: p.read_bytes() for p in (a, b)} == before  # no input ever replaced
    assert Path("/dev/null").is_char_device() and (folder / "dir").is_dir()
    if output in ("input", "link", "/dev/null", "folder", "missing folder", "plots") or (
            output == "sidecar of input" and fmt == "csv"):
        assert code == cli.EXIT_INPUT, (output, fmt, code)
    else:
        assert code == cli.EXIT_OK and target.is_file() and not target.is_symlink()
