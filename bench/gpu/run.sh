#!/usr/bin/env bash
# GPU benchmark for one H200 (fits in about 8 minutes; nothing is downloaded).
#
# On the device machine the image's python3 has torch and peft but not diffusers; its wheels travel
# in bench/gpu/.whl (made here once with bench/gpu/fetch-wheels.sh; gitignored). Call through the
# device tool with carry ["bench/gpu/.whl"] and, for example:
#   bash bench/gpu/run.sh "$OUT"
# Results: $OUT/results.json (+ $OUT/log.txt). A CPU logic check: bash bench/gpu/run.sh OUTDIR --tiny
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-bench-gpu-out}"
shift || true
mkdir -p "$out"
py="${GPU_BENCH_PYTHON:-python3}"
if ! "$py" -c "import diffusers" 2>/dev/null; then
  if compgen -G "$here/.whl/*.whl" >/dev/null; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$here"/.whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "diffusers is not installed and $here/.whl has no wheels: run bench/gpu/fetch-wheels.sh here first" >&2
    exit 2
  fi
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv 2>/dev/null | tee "$out/nvidia-smi.txt" || true
set -o pipefail
timeout 470 "$py" "$here/gpu_bench.py" --out "$out" --budget-s 400 "$@" 2>&1 | tee "$out/log.txt"
