"""Results people can read (issue 13): the warning column, the CLI table, files that round-trip, the columns page."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rmtkit
from rmtkit import results
from rmtkit.analyzer import COLUMNS, RANDOMIZE_COLUMNS, layer_warning
from tests.test_analyzer import minilm_path

DOCS = Path(__file__).parent.parent / "docs" / "columns.md"


def rmtkit_cli(*args):
    return subprocess.run([sys.executable, "-m", "rmtkit", *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def small():
    """A few layers of every status: a 256 x 10 classifier head, a heavy-tailed and a Gaussian layer, a NaN one, a bias."""
    rng = np.random.default_rng(0)
    weights = {"body.kernel": rng.standard_t(2.0, (600, 300)), "gauss.kernel": rng.standard_normal((400, 200)),
               "head.kernel": rng.standard_normal((256, 10)), "head.bias": np.zeros(10), "nan.kernel": np.full((80, 60), np.nan)}
    return rmtkit.analyze(weights, randomize=True, seed=1, progress=False).to_frame()


@pytest.mark.parametrize(("row", "expected"), [
    ({"alpha": 7.2, "n_tail": 40, "D": 0.05, "pl_status": "ok", "mp_status": "ok", "phase": "bulk-decay",
      "rank_loss": 0, "hard_rank": 384}, "under-trained"),
    ({"alpha": 1.6, "n_tail": 5, "D": 0.05, "pl_status": "ok", "mp_status": "ok", "phase": "heavy-tailed",
      "rank_loss": 0, "hard_rank": 384}, "over-trained, unreliable: tail of 5"),
    ({"alpha": 3.0, "n_tail": 25, "D": 0.4, "pl_status": "ok", "mp_status": "ok", "phase": "heavy-tailed",
      "rank_loss": 0, "hard_rank": 384}, "unreliable: D 0.40>0.27"),  # 1.36 / sqrt(25) = 0.272
    ({"alpha": 12.0, "n_tail": 16, "D": 0.1, "pl_status": "ok", "mp_status": "ok", "phase": "random-like",
      "rank_loss": 0, "hard_rank": 384}, "under-trained, unreliable: MP-like"),
    ({"alpha": None, "n_tail": None, "D": None, "pl_status": "tail_too_short", "mp_status": "ok",
      "phase": "rank-collapse", "rank_loss": 334, "hard_rank": 50},
     "unreliable: power-law fit tail_too_short, rank-deficient: rank 50 of 384"),
    ({"alpha": 3.0, "n_tail": 60, "D": 0.05, "pl_status": "ok", "mp_status": "ok", "phase": "heavy-tailed",
      "rank_loss": 0, "hard_rank": 384}, None),
])
def test_warning_rules(row, expected):
    assert layer_warning(row) == expected


def test_small_model_rows_warnings_and_summary(small):
    df = small.set_index("name")
    assert list(small["name"]) == ["body.kernel", "gauss.kernel", "head.bias", "head.kernel", "nan.kernel"]  # as loaded
    assert df.loc["head.kernel", "status"] in ("ok", "partial") and df.loc["head.kernel", "num_evals"] == 10
    assert "unreliable" in df.loc["gauss.kernel", "warning"]  # a Gaussian layer: alpha means nothing
    assert pd.isna(df.loc["head.bias", "warning"]) and pd.isna(df.loc["nan.kernel", "warning"])  # not analysed
    summary = rmtkit.summarize(small)
    analysed = small[small.status.isin(["ok", "partial"])]
    for category in ("under-trained", "over-trained", "unreliable", "rank-deficient"):
        assert summary[f"warning_{category}"] == analysed["warning"].fillna("").str.contains(category).sum()
    assert summary["layers_in_alpha_hat"] == np.isfinite(analysed["alpha_weighted"].astype(float)).sum() == 3
    assert summary["alpha_hat"] == pytest.approx(analysed["alpha_weighted"].astype(float).mean())


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_read_results_round_trip(tmp_path, small, fmt):
    path = tmp_path / f"r.{fmt}"
    results.write_results(small, path, fmt)
    back = results.read_results(path)
    pd.testing.assert_frame_equal(back, small)
    assert back.attrs["rmtkit"] == small.attrs["rmtkit"] and back.attrs["rmtkit"]["options"]["seed"] == 1


def test_plain_pandas_reads_the_csv_and_json_has_integers(tmp_path, small):
    results.write_results(small, tmp_path / "r.csv", "csv", rmtkit.summarize(small))
    plain = pd.read_csv(tmp_path / "r.csv")
    assert list(plain.columns) == list(small.columns) and len(plain) == 5
    assert plain["num_evals"].dropna().tolist() == [300, 200, 10, 60]  # the bias row has none
    assert "num_evals" in (tmp_path / "r.csv").read_text().splitlines()[0]  # the header is the first line
    assert ",300," in (tmp_path / "r.csv").read_text().splitlines()[1]  # counts written as integers
    side = json.loads(results.results_sidecar(tmp_path / "r.csv").read_text())
    assert side["summary"]["layers_analysed"] == 3 and side["dtypes"]["alpha"] == "float64"
    payload = json.loads(results.write_results(small, None, "json"))
    row = payload["layers"][0]
    assert isinstance(row["num_evals"], int) and isinstance(row["n_tail"], int) and isinstance(row["N"], int)


def test_columns_doc_lists_every_column():
    text = DOCS.read_text().split("\n## Warning\n")[0]
    documented = re.findall(r"^\| `([A-Za-z_]+)` \|", text, flags=re.M)
    assert documented == COLUMNS + RANDOMIZE_COLUMNS


@pytest.mark.slow
def test_cli_minilm_table_fits_120_and_shows_warnings():
    out = rmtkit_cli("analyze", minilm_path(), "--no-progress")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(map(len, lines)) <= 120
    header = lines[0].split()
    assert header == ["name", "shape", "alpha", "D", "phase", "phase_rule", "warning"]
    rows = [line.split() for line in lines[1:40]]  # name, "(N,", "M)", alpha, D, phase, phase_rule, warning words
    assert len(rows) == 39 and "(65 skipped row(s) hidden" in lines[40]
    for cells in rows:
        alpha, rule, warning = float(cells[3]), cells[6], " ".join(cells[7:])
        assert rule in rmtkit.phases.RULE_CODES.values(), cells
        if alpha > 6:
            assert warning.startswith("under-trained"), cells
        elif alpha < 2:
            assert warning.startswith("over-trained"), cells
    assert sum(float(c[3]) > 6 for c in rows) == 4 and sum(float(c[3]) < 2 for c in rows) == 1
    df = rmtkit_cli("analyze", minilm_path(), "--no-progress", "--all", "--columns", "name,num_evals,status")
    assert df.returncode == 0, df.stderr
    body = df.stdout.split("\n\n")[0].splitlines()
    assert len(body) == 1 + 104 and "hidden" not in df.stdout
    assert re.search(r"encoder\.layer\.0\.attention\.self\.query\.weight\s+384\s+ok$", df.stdout, re.M)  # not 384.000


@pytest.mark.slow
def test_cli_version_output_line_and_columns(tmp_path):
    out = rmtkit_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"rmtkit {rmtkit.__version__}"
    np.savez(tmp_path / "w.npz", w=np.random.default_rng(0).standard_normal((300, 100)))
    out = rmtkit_cli("analyze", tmp_path / "w.npz", "--randomize", "--format", "csv", "-o", tmp_path / "r.csv")
    assert out.returncode == 0, out.stderr
    assert f"results written to {(tmp_path / 'r.csv').resolve()}" in out.stderr
    assert results.read_results(tmp_path / "r.csv").attrs["rmtkit"]["options"]["randomize"] is True
    out = rmtkit_cli("analyze", tmp_path / "w.npz", "--randomize")
    assert out.stdout.splitlines()[0].split()[-2:] == ["correlation_traps", "rand_distance"]
    out = rmtkit_cli("analyze", tmp_path / "w.npz", "--columns", "name,nope")
    assert out.returncode == 2 and "unknown column(s) nope" in out.stderr
