"""The CLI as scripts use it: outputs, figures and exit codes, and no tracebacks on bad input."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rmtkit import checkpoints
from tests.test_analyzer import minilm_path


def rmtkit_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rmtkit", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.mark.slow
def test_analyze_minilm_csv_and_plots(tmp_path):
    out = rmtkit_cli("analyze", minilm_path(), "--format", "csv", "-o", tmp_path / "r.csv", "--plots", tmp_path / "figs",
                     "--layers", "encoder.layer.0.*", "pooler*")
    assert out.returncode == 0, out.stderr
    df = pd.read_csv(tmp_path / "r.csv", comment="#")
    ok = df[df.status == "ok"]
    assert len(ok) == 7 and ok["name"].str.match(r"encoder\.layer\.0\.|pooler").all()
    figs = sorted(p.name for p in (tmp_path / "figs").glob("*.png"))
    assert "model.png" in figs and len(figs) == 8
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_analyze_json_and_table(tmp_path):
    out = rmtkit_cli("analyze", minilm_path(), "--format", "json", "--layers", "pooler*", "--no-progress")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert [row["name"] for row in payload["layers"] if row["status"] == "ok"] == ["pooler.dense.weight"]
    out = rmtkit_cli("analyze", minilm_path(), "--layers", "pooler.dense.weight")
    assert out.returncode == 0 and "pooler.dense.weight" in out.stdout and "alpha_hat" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing", "corrupt", "nothing", "nan_layer"])
def test_exit_codes(tmp_path, case):
    if case == "missing":
        out = rmtkit_cli("analyze", tmp_path / "nope.safetensors")
        code, message = 2, "no such file or directory"
    elif case == "corrupt":
        path = tmp_path / "bad.safetensors"
        checkpoints.write_safetensors(path, {"w": np.ones((80, 60), np.float32)})
        path.write_bytes(path.read_bytes()[:100])
        out = rmtkit_cli("analyze", path)
        code, message = 2, "truncated or corrupt"
    elif case == "nothing":
        out = rmtkit_cli("analyze", minilm_path(), "--layers", "no_such_layer")
        code, message = 3, "no layer passed the filters"
    else:
        w = np.random.default_rng(0).standard_normal((120, 80))
        bad = w.copy()
        bad[0, 0] = np.nan
        np.savez(tmp_path / "w.npz", good=w, bad=bad)
        out = rmtkit_cli("analyze", tmp_path / "w.npz", "--format", "csv")
        code, message = 1, "1 layer(s) failed"
        df = pd.read_csv(pd.io.common.StringIO(out.stdout), comment="#").set_index("name")
        assert df.loc["good", "status"] == "ok" and df.loc["bad", "reason"] == "1 NaN/Inf entries in the weights"
    assert out.returncode == code, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
