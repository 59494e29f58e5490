#!/usr/bin/env bash
# The spectral-control comparison (docs/control.md): SGD vs SGD+TempBalance vs SGD+AlphaDecay, 5 seeds,
# 10 epochs, on LeNet5 and MLP3, MLP3 with 20% label noise, and the headline's MiniAlexNet (width 0.125,
# the authors' loss and standardisation). Every run resumes after a kill and is skipped once finished.
# Then: python -m simulations.control_report $RUNS --out docs/results/tempbalance
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-multirun}
$PY -m simulations.train -m experiment=tempbalance hydra.sweep.dir=$RUNS/tempbalance
$PY -m simulations.train -m experiment=tempbalance model=mlp3 data.label_noise=0.2 \
    hydra.sweep.dir=$RUNS/tempbalance_noise
$PY -m simulations.train -m experiment=tempbalance model=minialexnet model.conv_width=0.125 loss=softmax_mse \
    data.standardize=image hydra.sweep.dir=$RUNS/tempbalance_minialexnet
