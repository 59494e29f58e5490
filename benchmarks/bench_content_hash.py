"""What trusting a checkpoint by its content costs: the SHA-256 of a 1 GB safetensors file.

The spectra cache (:mod:`rmtkit.cache`) and the zoo's "finished" record key on
:func:`rmtkit.checkpoints.identity.file_digest`, which reads and hashes every byte of the file.
This writes a 1 GB checkpoint of float32 matrices to a temporary folder, then times the hash (file
in the page cache, as right after a training run writes it) beside a plain read of the same bytes.

    python benchmarks/bench_content_hash.py [--gb 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from rmtkit.checkpoints import write_safetensors
from rmtkit.checkpoints.identity import file_digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=1.0, help="size of the synthetic checkpoint in GB (1e9 bytes)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    layer = 4096 * 4096  # float32 entries per matrix: 64 MiB
    n_layers = max(1, round(args.gb * 1e9 / (4 * layer)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        write_safetensors(path, {f"layer{i}.weight": rng.standard_normal((4096, 4096), np.float32)
                                 for i in range(n_layers)})
        size = path.stat().st_size
        for label, work in (("read", lambda: _read(path)), ("sha256", lambda: file_digest(path))):
            times = []
            for _ in range(3):
                tic = time.perf_counter()
                work()
                times.append(time.perf_counter() - tic)
            print(f"{label:7s} {size / 1e9:.2f} GB: best {min(times):.2f} s, median {sorted(times)[1]:.2f} s "
                  f"({size / 1e9 / min(times):.2f} GB/s)")


def _read(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(2**22):
            pass


if __name__ == "__main__":
    main()
