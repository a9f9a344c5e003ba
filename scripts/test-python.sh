#!/usr/bin/env bash
# Runs the py-runtime tests with the runtime's interpreter (ARR_PYTHON or py-runtime/.venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${ARR_PYTHON:-$root/py-runtime/.venv/bin/python}
[[ -x "$python" ]] || { echo "test-python: $python not found; run npm run setup:python" >&2; exit 1; }
cd "$root/py-runtime"
export PYTHONPATH="$root/py-runtime${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
exec "$python" -m pytest -q tests "$@"
