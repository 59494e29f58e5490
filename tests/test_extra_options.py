"""``vectors=True`` / ``traps=True`` as options of analyze() and the CLI: the numbers of rmtkit.extra.analyze_extra."""

import json

import numpy as np
import pandas as pd
import pytest

import rmtkit
from rmtkit import cli
from rmtkit.analyzer import COLUMNS
from rmtkit.extra import TRAP_COLUMNS, VECTOR_COLUMNS, analyze_extra


def model():
    rng = np.random.default_rng(3)
    wide = rng.standard_normal((60, 100))  # stored wide: the layer is its transpose
    wide[7, 81] = 40.0  # one entry far above sqrt(N + M): a correlation trap at (7, 81) of the stored tensor
    return {"wide": wide, "tall": rng.standard_t(3, (80, 40)), "nan": np.full((30, 20), np.nan), "bias": np.ones(3)}


def test_columns_equal_analyze_extra_and_default_leaves_the_table_alone():
    m = model()
    plain = rmtkit.analyze(m, progress=False).to_frame()
    assert list(plain.columns) == COLUMNS  # off by default: not one column more
    table = rmtkit.analyze(m, vectors=True, traps=True, seed=5, progress=False).to_frame().set_index("name")
    assert list(table.columns[-5:]) == VECTOR_COLUMNS + TRAP_COLUMNS
    # analyze_extra has no status for the NaN layer; the seed of layer i is seed + i in selection order, and
    # without "nan" (the third) the others keep their places
    extra = analyze_extra({k: v for k, v in m.items() if k != "nan"}, detx_tail=False, vectors=True, traps=True,
                          seed=5).set_index("name")
    for name in ("wide", "tall"):
        np.testing.assert_allclose(table.loc[name, VECTOR_COLUMNS].astype(float), extra.loc[name, VECTOR_COLUMNS].astype(float),
                                   rtol=1e-12)
        assert table.loc[name, "traps"] == extra.loc[name, "traps"]
        assert str(table.loc[name, "trap_entries"]) == str(extra.loc[name, "trap_entries"])
    # independent numbers: a random unit vector's participation ratio (M + 2) / 3, and the planted entry
    assert table.loc["wide", "vec_pr_random"] == pytest.approx((60 + 2) / 3)
    assert table.loc["tall", "vec_pr_random"] == pytest.approx((40 + 2) / 3)
    assert table.loc["wide", "trap_entries"].split("; ")[0] == "7,81"
    # rows without a spectrum get no diagnostics
    assert table.loc["nan", "status"] == "failed" and pd.isna(table.loc["nan", VECTOR_COLUMNS + TRAP_COLUMNS]).all()
    assert pd.isna(table.loc["bias", "vec_pr"])


def test_cli_vectors_and_traps(tmp_path, capsys):
    m = {k: v for k, v in model().items() if k != "nan"}
    np.savez(tmp_path / "m.npz", **m)
    args = ["analyze", str(tmp_path / "m.npz"), "--format", "json", "--no-progress"]
    assert cli.main(args + ["--vectors", "--traps", "--seed", "5"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {row["name"]: row for row in payload["layers"]}
    assert payload["options"]["vectors"] and payload["options"]["traps"] and payload["options"]["seed"] == 5
    assert rows["wide"]["trap_entries"].startswith("7,81") and isinstance(rows["wide"]["traps"], int)
    assert rows["tall"]["vec_pr_random"] == pytest.approx(14.0)
    assert cli.main(args) == 0
    assert "vec_pr" not in json.loads(capsys.readouterr().out)["layers"][0]
