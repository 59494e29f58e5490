"""The universality-class experiment: ESD tail exponent alpha against the entries' Pareto exponent mu (docs/theory.md#power-laws)."""
