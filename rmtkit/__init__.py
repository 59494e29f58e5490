"""rmtkit: Random Matrix Theory for neural-network weight matrices, in JAX."""

__version__ = "0.1.0"
