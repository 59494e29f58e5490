"""Synthetic calibration of the Marchenko-Pastur fit on the random-matrix ensembles."""
