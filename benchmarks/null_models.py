"""Null-model check of the phase labels: randomly initialised layers of every kind must read random-like.

    python benchmarks/null_models.py [--seed 1000] [--draws 2] [--out null_models.csv]

A label is a claim a reader acts on, so before trusting it on trained layers it is run on layers whose
answer is known: fresh initialisations, which are random matrices. Families (shapes as Flax stores them):

- ``dense``: ``(in, out)`` kernels of MLPs and classifiers;
- ``conv1x1``, ``conv3x3``, ``conv5x5``: ``(kh, kw, c_in, c_out)`` kernels, c_in and c_out from 16 to 512
  (the analyzer pools the ``kh * kw`` slices' eigenvalues into one ESD);
- ``attention``: query/key/value/output projections ``(d, d)``, a fused ``(d, 3d)`` QKV and ``(d, 4d)`` MLP.

Initialisers: Glorot, He and LeCun, each normal (JAX's truncated normal) and uniform, and an untruncated
normal of standard deviation 0.02 (BERT/GPT). Every layer goes through :func:`rmtkit.analyze` (float64,
the default options) and the script prints, per family, the share labelled random-like, the other labels,
and the warnings raised (``under-trained`` and ``unreliable: MP-like`` are what a random layer should get).
The seeds here (default 1000 on) are not those of any calibration.
"""

from __future__ import annotations

import argparse
import collections

import jax
import numpy as np
import pandas as pd

import rmtkit
from rmtkit.analyzer import warning_categories

INITIALISERS = {
    "glorot_normal": jax.nn.initializers.glorot_normal(),
    "glorot_uniform": jax.nn.initializers.glorot_uniform(),
    "he_normal": jax.nn.initializers.he_normal(),
    "he_uniform": jax.nn.initializers.he_uniform(),
    "lecun_normal": jax.nn.initializers.lecun_normal(),
    "lecun_uniform": jax.nn.initializers.lecun_uniform(),
    "normal_0.02": jax.nn.initializers.normal(0.02),
}

FAMILIES = {
    "dense": [(784, 512), (512, 512), (512, 256), (128, 16), (300, 100), (1024, 256)],
    "conv1x1": [(1, 1, 16, 32), (1, 1, 64, 64), (1, 1, 128, 256), (1, 1, 256, 512), (1, 1, 512, 128)],
    "conv3x3": [(3, 3, 16, 16), (3, 3, 32, 64), (3, 3, 64, 128), (3, 3, 128, 64), (3, 3, 256, 256), (3, 3, 512, 512)],
    "conv5x5": [(5, 5, 16, 32), (5, 5, 32, 64), (5, 5, 64, 64), (5, 5, 96, 256), (5, 5, 256, 128)],
    "attention": [(256, 256), (384, 384), (512, 512), (768, 768), (384, 1152), (512, 2048)],
}

#: The warning categories a random layer may carry: its alpha says "random-like", its tail is an MP edge.
EXPECTED_WARNINGS = {"under-trained", "unreliable: MP-like"}


def layers(seed: int, draws: int) -> dict[str, tuple[str, np.ndarray]]:
    key = jax.random.key(seed)
    out = {}
    for family, shapes in FAMILIES.items():
        for shape in shapes:
            for init_name, init in INITIALISERS.items():
                for draw in range(draws):
                    key, sub = jax.random.split(key)
                    name = f"{family}.{'x'.join(map(str, shape))}.{init_name}.{draw}"
                    out[name] = (family, np.asarray(init(sub, shape, np.float32)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=2, help="draws per family, shape and initialiser")
    parser.add_argument("--out", default=None, help="write the per-layer table here (CSV)")
    args = parser.parse_args()
    made = layers(args.seed, args.draws)
    table = rmtkit.analyze({k: w for k, (_, w) in made.items()}, progress=False).to_frame().set_index("name")
    table["family"] = [made[n][0] for n in table.index]
    table["init"] = [n.split(".")[2] for n in table.index]
    if args.out:
        table.to_csv(args.out)
    print(f"{len(table)} layers, seed {args.seed}\n")
    print("| family | layers | random-like | other labels | warnings beyond under-trained / MP-like |")
    print("| --- | --- | --- | --- | --- |")
    for family, rows in table.groupby("family", sort=False):
        labels = collections.Counter(rows["phase"].fillna("none"))
        rate = labels.pop("random-like", 0) / len(rows)
        other = ", ".join(f"{k} {v}" for k, v in labels.most_common()) or "-"
        extra = collections.Counter(
            part.strip() for w in rows["warning"] for part in (w.split(", ") if isinstance(w, str) else [])
            if part.strip() not in EXPECTED_WARNINGS)
        print(f"| {family} | {len(rows)} | {rate:.1%} | {other} | {', '.join(f'{k} {v}' for k, v in extra.items()) or '-'} |")
    wrong = table[table["phase"] != "random-like"]
    if len(wrong):
        print("\nnot random-like:")
        cols = ["phase", "phase_reason"]
        with pd.option_context("display.width", 250, "display.max_colwidth", 160):
            print(wrong[cols].to_string())
    cats = collections.Counter(c for w in table["warning"] for c in warning_categories(w))
    print(f"\nwarning categories over all layers: {dict(cats)}")


if __name__ == "__main__":
    main()
