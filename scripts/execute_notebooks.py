"""Execute notebooks top to bottom and write each paired .ipynb with its outputs (``make notebooks``).

    python scripts/execute_notebooks.py notebooks/01_marchenko_pastur.py [...]

Each ``.py`` (jupytext py:percent) runs in a fresh kernel from its own folder; a cell that raises stops
the script. RMTKIT_SMOKE=1 in the environment shrinks the notebooks that read it.
"""

import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

for arg in sys.argv[1:]:
    path = Path(arg).resolve()
    start = time.time()
    nb = jupytext.read(path)
    NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    jupytext.write(nb, path.with_suffix(".ipynb"))
    print(f"{path.name}: {time.time() - start:.1f} s", flush=True)
