#!/usr/bin/env bash
# The development checkout's Python runtime: `arr setup` into py-runtime/.venv (exact pins of
# py-runtime/requirements.lock; CPU torch, or CUDA when an NVIDIA driver is found). Idempotent: a second
# run with nothing to change returns at once. Flags pass through, e.g. `npm run setup:python -- --torch cpu`.
# ARR_PYTHON=/path/to/python skips it entirely (the user manages that interpreter).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/node_modules/.bin/tsx" "$root/src/cli/main.ts" setup --venv "$root/py-runtime/.venv" "$@"
