"""Time and peak memory of ``rmtkit analyze`` at scale, beside WeightWatcher 0.7.7, in one run (issue 14).

    nice -n 19 python benchmarks/bench_scale.py --out bench_scale.json    # everything (~40 min quiet: see below)
    python benchmarks/bench_scale.py --quick                    # tiny shapes, every code path, 1-2 min
    python benchmarks/bench_scale.py --models small,medium --no-peer
    python benchmarks/bench_scale.py --models big --big-gb 30 --scratch /big/disk
    python benchmarks/bench_scale.py --device                   # on an accelerator: a 7B-shaped model

Every checkpoint is written by this script into ``--scratch`` (default: a new folder under
``/work/tmp-bench``, removed at the end; each model's files are deleted once it is measured), as a
Hugging Face model folder: ``model.safetensors``, or ``model-0000k-of-0000n.safetensors`` shards of
about ``--shard-gb`` each with ``model.safetensors.index.json`` when larger. Entries are Student-t
with 4 degrees of freedom times 0.02 (heavy tailed, like trained weights), seeded, written by
streaming (the header, then each tensor in slices: the writer never holds a tensor whole):

- ``small``, ``medium``: the tensor names and shapes of GPT-2 small (124 M parameters) and medium
  (355 M), float32, one file (as ``benchmarks/bench_memory.py`` writes them);
- ``tinyllama``: TinyLlama-1.1B's shapes with Hugging Face LLaMA names, bf16 (2.2 GB): 22 blocks,
  width 2048, q/o ``2048 x 2048``, grouped-query k/v ``256 x 2048``, gate/up ``5632 x 2048``, down
  ``2048 x 5632``, RMSNorm vectors, ``model.embed_tokens`` and ``lm_head`` ``32000 x 2048``;
- ``big``: a checkpoint larger than this machine's 24 GiB of memory, analysed by rmtkit alone:
  ``--big-gb`` (default 30) GB of float32 ``--big-shape`` (default ``65536 x 1024``) matrices in
  shards of ``--shard-gb`` (default 4.5, so each full shard is over 4 GiB). These shapes are chosen
  for a bounded run time (the eigenvalue cost of an ``N x M`` matrix is ``min(N, M)^2 max(N, M)``),
  not to look like an LLM's; they test reading a model that cannot be held in memory;
- ``llama7b`` (``--device``): LLaMA-2-7B's shapes (32 blocks, width 4096, FFN 11008, vocabulary
  32000, bf16, 13.5 GB in 3 shards), rmtkit alone, end to end on the accelerator JAX finds (a JAX
  with that accelerator's plugin must be installed in the venv; a CPU backend is refused).

Each tool runs in a child process: ``python -m rmtkit analyze FOLDER --format csv --no-progress``
(this checkout's rmtkit, JAX's compilation cache in the scratch folder) and
``.venv-peer/bin/python benchmarks/peer_weightwatcher.py analyze FOLDER`` (``make peer-venv``;
WeightWatcher reads the folder's safetensors itself, bf16 included, through PyTorch, with its
``analyze()`` defaults). The peak RSS of each is read by a fresh wrapper process around it
(``benchmarks/bench_memory.py:measure``), so neither the writer's memory nor another run's is
counted; it also reads their CPU seconds (user + system), steadier than the wall time when the
machine is shared. rmtkit runs twice per model: the first with an empty compilation cache (what a first-ever
process pays), then again with it (what any later process pays); the ratios use the second. The
checkpoint was just written, so both tools read it from the page cache, except ``big``, which does
not fit in it. The two tools need not analyse the same matrices (WeightWatcher's defaults skip
those with more than 50,000 rows, ``max_N``: the 50257 x 768 GPT-2 embedding): the counts are printed.

Run times on 2 cores, quiet machine (estimated from the CPU time of each step measured on the same
machine under load, and from issue 14's figures): small and medium with the peer ~3 min; tinyllama
~10-20 min (most of it WeightWatcher); big: writing 30 GB ~5-8 min (the Student-t draws take ~36 s
of CPU per 10^9 entries, then the disk), analysing it ~3-8 min (112 matrices of ~1.6 s of CPU each
on 2 threads, and reading 30 GB that the page cache cannot hold). ``--big-shape 65536x2048`` doubles
the eigenvalue work for the same size on disk.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_memory import FLOOR_PROCESS, STORAGE, Measured, gpt2_tensors, measure, stream_safetensors
from bench_memory import SHAPES as GPT2_SHAPES  # benchmarks/ is on the path when this runs as a script

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / ".venv-peer" / "bin" / "python"
GB = 10**9
#: (blocks, width, FFN width, k/v rows, vocabulary): TinyLlama-1.1B (grouped-query attention, 4 k/v
#: heads of 64) and LLaMA-2-7B (no grouping).
LLAMA_SHAPES = {"tinyllama": (22, 2048, 5632, 256, 32000), "llama7b": (32, 4096, 11008, 4096, 32000)}
#: --quick: the same layouts, small enough that every path runs in seconds.
QUICK_GPT2 = {"small": (2, 64, 1000, 128), "medium": (4, 128, 1000, 128)}
QUICK_LLAMA = {"tinyllama": (2, 128, 352, 32, 1000), "llama7b": (2, 256, 688, 256, 1000)}
QUICK_BIG = dict(big_gb=0.02, big_shape=(2048, 128), shard_gb=0.012)
MODELS = ("small", "medium", "tinyllama", "big")


def llama_tensors(blocks: int, d: int, ffn: int, kv: int, vocab: int) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a Hugging Face LLaMA checkpoint (``nn.Linear`` weights stored as (out, in))."""
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, d)}
    for i in range(blocks):
        b = f"model.layers.{i}."
        shapes |= {b + "input_layernorm.weight": (d,), b + "self_attn.q_proj.weight": (d, d),
                   b + "self_attn.k_proj.weight": (kv, d), b + "self_attn.v_proj.weight": (kv, d),
                   b + "self_attn.o_proj.weight": (d, d), b + "post_attention_layernorm.weight": (d,),
                   b + "mlp.gate_proj.weight": (ffn, d), b + "mlp.up_proj.weight": (ffn, d),
                   b + "mlp.down_proj.weight": (d, ffn)}
    return shapes | {"model.norm.weight": (d,), "lm_head.weight": (vocab, d)}


