"""Cost of one epoch of the headline protocol at the paper's FC1 shape, per conv1 width (a script, not a test).

    python benchmarks/bench_headline_budget.py [--c1 4,8,12] [--c2 256] [--batches 2,16,1000] [--seconds 20]

MiniAlexNet with ``channels=[c1, c2]`` (FC1 is ``16 c2`` x 384; c2 = 256 is the paper's 4096 x 384), the
authors' loss and optimizer, on one XLA thread (as each job of the sweep runs). For each (c1, batch) it times
jitted chunks of SGD steps on random 28 x 28 x 1 batches for about ``--seconds`` after compilation and prints
the seconds per epoch of 60,000 images, then the cost of the whole sweep (every batch size of
``conf/experiment/batch_size_sweep.yaml``, interpolated log-log between the measured batch sizes) per epoch,
seed and 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from simulations.train.config import ModelConfig, TrainConfig  # noqa: E402
from simulations.train.models import build_model  # noqa: E402
from simulations.train.steps import MAX_CHUNK_STEPS, make_loss, make_optimizer, make_train_chunk  # noqa: E402

SWEEP_BATCHES = (2, 4, 8, 16, 32, 100, 250, 1000)
IMAGES = 60_000


def seconds_per_epoch(c1: int, c2: int, batch: int, seconds: float) -> float:
    cfg = TrainConfig(model=ModelConfig(name="minialexnet", channels=[c1, c2]), batch_size=batch, loss="softmax_mse")
    model = build_model(cfg.model, seed=0)
    steps_per_epoch = IMAGES // batch
    opt = nnx.Optimizer(model, make_optimizer(cfg, steps_per_epoch), wrt=nnx.Param)
    graphdef, state = nnx.split((model, opt))
    chunk_fn = make_train_chunk(graphdef, make_loss(cfg.loss, {}))
    chunk = max(1, min(MAX_CHUNK_STEPS, 8192 // batch))  # as run.py's epoch loop
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.standard_normal((chunk, batch, 28, 28, 1)), jnp.float32)
    ys = jnp.asarray(rng.integers(0, 10, (chunk, batch)))
    state, losses, _ = chunk_fn(state, xs, ys)  # compile
    losses.block_until_ready()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        state, losses, _ = chunk_fn(state, xs, ys)
        losses.block_until_ready()
        done += chunk
    return (time.perf_counter() - start) / done * steps_per_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--c1", default="4,8,12")
    parser.add_argument("--c2", type=int, default=256)
    parser.add_argument("--batches", default="2,16,1000")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    print(f"MiniAlexNet channels [c1, {args.c2}]: FC1 {16 * args.c2} x 384; one XLA thread; s per epoch of {IMAGES:,}")
    print("c1".rjust(4) + "".join(f"batch {b}".rjust(12) for b in batches) + "   sweep epoch (8 batch sizes, 2 cores)")
    for c1 in (int(c) for c in args.c1.split(",")):
        cost = [seconds_per_epoch(c1, args.c2, b, args.seconds) for b in batches]
        # log-log interpolation over batch size for the sweep's other batch sizes
        sweep = np.exp(np.interp(np.log(SWEEP_BATCHES), np.log(batches), np.log(cost)))
        print(f"{c1:4d}" + "".join(f"{c:10.1f} s" for c in cost)
              + f"   {sweep.sum():7.0f} s of CPU = {sweep.sum() / 2 / 60:5.1f} min of 2-core wall per seed-epoch")


if __name__ == "__main__":
    main()
