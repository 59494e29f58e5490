"""Issue 23: figures whose names clash get distinct files, stderr counts what was written; farms_q=inf is refused.

Before the fix "a/b" and "a_b" were both written to a_b.png, a layer named "model" replaced the
model chart, and stderr counted every figure; ``farms_q=inf`` raised OverflowError.
"""

import numpy as np
import pytest

import rmtkit
from rmtkit import cli, plot


def test_clashing_figure_names_get_distinct_files(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(8)
    weights = {name: rng.standard_t(4.0, (80, 50)).astype(np.float32) for name in ("a/b", "a_b", "model", "Model")}
    analysis = rmtkit.analyze(weights, progress=False)
    written, failures = plot.save_model_plots(analysis, tmp_path / "figs")
    files = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert failures == {} and written == 5 == len(files), files
    assert "model.png" in files and len({f.casefold() for f in files}) == 5  # apart on a case-blind disk too
    checkpoint = tmp_path / "m.safetensors"
    rmtkit.checkpoints.write_safetensors(checkpoint, weights)
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    assert cli.main(["analyze", str(checkpoint), "--plots", str(tmp_path / "cli"), "--no-progress"]) == 0
    assert f"rmtkit: 5 figures in {(tmp_path / 'cli').resolve()}" in capsys.readouterr().err
    assert len(list((tmp_path / "cli").iterdir())) == 5


@pytest.mark.parametrize("q", [float("inf"), float("nan")])
def test_an_infinite_farms_q_is_a_clear_value_error(q):
    with pytest.raises(ValueError, match="farms_q"):
        rmtkit.analyze({"w": np.ones((60, 40))}, esd="farms", farms_q=q, progress=False)
