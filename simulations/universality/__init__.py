"""The universality-class experiment: ESD tail exponent alpha against the entries' Pareto exponent mu (REFERENCE §3)."""
