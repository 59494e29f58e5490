"""Every notebook is jupytext-paired, committed with the outputs of one top-to-bottom run, and runs under
RMTKIT_SMOKE=1.

The fast checks read the committed ``.ipynb``: its code is the ``.py``'s, every code cell ran once, in
order (execution counts 1, 2, ..., as one fresh kernel run gives them), without an error, and the run
printed text and drew figures. Executing the notebooks (minutes) is marked ``slow``.
"""

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.py"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired(path):
    paired = path.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: run `jupytext --sync {path}`"
    text = [c.source for c in jupytext.read(path).cells]
    ipynb = [c.source for c in nbformat.read(paired, as_version=4).cells]
    assert text == ipynb, f"{path.name} and {paired.name} differ: run `jupytext --sync {path}`"


def _outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _check_outputs(nb) -> None:
    outputs = _outputs(nb)
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"{errors[0].ename}: {errors[0].evalue}" if errors else ""
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure drawn"
    text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    assert text.strip(), "nothing printed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_with_the_outputs_of_one_run(path):
    nb = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
    counts = [c.get("execution_count") for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{path.stem}: execution counts {counts}"
    _check_outputs(nb)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_smoke_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("RMTKIT_SMOKE", "1")
    nb = jupytext.read(path)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    _check_outputs(nb)
