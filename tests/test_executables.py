"""Compiled fits kept on disk whole (rmtkit.executables): the same numbers, a new process traces nothing, misses are safe."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmtkit import executables
from rmtkit.marchenko_pastur import fit_marchenko_pastur
from rmtkit.powerlaw import fit_power_law
from rmtkit.powerlaw.compiled import fit_rows
from rmtkit.powerlaw.fit import fit_settings
from tests.test_analyzer import minilm_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh compilation-cache folder for this test, and no executables remembered from earlier tests."""
    monkeypatch.setenv("RMTKIT_JAX_CACHE", str(tmp_path))
    monkeypatch.setattr(executables, "_LOADED", {})
    previous = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    yield tmp_path / "rmtkit-executables"
    jax.config.update("jax_compilation_cache_dir", previous)


def _spectra(seed=0, rows=5, width=200):
    x = np.sort(np.random.default_rng(seed).pareto(1.5, (rows, width)) + 1, axis=1)
    return x, np.arange(width - rows, width)


#: Run in a new process: XLA's CPU executables serialize reliably only there (in a process that compiled many
#: programs, as the test session has, a saved executable may not load back, and rmtkit.executables drops it).
FRESH = """
import json, sys
from pathlib import Path
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
from rmtkit import executables
from rmtkit.powerlaw import fit_power_law
from rmtkit.powerlaw.compiled import fit_rows
from rmtkit.powerlaw.fit import fit_settings
cache = Path(sys.argv[1]) / "rmtkit-executables"
out = {}
rng = np.random.default_rng(0)
x = np.sort(rng.pareto(1.5, (5, 200)) + 1, axis=1)
lengths = np.arange(195, 200)
fit = fit_power_law(x, lengths=lengths)
out["files_after_first"] = len(list(cache.glob("*.bin")))
recipe, _ = fit_settings("auto", None, None, "one_sided", None, None)
valid = np.arange(200)[None, :] < lengths[:, None]
nan = np.full(5, np.nan)
plain = fit_rows(jnp.asarray(x), jnp.asarray(valid), jnp.asarray(nan), jnp.asarray(nan), recipe)
out["same_as_jit"] = all(np.array_equal(np.asarray(getattr(fit, f)), np.asarray(getattr(plain, f)), equal_nan=True)
                         for f in ("alpha", "xmin", "D", "sigma", "n_tail", "status"))
fit_power_law(x[:, :150], lengths=lengths - 110)  # another width
fit_power_law(x[:4, :170], lengths=lengths[:4] - 90)  # another batch
out["files_three_shapes"] = len(list(cache.glob("*.bin")))
json.dump(out, sys.stdout)
"""

AGAIN = """
import json, sys
from pathlib import Path
import jax, numpy as np
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
from rmtkit.powerlaw import fit_power_law
cache = Path(sys.argv[1]) / "rmtkit-executables"
for path in cache.glob("*.bin"):
    if sys.argv[2] == "tear":
        path.write_bytes(path.read_bytes()[:1000])  # cut short, as by a killed writer
before = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.bin")}
rng = np.random.default_rng(0)
x = np.sort(rng.pareto(1.5, (5, 200)) + 1, axis=1)
fit = fit_power_law(x, lengths=np.arange(195, 200))
after = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.bin")}
json.dump({"alpha": np.asarray(fit.alpha).tolist(), "unchanged": before == after, "files": len(after)}, sys.stdout)
"""


def _fresh(code, *argv):
    out = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "JAX_PLATFORMS": "cpu", "RMTKIT_JAX_CACHE": str(argv[0])})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_saved_executables_give_jits_numbers_load_again_and_survive_a_torn_file(tmp_path):
    first = _fresh(FRESH, tmp_path)
    assert first == {"files_after_first": 1, "same_as_jit": True, "files_three_shapes": 3}
    again = _fresh(AGAIN, tmp_path, "keep")  # a new process loads the file: nothing rewritten
    assert again["unchanged"] and again["files"] == 3
    torn = _fresh(AGAIN, tmp_path, "tear")  # torn files are misses: compiled again, the same numbers
    assert torn["alpha"] == again["alpha"] and not torn["unchanged"] and torn["files"] == 3


