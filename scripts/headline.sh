#!/usr/bin/env bash
# The headline experiment end to end (docs/headline.md): every run resumes after a kill and
# is skipped once finished, so rerunning this script continues where it stopped. RUNS sets the folder.
# Order: one seed of the sweep, the short experiments, then the remaining seeds (an interrupted
# session leaves complete parts behind). Then: python -m simulations.headline $RUNS
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-multirun}
$PY -m simulations.train -m experiment=batch_size_sweep seed=0 hydra.sweep.dir=$RUNS/batch_size_sweep
$PY -m simulations.train -m experiment=weight_decay hydra.sweep.dir=$RUNS/weight_decay
$PY -m simulations.train -m experiment=batch_size_sweep batch_size=2,16 seed=0 data.subset=5000,20000 \
    hydra.sweep.dir=$RUNS/training_set_size
$PY -m simulations.train -m experiment=weight_decay epochs=40 '++optimizer.weight_decay={fc1: 5e-3},{fc1: 5e-2}' \
    hydra.sweep.dir=$RUNS/weight_decay_40ep
$PY -m simulations.train -m experiment=batch_size_sweep hydra.sweep.dir=$RUNS/batch_size_sweep
