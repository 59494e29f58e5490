"""Overhead of rmtkit.optim's transformations: training steps/s with and without them.

    nice -n 19 .venv/bin/python benchmarks/bench_optim.py [--models lenet5 mlp3] [--batch 32] [--epochs 2]
        [--train-size 55000] [--clock process|wall]

The training suite's models and optimiser (``simulations.train``: Keras momentum SGD, steps fused in
a jitted ``lax.scan`` of up to 256 steps) on random inputs of the Fashion-MNIST shape. The refresh
period ``K`` is one epoch (``train_size / batch`` steps), so a timed epoch holds exactly one exponent
refresh, and the overhead is ``t(with) / t(without) - 1`` over whole epochs (the first, compiling,
is not timed). Target: < 10% at the real epoch (55,000 examples). A smaller ``--train-size`` refreshes
more often per step, so its overhead is an upper bound on the real one. ``--clock process`` times
CPU seconds of this process (robust when other jobs share the cores), ``wall`` the elapsed time.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from rmtkit.optim import alpha_decay, temperature_balance
from simulations.train.config import TrainConfig
from simulations.train.models import ModelConfig, build_model
from simulations.train.steps import MAX_CHUNK_STEPS, make_loss, make_optimizer, make_train_chunk

TRAIN_SIZE = 55_000


def epoch_seconds(model_name: str, batch: int, epochs: int, variant: str, train_size: int = TRAIN_SIZE,
                  clock=time.perf_counter) -> tuple[float, int]:
    """Median wall time of one training epoch (after a compiling one) for ``variant``."""
    cfg = TrainConfig(model=ModelConfig(name=model_name), batch_size=batch)
    steps = train_size // batch
    base = make_optimizer(cfg, steps)
    if variant == "tempbalance":
        tx = optax.chain(base, temperature_balance(steps))
    elif variant == "alphadecay":
        tx = optax.chain(alpha_decay(5e-4, steps), base)
    else:
        tx = base
    model = build_model(cfg.model, seed=0)
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    graphdef, state = nnx.split((model, opt))
    chunk = make_train_chunk(graphdef, make_loss("cross_entropy", {}))
    rng = np.random.default_rng(0)
    size = min(MAX_CHUNK_STEPS, steps)
    xs = jnp.asarray(rng.standard_normal((size, batch, 28, 28, 1)), jnp.float32)
    ys = jnp.asarray(rng.integers(0, 10, (size, batch)), jnp.int32)
    chunks = [size] * (steps // size) + ([steps % size] if steps % size else [])
    times = []
    for e in range(epochs + 1):
        t0 = clock()
        for n in chunks:
            state, losses, _ = chunk(state, xs[:n], ys[:n])
        jax.block_until_ready(losses)
        if e:
            times.append(clock() - t0)
    return float(np.median(times)), steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["lenet5", "mlp3"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-size", type=int, default=TRAIN_SIZE)
    p.add_argument("--clock", choices=("process", "wall"), default="wall")
    args = p.parse_args()
    clock = time.process_time if args.clock == "process" else time.perf_counter
    print(f"backend {jax.default_backend()}, batch {args.batch}, K = one epoch ({args.train_size // args.batch} steps), "
          f"median of {args.epochs} epochs, {args.clock} time")
    print(f"{'model':8} {'variant':12} {'epoch s':>9} {'steps/s':>9} {'ratio':>7}")
    for name in args.models:
        base = None
        for variant in ("plain", "tempbalance", "alphadecay"):
            secs, steps = epoch_seconds(name, args.batch, args.epochs, variant, args.train_size, clock)
            base = base or secs
            print(f"{name:8} {variant:12} {secs:9.2f} {steps / secs:9.1f} {secs / base:7.3f}", flush=True)


if __name__ == "__main__":
    main()
