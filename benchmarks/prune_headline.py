"""AlphaPruning vs uniform vs global magnitude pruning on the headline sweep's trained MiniAlexNets.

    nice -n 19 .venv/bin/python benchmarks/prune_headline.py /work/runs/batch_size_sweep docs/results/pruning \
        [--refit-steps 100] [--test-size 2000] [--csn]

Reads (never writes) every finished run ``<sweep>/*/`` (``DONE.json``, ``config.json``,
``final_weights.safetensors``) and writes ``pruning.csv`` (one row per run, method and sparsity) and
``summary.csv`` (mean and std over seeds) and ``paired.csv`` (AlphaPruning minus each baseline on the
same run) into the output folder. Runs already in ``OUT/pruning.csv`` with the same ``--test-size``
and ``--refit-steps`` are kept and not measured again (a stopped run resumes; more batch sizes add rows).

The training suite saves only the weight matrices of a finished run (``final_weights.safetensors``:
kernels, no biases, no BatchNorm parameters or running statistics). The model is therefore
rebuilt with the trained kernels and its other parameters are re-fitted with the kernels frozen:
``refit_steps`` steps of Adam (lr 3e-3, batch 128) on the run's own training set and loss, then the
BatchNorm running statistics are set to the batch statistics of 2,048 training images. The table
reports this reconstruction's dense test accuracy beside the run's own (``DONE.json``, full test set).
Test accuracies are measured on a fixed random subset of ``test_size`` test images (seed 0), the
same for every run and method (a budget knob: the full set is 10,000; at 2,000 the binomial standard
error of an accuracy near 0.9 is about 0.007). Pruning then acts on the kernels only (biases and BatchNorm as
re-fitted, no fine-tuning after pruning), the same for every method.

Prunable: the matrices with at least 50 pooled eigenvalues (rmtkit.optim.matrix_leaves: conv2, fc1,
fc2 of the width-0.125 MiniAlexNet); conv1 (25 eigenvalues) and fc3 (10) stay dense. Sparsity is the
fraction of the prunable entries. ``alpha`` uses the Hill exponent at the median (TempBalance's and
AlphaPruning's estimator family), ``alpha_csn`` (with ``--csn``) rmtkit's CSN fit (``fit_power_law``
default), both with AlphaPruning's epsilon = 0.3.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from flax import nnx

from rmtkit.checkpoints import read_safetensors
from rmtkit.optim import layer_exponents, leaf_path
from rmtkit.prune import prune_magnitude
from simulations.train.data import DataConfig, Split, load_data
from simulations.train.models import ModelConfig, build_model
from simulations.train.steps import evaluate, make_loss

SPARSITIES = (0.5, 0.7, 0.9)
METHODS = ("alpha", "alpha_csn", "uniform", "global")


def rebuild(run: Path, data, refit_steps: int) -> nnx.Module:
    """The run's model with its trained kernels; biases and BatchNorm re-fitted with the kernels frozen."""
    cfg = json.loads((run / "config.json").read_text())
    model = build_model(ModelConfig(**cfg["model"]), seed=cfg["seed"])
    kernels = read_safetensors(run / "final_weights.safetensors")
    for name, w in kernels.items():
        getattr(model, name).kernel[...] = jnp.asarray(w)
    labels = lambda params: jax.tree_util.tree_map_with_path(  # noqa: E731
        lambda p, _: "frozen" if "kernel" in leaf_path(p).split("/") else "fit", params)  # NNX init: ".../kernel/value"
    tx = optax.multi_transform({"fit": optax.adam(3e-3), "frozen": optax.set_to_zero()}, labels)
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    loss_fn = make_loss(cfg["loss"], {})

    @nnx.jit
    def step(model, opt, x, y):
        grads = nnx.grad(lambda m: loss_fn(m, x, y)[0])(model)
        opt.update(model, grads)

    rng = np.random.default_rng(cfg["seed"])
    order = rng.permutation(len(data.train.x))
    for i in range(refit_steps):
        idx = order[(i * 128) % (len(order) - 128):][:128]
        step(model, opt, jnp.asarray(data.train.x[idx]), jnp.asarray(data.train.y[idx]))
    # Running statistics = the batch statistics of 2,048 training images (momentum 0 for one pass).
    norms = [m for m in vars(model).values() if isinstance(m, nnx.BatchNorm)]
    for m in norms:
        m.momentum = 0.0
    model(jnp.asarray(data.train.x[order[-2048:]]))
    for m in norms:
        m.momentum = 0.99
    return model


