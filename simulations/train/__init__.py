"""The Flax training suite of the papers' toy models, with per-epoch spectral monitoring ([MM-JMLR] §6-7)."""
