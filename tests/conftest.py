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
