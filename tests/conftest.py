"""Test entry point: the suite runs in float64 (chosen here, once, as any entry point chooses precision)."""

import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)

#: Notebooks and simulators shrink to seconds under SMOKE.
os.environ.setdefault("RMTKIT_SMOKE", "1")


@pytest.fixture
def key():
    return jax.random.key(20211)
