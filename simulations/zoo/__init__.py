"""Model zoos: :func:`rmtkit.analyze` over a list or glob of checkpoints as a Hydra multirun, one job per model."""