def big_tensors(total_bytes: float, shape: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    """As many float32 ``shape`` matrices as make ``total_bytes`` (at least one)."""
    count = max(1, round(total_bytes / (4 * math.prod(shape))))
    return {f"tall.{i:03d}.weight": shape for i in range(count)}


def write_model(folder: Path, shapes: dict[str, tuple[int, ...]], dtype: str, shard_bytes: float,
                seed: int = 0) -> list[Path]:
    """A Hugging Face model folder: ``model.safetensors``, or shards of at least ``shard_bytes`` and an index.

    Tensors go into shards in order, a new shard starting once the current one holds ``shard_bytes``
    or more; one seeded generator draws every tensor in turn. Returns the files written.
    """
    folder.mkdir(parents=True)
    itemsize = STORAGE[dtype].itemsize
    groups: list[dict[str, tuple[int, ...]]] = [{}]
    held = 0
    for name, shape in shapes.items():
        if held >= shard_bytes:
            groups.append({})
            held = 0
        groups[-1][name] = shape
        held += itemsize * math.prod(shape)
    rng = np.random.default_rng(seed)
    if len(groups) == 1:
        stream_safetensors(folder / "model.safetensors", shapes, rng, dtype)
        return [folder / "model.safetensors"]
    files = [folder / f"model-{k + 1:05d}-of-{len(groups):05d}.safetensors" for k in range(len(groups))]
    for file, group in zip(files, groups, strict=True):
        stream_safetensors(file, group, rng, dtype)
    index = {"metadata": {"total_size": sum(itemsize * math.prod(s) for s in shapes.values())},
             "weight_map": {name: file.name for file, group in zip(files, groups, strict=True) for name in group}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return files


def run_rmtkit(folder: Path, jax_cache: Path) -> tuple[Measured, dict[str, int]]:
    """``rmtkit analyze FOLDER`` measured, and its rows counted by status."""
    env = {**os.environ, "RMTKIT_JAX_CACHE": str(jax_cache)}
    run = measure([sys.executable, "-m", "rmtkit", "analyze", str(folder), "--format", "csv", "--no-progress"],
                  env, ROOT)
    if run.returncode not in (0, 1):
        raise RuntimeError(f"rmtkit analyze {folder} failed ({run.returncode}): {run.stderr[-2000:]}")
    counts: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(run.stdout)):
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return run, counts


def run_peer(folder: Path) -> tuple[Measured, int]:
    """WeightWatcher 0.7.7's ``analyze()`` of FOLDER measured, and the number of layers it reports."""
    run = measure([str(PEER), str(ROOT / "benchmarks" / "peer_weightwatcher.py"), "analyze", str(folder)], cwd=ROOT)
    last = run.stdout.strip().splitlines()[-1:] or [""]
    if run.returncode != 0 or not last[0].startswith("layers "):
        raise RuntimeError(f"WeightWatcher on {folder} failed ({run.returncode}): {run.stderr[-2000:]}")
    return run, int(last[0].split()[1])


def jax_backend() -> str:
    """The platform JAX picks in a fresh process of this venv (what ``rmtkit analyze`` will run on)."""
    run = measure([sys.executable, "-c", "import jax; print(jax.default_backend())"])
    return run.stdout.strip().splitlines()[-1] if run.returncode == 0 else f"none ({run.stderr.strip()[-200:]})"


def model_spec(name: str, args: argparse.Namespace) -> tuple[str, dict[str, tuple[int, ...]], str]:
    """(description, tensors, storage dtype) of one model of the benchmark."""
    if name in ("small", "medium"):
        shape = (QUICK_GPT2 if args.quick else GPT2_SHAPES)[name]
        return f"GPT-2 {name} shapes, float32", gpt2_tensors(*shape), "F32"
    if name in LLAMA_SHAPES:
        shape = (QUICK_LLAMA if args.quick else LLAMA_SHAPES)[name]
        label = "TinyLlama-1.1B" if name == "tinyllama" else "LLaMA-2-7B"
        return f"{label} shapes, bf16", llama_tensors(*shape), "BF16"
    rows, cols = args.big_shape
    return (f"{rows} x {cols} float32 matrices (shapes for a bounded run time, not an LLM's)",
            big_tensors(args.big_gb * GB, args.big_shape), "F32")


def measure_model(name: str, args: argparse.Namespace, scratch: Path, peer: bool) -> dict:
    """Write one model, measure rmtkit (twice, or once for ``big``/``llama7b``) and the peer, delete it."""
    label, shapes, dtype = model_spec(name, args)
    matrices = sum(len(s) == 2 for s in shapes.values())
    params = sum(math.prod(s) for s in shapes.values())
    need = params * STORAGE[dtype].itemsize
    free = shutil.disk_usage(scratch).free
    if need > free - 2 * GB:
        raise SystemExit(f"{name}: needs {need / GB:.1f} GB in {scratch}, {free / GB:.1f} GB free (use --scratch)")
    folder = scratch / name
    print(f"{name}: writing {label}, {params / 1e6:.1f} M params, {need / GB:.3f} GB ...", flush=True)
    start = time.perf_counter()
    files = write_model(folder, shapes, dtype, args.shard_gb * GB, seed=args.seed)
    written = time.perf_counter() - start
    sizes = [f.stat().st_size for f in files]
    row = dict(model=name, label=label, dtype=dtype, params=params, matrices=matrices, files=len(files),
               bytes=sum(sizes), largest_file_bytes=max(sizes), write_s=round(written, 1))
    print(f"{name}: {len(files)} file(s), {sum(sizes) / GB:.3f} GB (largest {max(sizes) / GB:.3f} GB), "
          f"written in {written:.0f} s; rmtkit ...", flush=True)
    cache = scratch / f"jax-cache-{name}"
    first, counts = run_rmtkit(folder, cache)
    row |= dict(rmtkit_first_s=round(first.seconds, 2), rmtkit_first_rss_gib=round(first.peak_gib, 3),
                rmtkit_first_cpu_s=round(first.cpu_s, 1), rmtkit_rows=counts)
    if name in ("big", "llama7b"):
        again = first  # one run: compiling is seconds of minutes here
    else:
        again, _ = run_rmtkit(folder, cache)
    row |= dict(rmtkit_s=round(again.seconds, 2), rmtkit_rss_gib=round(again.peak_gib, 3),
                rmtkit_cpu_s=round(again.cpu_s, 1))
    print(f"{name}: rmtkit {again.seconds:.1f} s ({again.cpu_s:.0f} s of CPU), {again.peak_gib:.2f} GiB, "
          f"rows {counts}", flush=True)
    if dtype == "F32" and len(files) == 1 and name != "big":
        for key, max_rows in (("floor_s", 2**62), ("floor_peer_set_s", 50_000)):
            runs = [measure([sys.executable, "-c", FLOOR_PROCESS, str(files[0]), str(max_rows)]) for _ in range(2)]
            row[key] = round(min(r.seconds for r in runs), 2)
        print(f"{name}: floor process (imports + read + float64 Gram + eigvalsh, in turn) {row['floor_s']:.1f} s, "
              f"{row['floor_peer_set_s']:.1f} s without matrices over 50,000 rows (WeightWatcher's max_N); "
              f"rmtkit / floor {again.seconds / row['floor_s']:.2f}x", flush=True)
    if peer and name in ("small", "medium", "tinyllama"):
        print(f"{name}: WeightWatcher ...", flush=True)
        ww, layers = run_peer(folder)
        row |= dict(ww_s=round(ww.seconds, 2), ww_rss_gib=round(ww.peak_gib, 3), ww_cpu_s=round(ww.cpu_s, 1),
                    ww_layers=layers,
                    time_ratio=round(again.seconds / ww.seconds, 3), rss_ratio=round(again.peak_gib / ww.peak_gib, 3))
        print(f"{name}: WeightWatcher {ww.seconds:.1f} s ({ww.cpu_s:.0f} s of CPU), {ww.peak_gib:.2f} GiB, "
              f"{layers} layers", flush=True)
    shutil.rmtree(folder)
    return row


def acceptance(rows: dict[str, dict], memory_bytes: float) -> list[tuple[str, float, str, bool]]:
    """Issue 14's targets that this run measured: (what, value, target, met)."""
    out = []
    if "small" in rows and "medium" in rows:
        flat = rows["medium"]["rmtkit_rss_gib"] / rows["small"]["rmtkit_rss_gib"]
        out.append(("rmtkit peak RSS, medium / small (flat in model size)", flat, "<= 1.5x", flat <= 1.5))
    for name in ("small", "medium"):
        if "floor_s" in rows.get(name, {}) and "ww_s" in rows[name]:
            best = rows[name]["ww_s"] / rows[name]["floor_s"]
            out.append((f"WeightWatcher / floor process time, {name} (the most any analyzer of every matrix can "
                        f"reach here)", best, ">= 5x for the goal to be reachable", best >= 5))
    if "ww_rss_gib" in rows.get("medium", {}):
        r = rows["medium"]["rss_ratio"]
        out.append(("rmtkit / WeightWatcher peak RSS, medium", r, "<= 0.5x", r <= 0.5))
    for name in ("small", "medium"):
        if "ww_s" in rows.get(name, {}):
            speed = rows[name]["ww_s"] / rows[name]["rmtkit_s"]
            out.append((f"WeightWatcher / rmtkit time, {name}", speed, ">= 5x", speed >= 5))
    if "big" in rows:
        r = rows["big"]
        done = _analysed(r)
        larger = "larger" if r["bytes"] > memory_bytes else "NOT larger"
        out.append((f"big checkpoint ({r['bytes'] / GB:.1f} GB, {larger} than the {memory_bytes / 2**30:.0f} GiB of "
                    f"memory): matrices analysed", done, f"all {r['matrices']}", done == r["matrices"]))
    return out


def _analysed(r: dict) -> int:
    """Rows of rmtkit's table with a spectrum (status ok or partial)."""
    from rmtkit.status import RowStatus

    return sum(r["rmtkit_rows"].get(status, 0) for status in RowStatus.analysed_values())


def print_table(rows: list[dict], machine: dict) -> None:
    print(f"\n{machine['cpus']} cores, {machine['memory_gib']:.0f} GiB memory, load average "
          f"{machine['load_start']:.1f} at the start, {machine['load_end']:.1f} at the end; peak RSS in GiB "
          "(2^30 bytes), sizes in GB (10^9)")
    head = (f"{'model':<10} {'params':>8} {'GB':>7} {'files':>5} {'mats':>5} | {'rmtkit 1st':>10} {'rmtkit':>8} "
            f"{'RSS':>6} {'rows':>5} | {'WW':>8} {'RSS':>6} {'rows':>5} | {'time':>6} {'RSS':>6}")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        ours = f"{r['rmtkit_first_s']:9.1f}s {r['rmtkit_s']:7.1f}s {r['rmtkit_rss_gib']:6.2f} " \
               f"{_analysed(r):5d}"
        peer = (f"{r['ww_s']:7.1f}s {r['ww_rss_gib']:6.2f} {r['ww_layers']:5d} | {r['time_ratio']:5.2f}x "
                f"{r['rss_ratio']:5.2f}x") if "ww_s" in r else f"{'-':>8} {'-':>6} {'-':>5} | {'-':>6} {'-':>6}"
        print(f"{r['model']:<10} {r['params'] / 1e6:7.1f}M {r['bytes'] / GB:7.3f} {r['files']:5d} {r['matrices']:5d} | "
              f"{ours} | {peer}")
    print("rmtkit 1st: empty JAX compilation cache; rmtkit: again, with it (big, llama7b: one run, the same "
          "figure twice). rows: matrices analysed (rmtkit: status ok/partial; WW: layers in its table). "
          "Ratios: rmtkit / WeightWatcher.")
    for r in rows:
        cpu = f"rmtkit {r['rmtkit_cpu_s']:.0f} s" + (f", WeightWatcher {r['ww_cpu_s']:.0f} s" if "ww_cpu_s" in r else "")
        print(f"  {r['model']}: {r['label']}; largest file {r['largest_file_bytes'] / GB:.3f} GB; written in "
              f"{r['write_s']:.0f} s (not measured); CPU time (user + system) {cpu}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--no-peer", action="store_true", help="rmtkit only (no WeightWatcher runs)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes: a smoke run of every path in seconds")
    parser.add_argument("--device", action="store_true",
                        help="analyse a LLaMA-2-7B-shaped bf16 model with rmtkit on the accelerator JAX finds")
    parser.add_argument("--big-gb", type=float, default=None, help="size of the big checkpoint in GB (default 30)")
    parser.add_argument("--big-shape", default=None, help="ROWSxCOLS of its float32 matrices (default 65536x1024)")
    parser.add_argument("--shard-gb", type=float, default=None, help="shard size in GB (default 4.5)")
    parser.add_argument("--scratch", type=Path, default=None, help="folder for the checkpoints (default: a new "
                        "folder under /work/tmp-bench, removed at the end)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if bad := sorted(set(models) - set(MODELS) - {"llama7b"}):
        parser.error(f"unknown model(s) {bad}: choose from {','.join(MODELS)}")
    if args.device:
        models = [m for m in models if m == "llama7b"] or ["llama7b"]
    defaults = QUICK_BIG if args.quick else dict(big_gb=30.0, big_shape=(65536, 1024), shard_gb=4.5)
    args.big_gb = args.big_gb if args.big_gb is not None else defaults["big_gb"]
    args.shard_gb = args.shard_gb if args.shard_gb is not None else defaults["shard_gb"]
    args.big_shape = (tuple(int(v) for v in args.big_shape.lower().split("x")) if args.big_shape
                      else defaults["big_shape"])
    peer = not args.no_peer and not args.device
    if peer and not PEER.exists():
        print("no .venv-peer: the WeightWatcher columns need `make peer-venv` (or pass --no-peer)", flush=True)
        peer = False
    backend = jax_backend()
    if args.device and backend == "cpu":
        sys.exit("--device: JAX sees no accelerator in this venv (install the JAX plugin for it first)")
    if args.scratch is None:
        Path("/work/tmp-bench").mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="bench-scale-", dir="/work/tmp-bench"))
    else:
        args.scratch.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.scratch))
    machine = dict(cpus=os.cpu_count(), memory_gib=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
                   load_start=os.getloadavg()[0], jax_backend=backend, platform=platform.platform(),
                   quick=args.quick)
    rows = []
    try:
        for name in models:
            rows.append(measure_model(name, args, scratch, peer))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    machine["load_end"] = os.getloadavg()[0]
    print_table(rows, machine)
    checks = acceptance({r["model"]: r for r in rows}, machine["memory_gib"] * 2**30)
    if checks:
        print("\nIssue 14's targets" + (" (--quick: tiny shapes, not the acceptance figures)" if args.quick else ""))
        for what, value, target, met in checks:
            print(f"  {what}: {value:.2f} (target {target}) {'met' if met else 'MISSED'}")
    if args.device:
        print(f"JAX backend: {backend}")
    if args.out is not None:
        payload = dict(machine=machine, models=rows,
                       acceptance=[dict(what=w, value=v, target=t, met=m) for w, v, t, m in checks])
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
