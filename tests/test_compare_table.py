"""``rmtkit compare A B`` reads like ``rmtkit analyze``: the same table (120 columns, --columns, --wide, --all,
--layers), only the compared rows by default with one line counting the others, its own progress label and
help, -o with the "written to" line and a sidecar, and analyze's exit codes over both models.

One MiniLM comparison (MiniLM against a perturbed copy) is made once per module; the other calls reuse its
eigenvalues (``--spectra``) and most restrict the layers.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from rmtkit import checkpoints
from rmtkit.cli import main
from rmtkit.compare import compare
from rmtkit.results import read_results
from tests.test_analyzer import minilm_path

WIDTH = 120


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """MiniLM (a) and a copy (b): every float matrix plus 10% of its scale of noise, ``pooler.dense.bias``
    removed (only in a), ``embeddings.token_type_embeddings.weight`` with 3 rows instead of 2 (shape changed).
    Compared once with -o as a CSV; its eigenvalues kept for the other calls."""
    folder = tmp_path_factory.mktemp("compare")
    weights = {k: np.asarray(v) for k, v in checkpoints.read_safetensors(minilm_path()).items()}
    rng = np.random.default_rng(0)
    b = {k: (v + 0.1 * v.std() * rng.standard_normal(v.shape)).astype(v.dtype)
         if v.ndim == 2 and v.dtype.kind == "f" else v for k, v in weights.items() if k != "pooler.dense.bias"}
    token_type = b["embeddings.token_type_embeddings.weight"]
    b["embeddings.token_type_embeddings.weight"] = np.concatenate([token_type, token_type[:1]])
    checkpoints.write_safetensors(folder / "b.safetensors", b)
    paths = [str(minilm_path()), str(folder / "b.safetensors")]
    spectra, csv = folder / "spectra", folder / "pair.csv"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["compare", *paths, "--no-progress", "--spectra", str(spectra), "--format", "csv", "-o", str(csv)])
    return dict(paths=paths, spectra=str(spectra), csv=csv, code=code, err=err.getvalue())


def run(pair, capsys, *flags):
    """``rmtkit compare A B FLAGS`` (the module's eigenvalues reused): exit code, stdout, stderr."""
    capsys.readouterr()
    code = main(["compare", *pair["paths"], "--spectra", pair["spectra"], *flags])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(text: str) -> list[list[str]]:
    """The rows of the printed table: between the header (``name ...``) and the first blank or ``(`` line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("name"))
    rows = []
    for line in lines[start:]:
        if not line or line.startswith("("):
            break
        rows.append(line.split())
    return rows


def test_o_writes_the_csv_its_sidecar_and_says_where(pair):
    assert pair["code"] == 0
    csv = pair["csv"]
    sidecar = csv.with_name(csv.name + ".meta.json")
    assert pair["err"] == f"rmtkit: results written to {csv.resolve()} (provenance in {sidecar.resolve()})\n"
    side = json.loads(sidecar.read_text())
    assert side["rmtkit"]["compare"] == {"a": pair["paths"][0], "b": pair["paths"][1]}
    df = read_results(csv)  # the CSV and its sidecar belong together: the pair is read back with its dtypes
    status = df.set_index("name")["status"]
    assert (status == "compared").sum() == 39  # MiniLM's 39 matrices (the reshaped token types are too small)
    assert status["pooler.dense.bias"] == "only in a"
    assert status["embeddings.token_type_embeddings.weight"] == "not comparable"


def test_reasons_are_short_and_said_once_when_both_sides_agree(pair):
    df = read_results(pair["csv"]).set_index("name")
    assert df.loc["embeddings.position_ids", "reason"] == "int64 tensor: not a float weight (skipped in a and b)"
    assert df.loc["pooler.dense.bias", "reason"] == "not in b"
    assert df.loc["embeddings.token_type_embeddings.weight", "reason"] == "shape changed: (2, 384) in a, (3, 384) in b"
    assert df.loc["pooler.dense.bias", "status_a"] == "skipped" and pd.isna(df.loc["pooler.dense.bias", "status_b"])
    assert df["reason"].str.len().max() <= 80  # was 150: "not analysed in a: skipped (...); b: skipped (...)"


def test_default_table_fits_120_columns_and_shows_only_the_compared_rows(pair, capsys):
    code, out, err = run(pair, capsys)  # no --no-progress: the bars show, with compare's own label
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= WIDTH
    rows = table_rows(out)
    assert rows[0] == ["name", "alpha_a", "alpha_b", "phase_a", "phase_b", "esd_ks", "rel_frobenius"]
    assert len(rows) - 1 == 39 and "pooler.dense.weight" in [r[0] for r in rows]
    # 65 = 62 bias/norm tensors, position ids, the reshaped token types, the bias only in a: the most frequent
    # reasons named, as many as fit 120 columns
    assert ("(65 row(s) not compared hidden: 1-D tensor (bias, norm or scalar): 62, int64 tensor: 1, ...; "
            "--all shows them)") in out.splitlines()
    assert out.startswith(f"a: {pair['paths'][0]}\nb: {pair['paths'][1]}\nname")
    assert "rmtkit compare a" in err and "rmtkit compare b" in err and "rmtkit analyze" not in err


def test_layers_and_no_progress(pair, capsys):
    code, out, err = run(pair, capsys, "--layers", "pooler*", "--no-progress")
    assert (code, err) == (0, "")  # no progress bar, nothing else on stderr
    rows = table_rows(out)
    assert [r[0] for r in rows[1:]] == ["pooler.dense.weight"]
    assert "(103 row(s) not compared hidden: filtered: 101, " in out


def test_columns_pick_the_table_columns_counts_print_as_integers(pair, capsys):
    code, out, _ = run(pair, capsys, "--layers", "encoder.layer.0.*", "--no-progress",
                       "--columns", "name,delta_num_spikes,delta_alpha")
    assert code == 0
    rows = table_rows(out)
    assert rows[0] == ["name", "delta_num_spikes", "delta_alpha"] and len(rows) - 1 == 6
    assert all(r[1].lstrip("-").isdigit() for r in rows[1:])  # a change of a count is a whole number
    code, _, err = run(pair, capsys, "--no-progress", "--layers", "pooler*", "--columns", "name,nonsense")
    assert code == 2 and "--columns: unknown column(s) nonsense" in err


def test_all_shows_every_row_with_why_within_120_columns(pair, capsys):
    code, out, _ = run(pair, capsys, "--all", "--no-progress", "--layers", "pooler*")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= WIDTH
    rows = table_rows(out)
    assert rows[0][-1] == "reason" and len(rows) - 1 == 104  # every tensor name of either model
    assert "not compared hidden" not in out
    by_name = {r[0]: " ".join(r[1:]) for r in rows[1:]}
    assert by_name["pooler.dense.bias"].endswith("not in b")
    assert by_name["pooler.dense"].endswith(" -")  # compared: no reason
    assert "filtered: name does" in by_name["embeddings.position_ids"]  # the analysis's reason, first


def test_wide_prints_every_column(pair, capsys):
    code, out, _ = run(pair, capsys, "--wide", "--no-progress", "--layers", "pooler*")
    header = table_rows(out)[0]
    assert code == 0 and header == list(read_results(pair["csv"]).columns)


def test_nothing_to_compare_exits_3(pair, capsys):
    code, _, err = run(pair, capsys, "--no-progress", "--layers", "no-such-layer")
    assert code == 3 and "no layer passed the filters in either model" in err


def test_usage_errors_point_to_compare_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "only-one.safetensors"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith("(see rmtkit compare --help)\n")
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0 and text.startswith("usage: rmtkit compare ")
    assert "Exit codes: as rmtkit analyze's" in text
    for flag in ("--layers", "--columns", "--wide", "--all", "--no-progress", "-o OUTPUT"):
        assert flag in text, flag


def test_a_failed_layer_exits_1_and_its_row_says_why(tmp_path, capsys):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((60, 40)).astype(np.float32)
    broken = w.copy()
    broken[0, 0] = np.nan
    checkpoints.write_safetensors(tmp_path / "a.safetensors", {"fc.kernel": w, "head.kernel": w})
    checkpoints.write_safetensors(tmp_path / "b.safetensors", {"fc.kernel": w, "head.kernel": broken})
    assert main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"), "--all"]) == 1
    out, err = capsys.readouterr()
    assert "1 layer(s) failed, 0 partly (a fit failed), in a and b together" in err
    row = compare(tmp_path / "a.safetensors", tmp_path / "b.safetensors", progress=False).set_index("name")
    assert row.loc["head.kernel", "status"] == "not comparable"
    assert row.loc["head.kernel", "reason"].endswith("(failed in b)")
    assert row.loc["head.kernel", "reason"].split(" (failed")[0] in out  # the --all table shows why
