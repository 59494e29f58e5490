#!/usr/bin/env bash
# The device checks as one prepared script, for a machine with one GPU (H100 or H200); never in CI.
#
#   bash benchmarks/gpu.sh [OUT]            # OUT: where the figures go (default: $OUT, else gpu-out)
#   RMTKIT_GPU_SMOKE=1 bash benchmarks/gpu.sh /tmp/gpu-smoke   # the same commands on tiny shapes, any backend
#
# 1. The analyzer on a LLaMA-2-7B-shaped synthetic checkpoint (13.5 GB of bf16 in 3 shards, written by
#    benchmarks/bench_scale.py itself): wall time, peak device memory and host RSS of `rmtkit analyze`,
#    end to end on the GPU (bench_scale.py --device; ~5 min, most of it writing the checkpoint).
# 2. The headline protocol at the authors' full width (MiniAlexNet channels [96, 256], FC1 4096 x 384):
#    seconds per epoch of 60,000 images at batch 2, 16 and 1000 on the GPU (bench_headline_budget.py),
#    from which the script prints the cost of the whole protocol (8 batch sizes x 100 epochs x 3 seeds).
#    The protocol itself does not fit one 10-minute call; the figures say how many calls it would take.
#
# Needs: a Python with JAX for the GPU, NumPy, SciPy, pandas, matplotlib, tqdm, threadpoolctl, Flax and optax
# (the lent machines' python3 has them all), plus hydra-core, omegaconf and antlr4-python3-runtime for the
# training configuration: where they are missing, wheels in .whl/ are installed into /tmp/site first. Fetch
# them once on a machine with PyPI (the device machine has no network):
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl hydra-core==1.3.2 omegaconf==2.3.0 \
#       antlr4-python3-runtime==4.9.3
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-gpu-out}}
mkdir -p "$OUT_DIR"
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! $PY -c "import hydra, omegaconf" 2>/dev/null; then
  if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      && export PYTHONPATH="$PYTHONPATH:/tmp/site"
  else
    echo "gpu.sh: hydra-core/omegaconf missing and no wheels in .whl/ (see the header); part 2 will fail" >&2
  fi
fi
backend=$($PY -c "import jax; print(jax.default_backend())")
echo "gpu.sh: JAX backend $backend; $($PY -c 'import jax; print(jax.devices()[0].device_kind)')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
status=0
if [ -n "${RMTKIT_GPU_SMOKE:-}" ]; then
  $PY benchmarks/bench_scale.py --quick --no-peer --out "$OUT_DIR/scale.json" || status=1
  $PY benchmarks/bench_headline_budget.py --c1 4 --c2 16 --batches 100,1000 --seconds 1 \
    | tee "$OUT_DIR/headline_budget.txt" || status=1
  exit $status
fi
if [ "$backend" = "cpu" ]; then
  echo "gpu.sh: JAX sees no accelerator; this script is for a GPU machine (RMTKIT_GPU_SMOKE=1 runs it on tiny shapes)" >&2
  exit 2
fi
# 1. the analyzer at 7B scale (the scratch folder on the machine's local disk, removed afterwards)
scratch=$(mktemp -d /tmp/rmtkit-gpu.XXXXXX)
timeout 420 $PY benchmarks/bench_scale.py --device --models llama7b --scratch "$scratch" --out "$OUT_DIR/scale.json" \
  || { echo "gpu.sh: the 7B analysis failed or ran past 7 min" >&2; status=1; }
rm -rf "$scratch"
# 2. the full-width headline protocol: seconds per epoch, then the whole protocol's cost
timeout 150 $PY benchmarks/bench_headline_budget.py --c1 96 --c2 256 --batches 2,16,1000 --seconds 10 \
  | tee "$OUT_DIR/headline_budget.txt" || { echo "gpu.sh: the headline budget failed" >&2; status=1; }
$PY - "$OUT_DIR/headline_budget.txt" <<'EOF'
import re, sys
import numpy as np
line = [l for l in open(sys.argv[1]) if l.strip().startswith("96")]
if line:
    cost = [float(v) for v in re.findall(r"([\d.]+) s", line[0])[:3]]
    batches, sweep = (2, 16, 1000), (2, 4, 8, 16, 32, 100, 250, 1000)
    per_epoch = np.exp(np.interp(np.log(sweep), np.log(batches), np.log(cost))).sum()
    total = per_epoch * 100 * 3
    print(f"full protocol (8 batch sizes x 100 epochs x 3 seeds, one run at a time): {total / 3600:.1f} GPU-hours; "
          f"{total / 480:.0f} calls of 8 minutes")
EOF
exit $status
