#!/usr/bin/env bash
# The headline experiment at the paper's FC1 shape (conf/experiment/paper_shape_sweep.yaml: channels
# [12, 256], FC1 4096 x 384). Every run resumes after a kill and is skipped once finished, so rerunning this
# script continues where it stopped. RUNS sets the folder (default multirun/paper_shape).
# Order: seed 0 of every batch size, the rank-collapse runs (no L2, and L2 on FC1; batch 16, 10 epochs), then
# seeds 1 and 2. Then: python -m simulations.headline $RUNS --out docs/results/headline_paper_shape
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-multirun/paper_shape}
$PY -m simulations.train -m experiment=paper_shape_sweep seed=0 hydra.sweep.dir=$RUNS/batch_size_sweep
$PY -m simulations.train -m experiment=weight_decay 'model.channels=[12,256]' \
    '++optimizer.weight_decay={},{fc1: 1e-3},{fc1: 5e-3},{fc1: 5e-2}' hydra.sweep.dir=$RUNS/weight_decay
$PY -m simulations.train -m experiment=paper_shape_sweep seed=1 hydra.sweep.dir=$RUNS/batch_size_sweep
$PY -m simulations.train -m experiment=paper_shape_sweep seed=2 hydra.sweep.dir=$RUNS/batch_size_sweep
