"""Peak resident memory and wall time of ``rmtkit analyze`` on synthetic GPT-2-shaped checkpoints.

    nice -n 19 python benchmarks/bench_memory.py                    # GPT-2 small and medium shapes
    nice -n 19 python benchmarks/bench_memory.py --models small --rmtkit /tmp/old   # another copy of rmtkit

Each checkpoint is written by this script into a temporary folder (removed at the end): one
``model.safetensors`` in float32 with the tensor names and shapes of GPT-2 (token and position
embeddings, per block ``c_attn``/``c_proj``/``c_fc``/``mlp.c_proj`` kernels, layer-norm vectors and
biases; the tied output head is not stored), entries drawn from a Student-t law with 4 degrees of
freedom times 0.02 (heavy tailed, like trained weights). The CLI runs in a child process; its peak
RSS is ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` read by a small wrapper process around it
(a fresh one per model, so no other child's maximum is counted); the wall time (the wrapper's
Python start-up included, ~0.05 s) is measured around it. ``--rmtkit DIR`` runs the package found in
``DIR`` instead of this checkout's (e.g. an older commit exported with ``git archive``), for
before/after figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: (blocks, width, vocabulary, context): GPT-2 small (124 M parameters) and medium (355 M).
SHAPES = {"small": (12, 768, 50257, 1024), "medium": (24, 1024, 50257, 1024)}


def gpt2_tensors(blocks: int, d: int, vocab: int, context: int) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a GPT-2 checkpoint (Conv1D kernels stored as (in, out), like the HF files)."""
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (vocab, d), "wpe.weight": (context, d)}
    for i in range(blocks):
        h = f"h.{i}."
        shapes |= {h + "ln_1.weight": (d,), h + "ln_1.bias": (d,), h + "attn.c_attn.weight": (d, 3 * d),
                   h + "attn.c_attn.bias": (3 * d,), h + "attn.c_proj.weight": (d, d), h + "attn.c_proj.bias": (d,),
                   h + "ln_2.weight": (d,), h + "ln_2.bias": (d,), h + "mlp.c_fc.weight": (d, 4 * d),
                   h + "mlp.c_fc.bias": (4 * d,), h + "mlp.c_proj.weight": (4 * d, d), h + "mlp.c_proj.bias": (d,)}
    return shapes | {"ln_f.weight": (d,), "ln_f.bias": (d,)}


#: safetensors dtype codes of the storage dtypes the writers below accept.
STORAGE = {"F32": np.dtype(np.float32), "F16": np.dtype(np.float16), "BF16": np.dtype(ml_dtypes.bfloat16)}


def write_checkpoint(path: Path, shapes: dict[str, tuple[int, ...]], seed: int = 0) -> int:
    """Stream a float32 safetensors file tensor by tensor (never the whole model in memory); its size in bytes."""
    return stream_safetensors(path, shapes, np.random.default_rng(seed))


