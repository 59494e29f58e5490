"""The Python API keeps JAX's compiled fits on disk as the CLI does (RMTKIT_JAX_CACHE), and can be turned off."""

import os
import subprocess
import sys

SCRIPT = """
import os, numpy as np, jax, rmtkit
rmtkit.analyze({"w": np.random.default_rng(0).standard_normal((120, 40))}, progress=False)
print("DIR", jax.config.jax_compilation_cache_dir)
"""


def _run(env):
    out = subprocess.run([sys.executable, "-c", SCRIPT], env={**os.environ, "JAX_PLATFORMS": "cpu", **env},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("DIR ")[-1].strip()


def test_analyze_fills_rmtkits_cache_folder_unless_off(tmp_path):
    folder = tmp_path / "jax"
    assert _run({"RMTKIT_JAX_CACHE": str(folder)}) == str(folder)
    # the MP fit, the power-law fit and the metrics, kept whole (rmtkit.executables)
    assert len(list((folder / "rmtkit-executables").glob("*.bin"))) == 3
    assert _run({"RMTKIT_JAX_CACHE": "off"}) == "None"
    theirs = tmp_path / "theirs"  # a folder the user gave JAX is kept
    assert _run({"RMTKIT_JAX_CACHE": str(folder), "JAX_COMPILATION_CACHE_DIR": str(theirs)}) == str(theirs)
