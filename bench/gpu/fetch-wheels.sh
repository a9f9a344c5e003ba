#!/usr/bin/env bash
# Downloads (here, where PyPI is reachable) the pure-Python wheels the GPU machine lacks, into
# bench/gpu/.whl (gitignored), for the device machine's Python 3.12. Pinned to the versions the
# runtime is tested with (shared notes: runtime-math-and-models.md §16).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/.whl"
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$here/.whl" \
  diffusers==0.40.0 importlib-metadata==10.2.0
ls -la "$here/.whl"
