"""Training-suite figures, measured in one run (a script, not a timed test).

    python benchmarks/bench_train.py [--batch 32] [--steps 300]

1) LeNet5 training steps per second (SGD + momentum, cross-entropy, Fashion-MNIST batches, float32, CPU):
   rmtkit's jitted ``lax.scan`` loop against an equivalent eager PyTorch CPU loop (torch 2.13.0 in
   ``.venv-peer``: ``make peer-venv``; torch is never a dependency of rmtkit).
2) One per-epoch spectral analysis (fc1 + fc2 of LeNet5 and of the reduced MiniAlexNet) as a fraction
   of one epoch of training (55,000 examples) at the same batch size.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

TORCH_LOOP = r"""
import sys, time, numpy as np, torch
torch.manual_seed(0)
batch, steps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(int(sys.argv[3]))
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 20, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(20, 50, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(800, 500), torch.nn.ReLU(), torch.nn.Linear(500, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
rng = np.random.default_rng(0)
x = torch.tensor(rng.standard_normal((steps, batch, 1, 28, 28)), dtype=torch.float32)
y = torch.tensor(rng.integers(0, 10, (steps, batch)))
def step(i):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x[i]), y[i])
    loss.backward()
    opt.step()
for i in range(20): step(i)
t = time.perf_counter()
for i in range(steps): step(i)
print(steps / (time.perf_counter() - t))
"""


def jax_steps_per_second(model_name: str, batch: int, steps: int, **model_kw) -> tuple[float, object]:
    from flax import nnx

    from simulations.train.models import ModelConfig, build_model
    from simulations.train.steps import make_loss, make_train_chunk

    model = build_model(ModelConfig(name=model_name, **model_kw), seed=0)
    opt = nnx.Optimizer(model, __import__("optax").sgd(0.01, momentum=0.9), wrt=nnx.Param)
    graphdef, state = nnx.split((model, opt))
    chunk = make_train_chunk(graphdef, make_loss("cross_entropy", {}))
    rng = np.random.default_rng(0)
    n_chunk = max(1, min(256, 8192 // batch))
    xs = jnp.asarray(rng.standard_normal((n_chunk, batch, 28, 28, 1)), jnp.float32)
    ys = jnp.asarray(rng.integers(0, 10, (n_chunk, batch)))
    state, loss, _ = chunk(state, xs, ys)
    loss.block_until_ready()
    done, start = 0, time.perf_counter()
    while done < steps:
        state, loss, _ = chunk(state, xs, ys)
        done += n_chunk
    loss.block_until_ready()
    nnx.update((model, opt), state)
    return done / (time.perf_counter() - start), model


def analysis_seconds(model, layers=("fc1", "fc2"), repeats: int = 3) -> float:
    import rmtkit
    from simulations.train.models import weight_matrices

    watched = {k: v for k, v in weight_matrices(model).items() if k in layers}
    rmtkit.analyze(watched, min_evals=10, progress=False)
    start = time.perf_counter()
    for _ in range(repeats):
        rmtkit.analyze(watched, min_evals=10, progress=False)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"JAX {jax.__version__} on {jax.default_backend()}, batch {args.batch}, float32")

    ours, lenet = jax_steps_per_second("lenet5", args.batch, args.steps)
    peer = ROOT / ".venv-peer" / "bin" / "python"
    line = f"1) LeNet5 steps/s: rmtkit (JAX, scanned) {ours:8.1f}"
    if peer.exists():
        out = subprocess.run([str(peer), "-c", TORCH_LOOP, str(args.batch), str(args.steps), str(args.threads)],
                             capture_output=True, text=True, timeout=900)
        if out.returncode == 0:
            torch_sps = float(out.stdout.split()[-1])
            line += f"   PyTorch 2.13 CPU eager {torch_sps:8.1f}   ratio {ours / torch_sps:5.2f}x"
        else:
            line += f"   PyTorch failed: {out.stderr[-500:]}"
    else:
        line += "   (no .venv-peer with torch: make peer-venv)"
    print(line)

    epoch_steps = 55000 // args.batch
    for name, model, sps in [("LeNet5", lenet, ours),
                             ("MiniAlexNet x0.25", *reversed(jax_steps_per_second("minialexnet", args.batch, 200,
                                                                                  conv_width=0.25)))]:
        seconds = analysis_seconds(model)
        epoch = epoch_steps / sps
        print(f"2) {name:18s} one epoch ({epoch_steps} steps) {epoch:7.1f} s   spectral analysis of fc1+fc2 "
              f"{seconds * 1e3:7.1f} ms   = {100 * seconds / epoch:5.2f}% of the epoch")


if __name__ == "__main__":
    main()
