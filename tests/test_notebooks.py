"""Every notebook is jupytext-paired, committed with the outputs of one top-to-bottom run, and runs under
RMTKIT_SMOKE=1.

The fast checks read the committed ``.ipynb``: its code is the ``.py``'s, every code cell ran once, in
order (execution counts 1, 2, ..., as one fresh kernel run gives them), without an error, and the run
printed text and drew figures. Executing the notebooks (minutes) is marked ``slow``.
"""

import re
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


def _execute_notebooks_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("execute_notebooks", NOTEBOOKS[0].parents[1] / "scripts" /
                                                  "execute_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_clean_outputs_keeps_what_a_terminal_shows():
    """tqdm writes one stderr fragment per update; the XLA alarm and tqdm's IProgress warning name machine paths."""
    stream = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)  # noqa: E731
    cell = nbformat.v4.new_code_cell("run()")
    cell.outputs = [stream("stderr", "/x/.venv/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update\n"),
                    stream("stdout", "start\n"),
                    *[stream("stderr", f"\rbar: {10 * i}%|" + "#" * i) for i in range(11)],
                    stream("stderr", "\n"),
                    stream("stderr", "E1201 slow_operation_alarm.cc:73] Very slow compile? /tmp/foo\n"),
                    stream("stdout", "done\n")]
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert _execute_notebooks_script().clean_outputs(nb) == 13
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stdout", "start\n"), ("stderr", "bar: 100%|##########\n"), ("stdout", "done\n")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(path):
    """No paths of the machine that ran it, no progress-bar fragments, no messages that do not concern the reader."""
    nb = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
    texts = [o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in _outputs(nb)]
    text = "".join(t if isinstance(t, str) else "".join(t) for t in texts)
    assert not re.findall(r"(?:/root|/home|/work|/tmp|/Users|[A-Z]:\\\\)[/\\\\][^\s'\"]*", text)
    assert "\r" not in text
    assert not [p.pattern for p in _execute_notebooks_script().NOISE if p.search(text)]