def stream_safetensors(path: Path, shapes: dict[str, tuple[int, ...]], rng: np.random.Generator,
                       dtype: str = "F32", chunk: int = 2**24) -> int:
    """Write a safetensors file of Student-t (4 degrees of freedom) x 0.02 entries; its size in bytes.

    The header first, then each tensor's bytes in slices of about ``chunk`` entries along the first
    axis, so memory stays at a few slices however large the tensor or the file. The entries are the
    same, draw for draw, as one ``rng.standard_t(4, size=shape)`` per tensor in turn (the generator's
    stream does not depend on how it is sliced); ``dtype`` is a key of :data:`STORAGE`.
    """
    store = STORAGE[dtype]
    header, offset = {}, 0
    for name, shape in shapes.items():
        nbytes = store.itemsize * math.prod(shape)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for shape in shapes.values():
            rows = max(1, chunk // max(1, math.prod(shape[1:]))) if shape else 1
            for start in range(0, shape[0] if shape else 1, rows):
                part = (min(rows, shape[0] - start), *shape[1:]) if shape else ()
                f.write((0.02 * rng.standard_t(4, size=part)).astype(store).tobytes())
    return path.stat().st_size


#: The floor of a process that analyses one float32 safetensors file: Python, NumPy and SciPy imported, the
#: file read, float64 Gram + eigvalsh of every matrix of at least 50 columns in turn, with all BLAS threads
#: (no fits, no table: what no analyzer can skip). ``python -c FLOOR_PROCESS FILE [MAX_ROWS]``; MAX_ROWS skips
#: taller matrices, as WeightWatcher's ``max_N`` does (it leaves GPT-2's 50257 x 768 embedding out).
FLOOR_PROCESS = """
import json, struct, sys
import numpy as np, scipy.linalg
max_rows = int(sys.argv[2]) if len(sys.argv) > 2 else 2**62
raw = open(sys.argv[1], "rb").read()
size = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + size])
for name, info in header.items():
    if name == "__metadata__" or info["dtype"] != "F32" or len(info["shape"]) != 2 or min(info["shape"]) < 50:
        continue
    if max(info["shape"]) > max_rows:
        continue
    a, b = info["data_offsets"]
    x = np.frombuffer(raw, np.float32, offset=8 + size + a, count=(b - a) // 4).reshape(info["shape"])
    x = x.astype(np.float64)
    x = x if x.shape[0] >= x.shape[1] else x.T
    np.linalg.eigvalsh(x.T @ x)
"""

#: Runs the command given as its arguments, passes its stdout and stderr on, then prints its exit
#: status, the peak RSS of its children (KiB) and their CPU seconds (user + system) as a last line: a fresh process per measurement,
#: so that no earlier child's maximum (nor the benchmark's own, e.g. the checkpoint writer's) is counted.
_WRAPPER = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            "sys.stderr.buffer.write(r.stderr); sys.stdout.buffer.write(r.stdout); "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); print(); print(r.returncode, u.ru_maxrss, "
            "u.ru_utime + u.ru_stime)")


@dataclass(frozen=True)
class Measured:
    """One child process: wall seconds (the wrapper's ~0.05 s Python start-up included), peak RSS in GiB,
    CPU seconds (user + system, all threads: on a loaded machine a steadier figure than the wall time)."""

    seconds: float
    peak_gib: float
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float


def measure(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run ``cmd`` in a fresh wrapper process; its wall time and its peak resident memory."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    stdout, _, last = out.stdout.rstrip("\n").rpartition("\n")
    if out.returncode != 0 or len(last.split()) != 3:
        raise RuntimeError(f"measuring wrapper failed ({out.returncode}): {out.stderr[-2000:]}")
    code, peak_kib, cpu = last.split()
    return Measured(wall, int(peak_kib) / 2**20, int(code), stdout, out.stderr, float(cpu))


def run_cli(path: Path, package_dir: Path | None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (GB) and output rows of ``python -m rmtkit analyze path`` in a child process."""
    env = dict(os.environ)
    if package_dir is not None:
        env["PYTHONPATH"] = str(package_dir)
    cmd = [sys.executable, "-m", "rmtkit", "analyze", str(path), "--format", "csv", "--no-progress"]
    run = measure(cmd, env, package_dir or ROOT)
    if run.returncode not in (0, 1):
        raise RuntimeError(f"rmtkit analyze failed ({run.returncode}): {run.stderr[-2000:]}")
    return run.seconds, run.peak_gib, run.stdout.count("\n") - 1  # less the csv header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--rmtkit", type=Path, default=None, help="folder holding the rmtkit package to run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rmtkit-bench-memory-"))
    try:
        for model in args.models:
            shapes = gpt2_tensors(*SHAPES[model])
            path = tmp / f"gpt2-{model}.safetensors"
            size = write_checkpoint(path, shapes)
            params = sum(int(np.prod(s)) for s in shapes.values())
            matrices = sum(len(s) == 2 for s in shapes.values())
            largest = max(int(np.prod(s)) for s in shapes.values() if len(s) == 2) * 8 / 2**30
            wall, peak, rows = run_cli(path, args.rmtkit)
            print(f"GPT-2 {model} shapes: {params / 1e6:.0f} M params, {size / 1e6:.0f} MB, {matrices} matrices "
                  f"(largest {largest:.2f} GB in float64): {wall:.1f} s, peak RSS {peak:.2f} GB, {rows} rows",
                  flush=True)
            path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