def test_keys_differ_by_shape_dtype_and_static_arguments():
    x, _ = _spectra(2, rows=6, width=260)
    recipes = [fit_settings(m, None, None, "one_sided", None, None)[0] for m in ("auto", "csn")]
    args = [(x.astype(t), x > 0, x[:, 0], x[:, 0]) for t in ("f4", "f8")] + [(x[:, :100], x[:, :100] > 0, x[:, 0], x[:, 0])]
    keys = {executables._key(fit_rows, a, {"recipe": r}) for a in args for r in recipes}
    assert len(keys) == 6


def test_off_and_under_a_trace_nothing_is_kept(cache, monkeypatch):
    x, lengths = _spectra(3, rows=4, width=120)
    jax.jit(lambda a: fit_marchenko_pastur(a, 2.0).sigma)(jnp.asarray(x))  # traced: inlined, as before
    assert not cache.exists()
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    fit_power_law(x, lengths=lengths)
    assert not cache.exists()


def test_the_key_covers_rmtkits_own_source(monkeypatch, tmp_path):
    x = np.ones((3, 50))
    args, static = (x, x > 0, x[:, 0], x[:, 0]), {"recipe": None}
    ours = executables._key(fit_rows, args, static)
    assert executables._key(fit_rows, args, static) == ours
    package = tmp_path / "rmtkit"  # the same package with one fit edited
    package.mkdir()
    here = executables.Path(executables.__file__).parent
    for path in here.glob("*.py"):
        (package / path.name).write_bytes(path.read_bytes())
    (package / "metrics.py").write_text((package / "metrics.py").read_text() + "\n# edited\n")
    monkeypatch.setattr(executables, "__file__", str(package / "executables.py"))
    executables._environment.cache_clear()
    try:
        assert executables._key(fit_rows, args, static) != ours
    finally:
        monkeypatch.undo()
        executables._environment.cache_clear()


FIRST = """
import logging, sys, jax, rmtkit
compiled = []
class Count(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("Compiling"):
            compiled.append(record.getMessage().split(" with")[0])
jax.config.update("jax_log_compiles", True)
logging.getLogger("jax").addHandler(Count())
logging.getLogger("jax").setLevel(logging.WARNING)
rmtkit.analyze(sys.argv[1], progress=False)
print("COMPILED", len(compiled), compiled)
"""


def test_a_second_process_traces_no_program_for_a_plain_analysis(tmp_path):
    env = {**os.environ, "RMTKIT_JAX_CACHE": str(tmp_path / "jax"), "JAX_PLATFORMS": "cpu"}
    counts = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", FIRST, str(minilm_path())], env=env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        counts.append(out.stdout.split("COMPILED ")[-1])
    assert int(counts[0].split()[0]) >= 3, counts[0]  # the MP fit, the power-law fit, the metrics
    assert counts[1].startswith("0 "), counts[1]


def test_the_metrics_in_one_program_equal_the_metrics_one_by_one():
    from rmtkit import metrics
    from rmtkit.analyzer import _measure

    rng = np.random.default_rng(5)
    ev = np.sort(rng.pareto(2.0, (6, 80)) + 0.1, axis=1)
    lp, alpha, hard = np.full(6, 3.0), np.linspace(2, 6, 6), np.full(6, 80)
    one = {k: np.asarray(v) for k, v in _measure(ev, lp, alpha, hard).items()}
    top = np.asarray(metrics.lambda_max(ev))
    eager = {"lambda_max": top, "mp_soft_rank": metrics.mp_soft_rank(lp, top), "stable_rank": metrics.stable_rank(ev),
             "entropy": metrics.matrix_entropy(ev, 1, 1, rank=hard), "log_norm": metrics.log_norm(ev),
             "log_spectral_norm": metrics.log_spectral_norm(ev), "alpha_weighted": metrics.alpha_weighted(alpha, top),
             "log_alpha_norm": metrics.log_alpha_norm(ev, alpha)}
    assert set(one) == set(eager)
    for k, v in eager.items():  # fused in one program, a sum may round once differently: within 2 ulp
        np.testing.assert_allclose(one[k], np.asarray(v), rtol=5e-16, atol=0, err_msg=k)

