"""Names in the printed table: shortened without two rows alike, and accepted back by Analysis.layer."""

import numpy as np
import pytest

import rmtkit
from rmtkit.table import format_table, short_names


def test_short_names_keep_numbers_and_stay_distinct():
    names = [f"encoder.layer.{i}.attention.output.dense" for i in range(12)] + ["encoder.layer.5.output.dense"]
    short = short_names(names, 24)
    assert short[5] == "e.l.5.a.output.dense" and short[-1] == "e.layer.5.output.dense"
    assert len(set(short)) == len(names) and all(len(s) <= 24 for s in short)
    # forms that would clash keep a longer part instead
    assert short_names(["abc.def.ghi", "abc.dxf.ghi"], 5) == ["a.def.ghi", "a.dxf.ghi"]
    assert short_names(["x" * 40], 24) == ["x" * 10 + "..." + "x" * 11]  # nothing to abbreviate: cut


def test_table_names_are_accepted_by_layer():
    rng = np.random.default_rng(0)
    weights = {f"encoder.layer.{i}.attention.output.dense.weight": rng.standard_normal((120, 60)) for i in (1, 2)}
    weights["pooler.dense.weight"] = rng.standard_normal((90, 60))
    analysis = rmtkit.analyze(weights, progress=False)
    table = format_table(analysis, columns=["name", "alpha", "phase", "phase_rule", "warning"], width=60)
    shown = [line.split()[0] for line in table.splitlines()[1:4]]
    assert shown == ["e.l.1.a.output.dense", "e.l.2.a.output.dense", "pooler.dense"]
    for short, full in zip(shown, weights, strict=True):
        assert analysis.layer(short).name == full
    assert analysis.layer("e.layer.2.attention.output.dense").name == "encoder.layer.2.attention.output.dense.weight"
    with pytest.raises(KeyError, match="matches 2 layers"):
        analysis.layer("encoder.l...dense")
    with pytest.raises(KeyError, match="was not analysed"):
        analysis.layer("e.l.3.a.output.dense")


def test_failed_rows_say_why_in_the_default_table():
    rng = np.random.default_rng(1)
    bad = rng.standard_normal((80, 40))
    bad[3, 5] = np.nan
    analysis = rmtkit.analyze({"good.weight": rng.standard_normal((80, 40)), "bad.weight": bad}, progress=False)
    table = format_table(analysis)
    header, *rows = table.splitlines()
    assert header.split()[-1] == "reason"
    bad_line = next(line for line in rows if line.startswith("bad"))
    assert "1 NaN/Inf entries" in bad_line and "failed" not in header
    clean = rmtkit.analyze({"good.weight": rng.standard_normal((80, 40))}, progress=False)
    assert "reason" not in format_table(clean).splitlines()[0]  # only when a row failed or lost a fit
