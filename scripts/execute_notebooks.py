"""Execute notebooks top to bottom and write each paired .ipynb with its outputs (``make notebooks``).

    python scripts/execute_notebooks.py notebooks/01_marchenko_pastur.py [...]
    python scripts/execute_notebooks.py --clean-only notebooks/03_analyze_a_real_model.ipynb [...]

Each ``.py`` (jupytext py:percent) runs in a fresh kernel from its own folder; a cell that raises stops
the script. RMTKIT_SMOKE=1 in the environment shrinks the notebooks that read it.

The outputs are cleaned before they are written (:func:`clean_outputs`): a progress bar keeps the
line a terminal would show last instead of one fragment per update, and messages that do not
concern the reader (tqdm's "IProgress not found", XLA's "Very slow compile?" alarm, both naming
paths of this machine) are dropped. ``--clean-only`` cleans committed ``.ipynb`` files as they are,
without running them.
"""

import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

#: stderr messages that do not concern a reader of the notebook.
NOISE = (re.compile(r"TqdmWarning: IProgress not found"), re.compile(r"slow_operation_alarm|Very slow compile\?"))


def _terminal(text: str) -> str:
    """What a terminal shows of ``text``: on every line, only what follows its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def clean_outputs(nb) -> int:
    """Merge each cell's consecutive stderr fragments into what a terminal would show; drop :data:`NOISE`.

    Returns the number of outputs removed or merged away.
    """
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stderr":
                if any(p.search(out.text) for p in NOISE):
                    removed += 1
                    continue
                if outputs and outputs[-1].output_type == "stream" and outputs[-1].name == "stderr":
                    outputs[-1].text += out.text
                    removed += 1
                    continue
            outputs.append(out)
        for out in outputs:
            if out.output_type == "stream" and out.name == "stderr":
                out.text = _terminal(out.text)
        cell.outputs = [o for o in outputs if not (o.output_type == "stream" and not o.text.strip())]
        removed += len(outputs) - len(cell.outputs)
    return removed


def main(argv: list[str]) -> None:
    clean_only = argv[:1] == ["--clean-only"]
    for arg in argv[1:] if clean_only else argv:
        path = Path(arg).resolve()
        start = time.time()
        if clean_only:
            nb = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
        else:
            nb = jupytext.read(path)
            NotebookClient(nb, timeout=3600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        removed = clean_outputs(nb)
        jupytext.write(nb, path.with_suffix(".ipynb"))
        print(f"{path.name}: {time.time() - start:.1f} s, {removed} output(s) cleaned away", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
