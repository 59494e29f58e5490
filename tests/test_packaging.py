"""`pip install rmtkit` is the analyzer, the fits, the ensembles and the CLI; `rmtkit[sim]` adds the simulators.

The core must neither declare nor import the simulators' dependencies (Flax, optax, Hydra): checked on
the declared dependencies, on the modules a fresh process has loaded after ``import rmtkit`` and after
``rmtkit analyze``, and by running both with those packages made unimportable (as in a venv without the
extra). docs/install.md gives the same check in a fresh venv.
"""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SIM_ONLY = ("flax", "optax", "hydra", "omegaconf", "hydra_plugins", "submitit")


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()


def test_core_dependencies_leave_the_simulators_to_the_sim_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    sim = {_name(r) for r in project["optional-dependencies"]["sim"]}
    assert not core & {"flax", "optax", "hydra-core", "hydra-joblib-launcher", "hydra-submitit-launcher"}
    assert {"flax", "optax", "hydra-core", "hydra-joblib-launcher", "hydra-submitit-launcher"} <= sim
    assert {"jax", "numpy", "scipy", "pandas", "matplotlib"} <= core
    assert '".[sim,dev]"' in (ROOT / "Makefile").read_text()  # make setup installs everything


#: Run in a fresh interpreter: optionally block the simulators' packages, run the code, print what loaded.
PROBE = """
import importlib.abc, json, sys
BLOCK = {block!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ImportError(f"{{name}} is not installed (blocked by the test)")
if BLOCK:
    sys.meta_path.insert(0, Blocker())
{code}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def _loaded(code: str, block: tuple[str, ...] = ()) -> tuple[set[str], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(block=block, code=code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    *before, last = proc.stdout.strip().splitlines()
    return set(json.loads(last)), "\n".join(before)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A two-tensor .npz: a 300 x 100 Gaussian matrix (analysed) and a bias (skipped)."""
    path = tmp_path_factory.mktemp("ckpt") / "model.npz"
    rng = np.random.default_rng(0)
    np.savez(path, **{"dense.kernel": rng.standard_normal((300, 100)), "dense.bias": np.zeros(100)})
    return path


@pytest.mark.slow
@pytest.mark.parametrize("block", [(), SIM_ONLY], ids=["installed", "blocked"])
def test_import_rmtkit_and_cli_analyze_load_no_simulator_dependency(checkpoint, block):
    code = ("import json, sys\nimport rmtkit\nassert callable(rmtkit.analyze)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
            f"from rmtkit.cli import main\ncode = main(['analyze', {str(checkpoint)!r}, '--format', 'csv'])\n"
            "assert code == 0, code")
    after_cli, out = _loaded(code, block)
    after_import = set(json.loads(out.splitlines()[0]))
    assert {"rmtkit", "jax"} <= after_import and not after_import & set(SIM_ONLY)
    assert not after_cli & set(SIM_ONLY)
    rows = [line for line in out.splitlines() if line.startswith("dense.")]
    assert len(rows) == 2 and any(r.startswith("dense.kernel,") for r in rows)  # both tensors, one row each
