"""Test entry point: the suite runs in float64 (chosen here, once, as any entry point chooses precision).

Simulators shrink to seconds with ``debug=smoke`` (applied by ``simulations.entry``); notebooks read
``RMTKIT_SMOKE=1``, which tests/test_notebooks.py sets for the notebooks it runs.
"""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    return jax.random.key(20211)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    Every compiled XLA CPU program keeps its code mapped until the cache lets it go; over the whole suite
    (hundreds of tests, thousands of programs) the process would approach the kernel's limit on memory
    maps (vm.max_map_count, 65530 by default), past which LLVM's next code allocation fails and the
    process crashes inside a compile. Tests never share compiled programs across modules on purpose.
    """
    yield
    jax.clear_caches()
