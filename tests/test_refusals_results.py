"""Issue 23: results files are replaced with their sidecar or not at all, and read back only when they make sense.

Each test failed before its fix: a disk that filled between the CSV and its sidecar left a new CSV
beside the old sidecar (the old result lost, ``read_results`` raising TypeError); a CSV beside
another write's sidecar was read as if they matched; malformed files raised bare errors.
"""

import errno
import json

import numpy as np
import pandas as pd
import pytest

from rmtkit import atomic
from rmtkit.results import read_results, results_sidecar, write_results


@pytest.fixture
def tables():
    """Two analysis tables of different models (a row each, or two), with their provenance."""
    one = pd.DataFrame({"name": ["fc"], "alpha": [3.5], "n_tail": pd.array([12], dtype="Int64"), "status": ["ok"]})
    two = pd.DataFrame({"name": ["fc", "head"], "alpha": [2.25, np.nan], "n_tail": pd.array([9, None], dtype="Int64"),
                        "status": ["ok", "partial"]})
    for i, df in enumerate((one, two)):
        df.attrs["rmtkit"] = {"version": "test", "options": {"seed": i}}
    return one, two


def test_a_full_disk_at_the_sidecar_keeps_the_old_pair(tables, tmp_path, monkeypatch):
    one, two = tables
    path = tmp_path / "r.csv"
    write_results(one, path, "csv")
    before = path.read_bytes(), results_sidecar(path).read_bytes()
    real_open = open

    def full(name, *args, **kwargs):
        if ".meta.json" in str(name):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", full, raising=False)
    with pytest.raises(OSError, match="No space"):
        write_results(two, path, "csv")
    monkeypatch.undo()
    assert (path.read_bytes(), results_sidecar(path).read_bytes()) == before  # nothing replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.csv.meta.json"]  # no temporary left
    pd.testing.assert_frame_equal(read_results(path), read_results(path))


def test_a_csv_beside_another_writes_sidecar_is_refused_naming_it(tables, tmp_path):
    one, two = tables
    path = tmp_path / "r.csv"
    write_results(one, path, "csv")
    old_sidecar = results_sidecar(path).read_bytes()
    write_results(two, path, "csv")
    results_sidecar(path).write_bytes(old_sidecar)  # a crash between the two renames
    with pytest.raises(ValueError, match=r"r\.csv.*do not belong together"):
        read_results(path)
    write_results(one, path, "csv")
    assert read_results(path)["name"].tolist() == ["fc"]  # a pair written together reads back


@pytest.mark.parametrize("torn", ["sidecar", "json"])
def test_a_torn_file_is_a_clear_error_naming_it(tables, tmp_path, torn):
    one, _ = tables
    path = tmp_path / ("r.csv" if torn == "sidecar" else "r.json")
    write_results(one, path, path.suffix[1:])
    target = results_sidecar(path) if torn == "sidecar" else path
    text = target.read_bytes()
    target.write_bytes(text[: len(text) // 2])
    with pytest.raises(ValueError, match=rf"{target.name}: .*(corrupt|not valid JSON)"):
        read_results(path)


def test_a_csv_column_the_sidecar_does_not_list_is_refused(tables, tmp_path):
    one, _ = tables
    path = tmp_path / "r.csv"
    write_results(one, path, "csv")
    side = json.loads(results_sidecar(path).read_text())
    side.pop("csv_sha256")  # a file from before the pair check: the columns are still compared
    del side["dtypes"]["alpha"]
    results_sidecar(path).write_text(json.dumps(side))
    with pytest.raises(ValueError, match=r"r\.csv: column 'alpha' is not in its sidecar"):
        read_results(path)
    side["dtypes"]["alpha"], side["dtypes"]["extra"] = "float64", "float64"
    results_sidecar(path).write_text(json.dumps(side))
    with pytest.raises(ValueError, match=r"r\.csv: column 'extra' of its sidecar is not in the CSV"):
        read_results(path)


def test_another_tools_csv_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"other\.csv: not an rmtkit results table \(no 'name' and 'status'"):
        read_results(path)
    pd.DataFrame({"name": ["a"], "status": ["great"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"other\.csv: .*status 'great'"):
        read_results(path)
    pd.DataFrame({"name": ["a", "b"], "status": ["ok", "only in a"]}).to_csv(path, index=False)
    assert read_results(path)["status"].tolist() == ["ok", "only in a"]  # rmtkit's words still read


@pytest.mark.parametrize("payload", [
    {"layers": {"name": "fc"}},  # an object, not a list of records
    {"layers": [1, 2]},
    {"layers": [{"name": "fc", "status": "ok"}], "dtypes": ["name"]},
    {"layers": [{"name": "fc", "status": "ok"}], "dtypes": {"name": "object", "status": "no-such-dtype"}},
    {"layers": [{"name": "fc", "status": "ok", "alpha": "high"}], "dtypes": {"name": "object", "status": "object",
                                                                           "alpha": "float64"}},
    {"layers": [], "summary": [1]},
])
def test_a_malformed_json_is_a_clear_error_naming_it(tmp_path, payload):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match=r"r\.json: "):
        read_results(path)


def test_a_malformed_csv_is_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"name,status\n\xff\xfe\x00,ok\n")
    with pytest.raises(ValueError, match=r"r\.csv: "):
        read_results(path)
    path.write_text("name,status,alpha\nfc,ok,high\n")
    results_sidecar(path).write_text(json.dumps({"dtypes": {"name": "object", "status": "object", "alpha": "float64"}}))
    with pytest.raises(ValueError, match=r"r\.csv: "):
        read_results(path)