def prune_run(run: Path, refit_steps: int, test_size: int, methods: tuple[str, ...] = METHODS) -> list[dict]:
    cfg = json.loads((run / "config.json").read_text())
    done = json.loads((run / "DONE.json").read_text())
    data = load_data(DataConfig(**cfg["data"]))
    pick = np.sort(np.random.default_rng(0).permutation(len(data.test.y))[:test_size])
    test = Split(data.test.x[pick], data.test.y[pick])
    t0 = time.perf_counter()
    model = rebuild(run, data, refit_steps)
    dense = evaluate(model, test)
    params = nnx.as_pure(nnx.state(model, nnx.Param))
    csn = {}
    if "alpha_csn" in methods:
        csn = {leaf_path(p): float(x) for p, x in
               jax.tree_util.tree_flatten_with_path(layer_exponents(params, estimator="csn"))[0] if np.isfinite(x)}
    base = {"run": run.name, "batch_size": cfg["batch_size"], "seed": cfg["seed"], "test_size": test_size,
            "refit_steps": refit_steps, "original_test_acc": done["test_acc"], "dense_test_acc": dense}
    rows = []
    for sparsity in SPARSITIES:
        for method in methods:
            allocation = "alpha" if method.startswith("alpha") else method
            res = prune_magnitude(params, sparsity, allocation=allocation,
                                  exponents=csn if method == "alpha_csn" else None)
            nnx.update(model, res.params)
            acc = evaluate(model, test)
            nnx.update(model, params)
            row = dict(base, method=method, sparsity=sparsity, test_acc=acc, overall=res.overall)
            for k, v in res.sparsity.items():
                row[f"s_{k.split('/')[0]}"] = v
            for k, v in res.exponents.items():
                row[f"alpha_{k.split('/')[0]}"] = v
            rows.append(row)
    print(f"{run.name}: dense {dense:.4f} (run {done['test_acc']:.4f}), {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count of the test accuracy over seeds, per batch size (and ``"all"`` pooled), method and sparsity."""
    pooled = table.assign(batch_size="all")
    both = pd.concat([table.assign(batch_size=table["batch_size"].astype(str)), pooled])
    out = both.groupby(["batch_size", "method", "sparsity"])["test_acc"].agg(["mean", "std", "count"]).reset_index()
    dense = both.drop_duplicates(["batch_size", "run"]).groupby("batch_size")[["dense_test_acc", "original_test_acc"]]
    return out.merge(dense.mean().reset_index(), on="batch_size")


def paired(table: pd.DataFrame) -> pd.DataFrame:
    """AlphaPruning minus each baseline on the same run: mean, std, n of the difference and the runs it wins."""
    acc = table.pivot_table(index=["run", "sparsity"], columns="method", values="test_acc")
    rows = []
    for other in [m for m in acc.columns if m != "alpha"]:
        d = (acc["alpha"] - acc[other]).dropna()
        for sparsity, x in d.groupby(level="sparsity"):
            rows.append({"sparsity": sparsity, "baseline": other, "mean_diff": x.mean(), "std_diff": x.std(),
                         "n": len(x), "alpha_better": int((x > 0).sum()), "alpha_worse": int((x < 0).sum())})
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep")
    p.add_argument("out")
    p.add_argument("--refit-steps", type=int, default=100)
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--csn", action="store_true", help="also AlphaPruning with rmtkit's CSN exponents")
    p.add_argument("--max-runs", type=int, default=0, help="stop after this many runs (0: all)")
    p.add_argument("--batch-sizes", type=int, nargs="*", default=[], help="only these batch sizes (default: all)")
    p.add_argument("--summarize-only", action="store_true", help="only rebuild the summaries from OUT/pruning.csv")
    args = p.parse_args()
    if args.summarize_only:
        table = pd.read_csv(Path(args.out) / "pruning.csv")
        summarize(table).to_csv(Path(args.out) / "summary.csv", index=False, float_format="%.4f")
        paired(table).to_csv(Path(args.out) / "paired.csv", index=False, float_format="%.4f")
        return
    runs = [p for p in Path(args.sweep).iterdir()
            if (p / "DONE.json").exists() and (p / "final_weights.safetensors").exists()]
    cfgs = {r: json.loads((r / "config.json").read_text()) for r in runs}
    if args.batch_sizes:
        runs = [r for r in runs if cfgs[r]["batch_size"] in args.batch_sizes]
    # Seed by seed, so that a run stopped early still covers every batch size with the same seeds.
    runs.sort(key=lambda r: (cfgs[r]["seed"], cfgs[r]["batch_size"]))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    methods = METHODS if args.csn else tuple(m for m in METHODS if m != "alpha_csn")
    done: set[str] = set()
    if (out_dir / "pruning.csv").exists():  # resume: keep the rows of runs measured with the same settings
        old = pd.read_csv(out_dir / "pruning.csv")
        same = (old["test_size"] == args.test_size) & (old["refit_steps"] == args.refit_steps)
        rows = old[same].to_dict("records")
        done = set(old.loc[same, "run"])
    for run in runs[: args.max_runs or None]:
        if run.name in done:
            continue
        rows += prune_run(run, args.refit_steps, args.test_size, methods)
        table = pd.DataFrame(rows)
        table.to_csv(out_dir / "pruning.csv", index=False, float_format="%.6g")
    table = pd.DataFrame(rows)
    summarize(table).to_csv(out_dir / "summary.csv", index=False, float_format="%.4f")
    paired(table).to_csv(out_dir / "paired.csv", index=False, float_format="%.4f")



if __name__ == "__main__":
    main()
