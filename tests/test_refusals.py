"""Issue 12, "Why": every bogus number, lying checkpoint, traceback and hang listed there, as a regression test.

Each case ends in a clear error naming the problem (CLI: exit 2, one line), a non-ok status with a
reason, or the right number.
"""

import dataclasses
import json
import os
import signal
import struct

import ml_dtypes
import numpy as np
import pandas as pd
import pytest

import rmtkit
from rmtkit import checkpoints, cli
from rmtkit.checkpoints import validation

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def orthogonal(n=400, m=200, seed=0):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((n, m)))[0]


def raw_safetensors(path, header, data=b""):
    """A .safetensors file with exactly this header (a dict, or raw JSON bytes) and data section."""
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def run_cli(capsys, monkeypatch, *args):
    """The CLI in this process (no interpreter start-up per case): exit code, stdout, stderr."""
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    code = cli.main(["analyze", *map(str, args), "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *needles: str) -> None:
    assert err.startswith("rmtkit: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


# ---------------------------------------------------------------------------------------------
# 1. Bogus numbers marked ok
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32, ml_dtypes.bfloat16, np.float16])
def test_orthogonal_matrix_is_degenerate_at_its_storage_precision(dtype):
    # Was: float32 alpha 1.1e8, bf16 2472, f16 4.1e4, all "ok"; only the float64 copy was degenerate.
    df = rmtkit.analyze({"w": orthogonal().astype(dtype)}).to_frame().set_index("name")
    row = df.loc["w"]
    assert (row.status, row.mp_status, row.pl_status) == ("partial", "degenerate", "degenerate")
    assert pd.isna(row.alpha) and pd.isna(row.mp_sigma) and pd.isna(row.mp_soft_rank) and pd.isna(row.num_spikes)
    assert f"precision of {np.dtype(dtype).name} weights" in row.reason
    assert row.stable_rank == pytest.approx(200, rel=0.02)  # the metrics that exist are still numbers


def test_orthogonal_float32_checkpoint_does_not_exit_0(tmp_path, capsys, monkeypatch):
    checkpoints.write_safetensors(tmp_path / "o.safetensors", {"w": orthogonal().astype(np.float32)})
    code, out, err = run_cli(capsys, monkeypatch, tmp_path / "o.safetensors", "--format", "csv")
    assert code == cli.EXIT_LAYER_FAILED and "1 partly" in err
    row = pd.read_csv(pd.io.common.StringIO(out), comment="#").iloc[0]
    assert (row.status, row.pl_status) == ("partial", "degenerate") and np.isnan(row.alpha)


def test_round_off_ties_at_the_top_give_the_power_law_of_the_exact_values():
    # Singular values 1..10, each 20 times: was alpha 7e14 (the fit saw the round-off between copies).
    u, v = orthogonal(400, 200, 2), orthogonal(200, 200, 3)
    w = (u * np.repeat(np.arange(1.0, 11.0), 20)) @ v.T
    row = rmtkit.analyze({"w": w}).to_frame().set_index("name").loc["w"]
    # powerlaw 2.0.0: Fit(eigenvalues, parameter_ranges={"alpha": [1, 1000]}) gives alpha 2.8407751792605, xmin 36.
    assert row.status == "ok" and row.alpha == pytest.approx(2.8407751792605, rel=1e-9)
    assert row.xmin == pytest.approx(36.0, rel=1e-9) and "merged with their ties" in row.reason


def test_float32_round_off_ties_at_the_top_are_judged_at_the_stored_precision():
    # Issue 23: singular values 1..8, each 30 times, stored in float32: was alpha 1.9e8, status ok, "under-trained"
    # (the float32 rounding spreads the 30 copies of 64 by 2e-8 lambda_max, beyond the eigensolver's tie tolerance).
    u, v = orthogonal(400, 240, 2), orthogonal(240, 240, 3)
    w = ((u * np.repeat(np.arange(1.0, 9.0), 30)) @ v.T).astype(np.float32)
    row = rmtkit.analyze({"w": w}, progress=False).to_frame().set_index("name").loc["w"]
    # powerlaw 2.0.0: Fit(np.repeat(np.arange(1.0, 9.0), 30) ** 2, parameter_ranges={"alpha": [1, 1000]}).alpha
    assert row.status == "ok" and row.alpha == pytest.approx(2.3288177428118977, rel=1e-5)
    assert "merged with their ties" in row.reason and row.warning != "under-trained"


def test_rank_one_matrix_is_not_fitted_on_round_off():
    # Was: alpha 1.37 at xmin 1.7e-13 (the round-off of 299 zero eigenvalues).
    rng = np.random.default_rng(4)
    row = rmtkit.analyze({"w": np.outer(rng.standard_normal(500), rng.standard_normal(300))}).to_frame().set_index("name").loc["w"]
    assert (row.status, row.mp_status, row.pl_status) == ("partial", "rank_deficient", "rank_deficient")
    assert pd.isna(row.alpha) and pd.isna(row.xmin) and row.hard_rank == 1 and row.rank_loss == 299
    assert "1 eigenvalue(s) above the null floor (299 of 300" in row.reason


def test_rank_ten_matrix_is_fitted_on_its_non_null_part():
    # Was: 257 "spikes" (the MP bulk fitted to round-off).
    rng = np.random.default_rng(5)
    w = rng.standard_normal((1000, 10)) @ rng.standard_normal((10, 500))
    row = rmtkit.analyze({"w": w}).to_frame().set_index("name").loc["w"]
    assert row.status == "ok" and row.hard_rank == 10 and row.rank_loss == 490
    assert 0 <= row.num_spikes <= 10 and row.phase == "rank-collapse"
    assert row.xmin > 1e-6 * row.lambda_max  # the tail starts among the 10 real eigenvalues
    assert "fits on the 10 non-null eigenvalues" in row.reason


def test_failed_fits_are_nan_and_summarize_ignores_them():
    # Was: mp_soft_rank 0 for a failed MP fit, num_spikes -1 averaged (mean_num_spikes -0.5).
    rng = np.random.default_rng(6)
    df = rmtkit.analyze({"good": rng.standard_normal((400, 200)), "orth": orthogonal()}).to_frame()
    rows = df.set_index("name")
    assert pd.isna(rows.loc["orth", "mp_soft_rank"]) and pd.isna(rows.loc["orth", "num_spikes"])
    assert pd.isna(rows.loc["orth", "n_tail"])
    s = rmtkit.summarize(df)
    assert s["mean_num_spikes"] == rows.loc["good", "num_spikes"] >= 0
    assert s["mean_mp_soft_rank"] == pytest.approx(rows.loc["good", "mp_soft_rank"])
    assert (s["layers_analysed"], s["layers_ok"], s["layers_partial"]) == (2, 1, 1)


def test_no_ok_row_has_a_nan_number():
    rng = np.random.default_rng(7)
    weights = {"g": rng.standard_normal((300, 100)), "o": orthogonal(300, 100), "r1": np.outer(np.ones(300), np.ones(100)),
               "tiny": rng.standard_normal((300, 100)) * 1e-170}
    df = rmtkit.analyze(weights).to_frame()
    ok = df[df.status == "ok"]
    assert list(ok.name) == ["g"]
    numbers = ok[["alpha", "xmin", "D", "sigma", "n_tail", "mp_sigma", "lambda_plus", "num_spikes", "mp_D", "mp_soft_rank",
                  "stable_rank", "entropy", "alpha_weighted", "log_alpha_norm"]].astype(float)
    assert np.isfinite(numbers.to_numpy()).all()
    assert set(df[df.status != "ok"].status) == {"partial", "failed"}


@pytest.mark.parametrize("knob, value", [("n_grid", 1), ("tw_factor", float("nan")), ("n_refine", -1),
                                         ("n_iter", -2), ("tw_factor", -1.0), ("n_grid", 2.5)])
def test_mp_fit_knobs_are_validated(knob, value):
    ev = np.linspace(0.1, 2.0, 100)
    with pytest.raises(ValueError, match=knob):
        rmtkit.fit_marchenko_pastur(ev, 2.0, **{knob: value})
    with pytest.raises(ValueError, match=knob):
        rmtkit.fit_marchenko_pastur(ev[None], 2.0, **{knob: value})


def test_power_law_xmax_and_xmin_are_validated_per_row():
    # Was: a NaN xmax reported as "fewer than 3 valid eigenvalues".
    x = np.tile(np.linspace(1, 10, 50), (2, 1))
    with pytest.raises(ValueError, match="xmax must be positive and finite, got nan for row 1"):
        rmtkit.fit_power_law(x, xmax=np.array([10.0, np.nan]), method="csn")
    with pytest.raises(ValueError, match="xmin must be positive and finite"):
        rmtkit.fit_power_law(x, xmin=np.array([-1.0, 2.0]), method="csn")
    with pytest.raises(ValueError, match="xmin must be a positive finite number"):
        rmtkit.fit_power_law(x[0], xmin=float("nan"), method="csn")


def test_underflow_and_overflow_are_named_as_such():
    rng = np.random.default_rng(8)
    tiny = rmtkit.analyze({"w": rng.standard_normal((100, 80)) * 1e-170}).to_frame().set_index("name").loc["w"]
    assert tiny.status == "failed" and tiny.reason.startswith("W^T W underflows float64 (entries at most")
    huge = rmtkit.analyze({"w": rng.standard_normal((100, 80)) * 1e150}, precision="float32").to_frame().set_index("name").loc["w"]
    assert huge.status == "failed" and "overflow the compute precision float32" in huge.reason
    assert "NaN" not in huge.reason
    zero = rmtkit.analyze({"w": np.zeros((100, 80))}).to_frame().set_index("name").loc["w"]
    assert zero.reason == "all-zero matrix: no spectrum to fit"


# ---------------------------------------------------------------------------------------------
# 2. Lying checkpoints
# ---------------------------------------------------------------------------------------------

F32_40 = {"dtype": "F32", "shape": [10], "data_offsets": [0, 40]}


@pytest.mark.parametrize("entry, message", [
    ({"dtype": "F32", "shape": [10], "data_offsets": [-20000, 0]}, "data_offsets must be [begin, end] with 0 <= begin"),
    ({"dtype": "F32", "shape": [-1, 100], "data_offsets": [0, 40]}, "shape must be a list of non-negative integers"),
    ({"dtype": "F32", "shape": [2**70], "data_offsets": [0, 40]}, "needs 4722366482869645213696 bytes"),
    ({"dtype": "F32", "shape": None, "data_offsets": [0, 40]}, "shape must be a list"),
    ({"dtype": "F32", "shape": [10], "data_offsets": [0, 4000]}, "run past the data section"),
    ({"dtype": "F32", "shape": [20], "data_offsets": [0, 40]}, "needs 80 bytes but data_offsets [0, 40] hold 40"),
    ({"dtype": 7, "shape": [10], "data_offsets": [0, 40]}, "dtype must be a string"),
    ({"shape": [10], "data_offsets": [0, 40]}, "lacks dtype"),
    (3, "header entry is a int"),
    ("F32", "header entry is a str"),
])
def test_lying_header_entries_are_refused_naming_file_and_tensor(tmp_path, entry, message):
    path = raw_safetensors(tmp_path / "m.safetensors", {"ok": F32_40, "bad": entry}, bytes(40))
    with pytest.raises(checkpoints.CheckpointError) as err:
        checkpoints.read_safetensors(path)
    assert str(err.value).startswith(f"{path}: tensor 'bad': ") and message in str(err.value)


def test_overlapping_offsets_and_duplicate_keys_are_refused(tmp_path):
    path = raw_safetensors(tmp_path / "o.safetensors",
                           {"a": F32_40, "b": {"dtype": "F32", "shape": [10], "data_offsets": [20, 60]}}, bytes(60))
    with pytest.raises(checkpoints.CheckpointError, match=r"tensors 'a' \(bytes 0..40\) and 'b' \(bytes 20..60\) overlap"):
        checkpoints.read_safetensors(path)
    header = b'{"a": {"dtype": "F32", "shape": [10], "data_offsets": [0, 40]}, "a": {"dtype": "F32", "shape": [10], ' \
             b'"data_offsets": [40, 80]}}'
    path = raw_safetensors(tmp_path / "d.safetensors", header, bytes(80))
    with pytest.raises(checkpoints.CheckpointError, match=r"d\.safetensors: safetensors header names 'a' twice"):
        checkpoints.read_safetensors(path)


def sharded(folder, weight_map):
    folder.mkdir(exist_ok=True)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


@pytest.fixture
def outside(tmp_path):
    (tmp_path / "outside").mkdir()
    checkpoints.write_safetensors(tmp_path / "outside" / "secret.safetensors", {"s": np.ones((60, 60), np.float32)})
    return tmp_path / "outside"


def test_index_paths_stay_inside_the_model_folder(tmp_path, outside):
    model = tmp_path / "model"
    for shard, message in [("../outside/secret.safetensors", "must be relative and stay inside"),
                           (str(outside / "secret.safetensors"), "must be relative and stay inside")]:
        sharded(model, {"s": shard})
        with pytest.raises(checkpoints.CheckpointError, match=message):
            checkpoints.load_weights(model)
    (model / "link").symlink_to(outside)
    sharded(model, {"s": "link/secret.safetensors"})
    with pytest.raises(checkpoints.CheckpointError, match="leads outside .*a symlink escaping the model folder"):
        checkpoints.load_weights(model)


def test_a_name_in_two_shards_or_two_nestings_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    checkpoints.write_safetensors(model / "a.safetensors", {"w": np.ones((3, 3), np.float32)})
    checkpoints.write_safetensors(model / "b.safetensors", {"w": np.zeros((3, 3), np.float32)})
    with pytest.raises(checkpoints.CheckpointError, match=r"tensor 'w' is stored in both .*a\.safetensors and .*b\.safetensors"):
        checkpoints.load_weights(model)  # without an index: every *.safetensors
    sharded(model, {"w": "a.safetensors"})
    (model / "b.safetensors").rename(model / "c.safetensors")
    checkpoints.write_safetensors(model / "a.safetensors", {"w": np.ones((3, 3), np.float32), "v": np.ones(2, np.float32)})
    sharded(model, {"w": "a.safetensors", "v": "c.safetensors"})
    checkpoints.write_safetensors(model / "c.safetensors", {"v": np.ones(2, np.float32)})
    with pytest.raises(checkpoints.CheckpointError, match="tensor 'v' is stored in both"):
        checkpoints.load_weights(model)
    with pytest.raises(checkpoints.CheckpointError, match="two tensors flatten to the same name 'a.b'"):
        checkpoints.load_weights({"a": {"b": np.ones((60, 60))}, "a.b": np.zeros((60, 60))})


def test_index_that_is_not_an_object_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors.index.json").write_text("[1, 2]")
    with pytest.raises(checkpoints.CheckpointError, match=r"index\.json: not a safetensors index"):
        checkpoints.load_weights(model)


# ---------------------------------------------------------------------------------------------
# 3. Tracebacks and hangs
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def alarm():
    """Fail instead of hanging: a blocking open() is interrupted after 20 s."""

    def ring(*_):
        raise TimeoutError("hung for 20 s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name", ["w.npz", "w.npy", "w.safetensors"])
def test_fifo_is_refused_without_hanging(tmp_path, alarm, name):
    os.mkfifo(tmp_path / name)
    with pytest.raises(checkpoints.CheckpointError, match="not a regular file"):
        checkpoints.load_weights(tmp_path / name)


def test_truncated_npz_permission_and_long_names(tmp_path, monkeypatch):
    np.savez(tmp_path / "t.npz", a=np.ones((100, 100)), b=np.ones((100, 100)))
    raw = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(checkpoints.CheckpointError, match=r"t\.npz: (cannot read \.npz|array 'b' cannot be read)"):
        checkpoints.load_weights(tmp_path / "t.npz")
    with pytest.raises(checkpoints.CheckpointError, match="File name too long"):
        checkpoints.load_weights(tmp_path / ("x" * 300 + ".npz"))
    checkpoints.write_safetensors(tmp_path / "p.safetensors", {"w": np.ones(3, np.float32)})

    def denied(*_args, **_kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(validation, "open", denied, raising=False)  # root ignores chmod 000: deny at open()
    with pytest.raises(checkpoints.CheckpointError, match=r"p\.safetensors: cannot read \(Permission denied\)"):
        checkpoints.load_weights(tmp_path / "p.safetensors")


def test_unsupported_tensors_are_skipped_rows(tmp_path, capsys, monkeypatch):
    # Was: a U32 or C64 tensor, or a (0, 5) tensor with --min-evals 0, failed the whole file with exit 2.
    rng = np.random.default_rng(9)
    good = rng.standard_normal((80, 60)).astype(np.float32)
    checkpoints.write_safetensors(tmp_path / "m.safetensors", {"good": good, "u": np.ones((80, 60), np.uint32),
                                                     "c": np.ones((80, 60), np.complex64), "z": np.zeros((0, 5), np.float32)})
    code, out, err = run_cli(capsys, monkeypatch, tmp_path / "m.safetensors", "--min-evals", "0", "--format", "csv")
    assert code == cli.EXIT_OK, err
    rows = pd.read_csv(pd.io.common.StringIO(out), comment="#").set_index("name")
    assert rows.loc["good", "status"] == "ok"
    assert rows.loc["u", "reason"] == "uint32 tensor: not a float weight"
    assert rows.loc["c", "reason"] == "complex64 tensor: not a float weight"
    assert rows.loc["z", "reason"] == "empty tensor (shape (0, 5)): no eigenvalues"
    data = good.tobytes()
    path = raw_safetensors(tmp_path / "f4.safetensors", {"good": {"dtype": "F32", "shape": [80, 60],
                                                                  "data_offsets": [0, len(data)]},
                                                         "f4": {"dtype": "F4", "shape": [4], "data_offsets": [len(data),
                                                                                                              len(data) + 2]}},
                           data + bytes(2))
    rows = rmtkit.analyze(path).to_frame().set_index("name")
    assert rows.loc["f4", "status"] == "skipped" and rows.loc["f4", "reason"] == "dtype F4 is not supported by rmtkit"


@pytest.mark.parametrize("header, message", [
    ({"w": 3}, "tensor 'w': header entry is a int"),
    ({"w": {"dtype": "F32", "shape": [2**70], "data_offsets": [0, 4]}}, "tensor 'w': shape [1180591620717411303424]"),
])
def test_cli_malformed_checkpoint_is_one_line_exit_2(tmp_path, capsys, monkeypatch, header, message):
    path = raw_safetensors(tmp_path / "m.safetensors", header, bytes(4))
    code, out, err = run_cli(capsys, monkeypatch, path)
    assert code == cli.EXIT_INPUT and out == ""
    one_line_error(err, str(path), message)


@pytest.mark.parametrize("case", ["regex", "missing_folder", "dev_full", "plots_file", "min_evals"])
def test_cli_arguments_are_checked_before_the_analysis(tmp_path, capsys, monkeypatch, case):
    checkpoints.write_safetensors(tmp_path / "m.safetensors", {"w": np.random.default_rng(0).standard_normal((80, 60))})
    model = tmp_path / "m.safetensors"
    args, needle = {
        "regex": (["--layers", "re:["], "bad regular expression 're:['"),
        "missing_folder": (["-o", tmp_path / "nope" / "r.csv"], "does not exist"),
        "dev_full": (["-o", "/dev/full"], "not a regular file"),
        "plots_file": (["--plots", model / "figs"], "cannot be created"),
        "min_evals": (["--min-evals", "-1"], "--min-evals must be >= 0"),
    }[case]
    monkeypatch.setattr(rmtkit, "analyze", lambda *a, **k: pytest.fail("the analysis started"))
    code, out, err = run_cli(capsys, monkeypatch, model, *args)
    assert code == cli.EXIT_INPUT and out == ""
    one_line_error(err, needle)


def test_cli_output_is_atomic_and_survives_lone_surrogates(tmp_path, capsys, monkeypatch):
    data = np.random.default_rng(1).standard_normal((80, 60)).astype(np.float32).tobytes()
    path = raw_safetensors(tmp_path / "s.safetensors", b'{"a\\udc80b": {"dtype": "F32", "shape": [80, 60], '
                           b'"data_offsets": [0, 19200]}}', data)
    (tmp_path / "r.json").write_text("old")
    code, _, err = run_cli(capsys, monkeypatch, path, "--format", "json", "-o", tmp_path / "r.json")
    assert code == cli.EXIT_OK, err
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["layers"][0]["name"] == "a\\udc80b" and payload["layers"][0]["status"] == "ok"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "s.safetensors"]  # no temporary file left


def test_cli_plots_with_a_failed_fit_write_the_other_figures(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "w.npz", good=rng.standard_normal((120, 80)), orth=orthogonal(120, 80),
             nan=np.full((120, 80), np.nan))
    code, _, err = run_cli(capsys, monkeypatch, tmp_path / "w.npz", "--plots", tmp_path / "figs", "-o", tmp_path / "r.csv")
    assert code == cli.EXIT_LAYER_FAILED, err
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["good.png", "model.png", "orth.png"]
    assert "1 layer(s) failed, 1 partly" in err and "Traceback" not in err


def test_a_failing_figure_does_not_stop_the_others(tmp_path):
    from rmtkit import plot

    rng = np.random.default_rng(3)
    analysis = rmtkit.analyze({"a": rng.standard_normal((120, 80)), "b": rng.standard_normal((120, 80))})
    evals = analysis.evals.copy()
    evals[0] = np.nan  # layer "a": a figure that cannot be drawn
    written, failures = plot.save_model_plots(dataclasses.replace(analysis, evals=evals), tmp_path)
    assert written == 2 and list(failures) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png", "model.png"]


def test_cli_outputs_never_replace_an_input(tmp_path, capsys):
    """-o naming an input (or its sidecar, or a shard of an input folder) is refused before any work; nothing changes."""
    from rmtkit.cli import main

    rng = np.random.default_rng(3)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    checkpoints.write_safetensors(a, {"fc.kernel": rng.standard_normal((60, 40)).astype(np.float32)})
    checkpoints.write_safetensors(b, {"fc.kernel": rng.standard_normal((60, 40)).astype(np.float32)})
    before = a.read_bytes(), b.read_bytes()
    folder = tmp_path / "hf"
    folder.mkdir()
    checkpoints.write_safetensors(folder / "model.safetensors",
                                  {"fc.kernel": rng.standard_normal((60, 40)).astype(np.float32)})
    link = tmp_path / "link.csv"
    link.symlink_to(a)
    cases = [
        ["analyze", str(a), "-o", str(a)],
        ["analyze", str(a), "-o", str(link), "--format", "csv"],  # a link to the input
        ["analyze", str(b), str(a), "-o", str(a)],  # a series
        ["analyze", str(b), "--base", str(a), "-o", str(a)],
        ["analyze", str(folder), "-o", str(folder / "model.safetensors")],  # a shard of the input folder
        ["compare", str(a), str(b), "-o", str(b)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        assert "results never replace what they were computed from" in capsys.readouterr().err
    assert (a.read_bytes(), b.read_bytes()) == before
    # A results file beside the shards is fine, and so is its rerun.
    assert main(["analyze", str(folder), "-o", str(folder / "results.csv"), "--format", "csv"]) == 0
    assert main(["analyze", str(folder), "-o", str(folder / "results.csv"), "--format", "csv"]) == 0


def test_cli_compare_checks_its_output_before_the_work(tmp_path, capsys, monkeypatch):
    import sys

    from rmtkit.cli import main

    compare_module = sys.modules["rmtkit.compare"]  # the module (rmtkit.compare is the function)
    called = []
    monkeypatch.setattr(compare_module, "compare", lambda *a, **k: called.append(1))
    a = tmp_path / "a.safetensors"
    checkpoints.write_safetensors(a, {"fc.kernel": np.ones((30, 20), np.float32)})
    assert main(["compare", str(a), str(a), "-o", str(tmp_path / "missing" / "c.csv")]) == 2
    assert "folder" in capsys.readouterr().err and called == []
    assert main(["compare", str(a), str(a), "-o", "/dev/null"]) == 2  # not a regular file: never replaced
    assert "not a regular file" in capsys.readouterr().err and called == []


def test_cli_output_and_plots_cannot_be_the_same_path(tmp_path, capsys):
    from rmtkit.cli import main

    a = tmp_path / "a.safetensors"
    checkpoints.write_safetensors(a, {"fc.kernel": np.ones((30, 20), np.float32)})
    assert main(["analyze", str(a), "-o", str(tmp_path / "x"), "--plots", str(tmp_path / "x")]) == 2
    assert "name the same path" in capsys.readouterr().err
