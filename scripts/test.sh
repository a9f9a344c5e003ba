#!/usr/bin/env bash
# The whole test suite: install what is missing, then format/lint, type check, vitest and pytest.
# This is the README's test command (`npm ci && npm test`) and what CI runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n=== %s\n' "$1" >&2; }

step "browser for the report test (Debian chromium)"
bash scripts/ensure-chromium.sh

step "Python runtime (py-runtime/.venv)"
bash scripts/setup-python.sh

step "format and lint (biome)"
npx biome ci .

step "type check (tsc)"
npx tsc --noEmit

step "TypeScript tests (vitest)"
npx vitest run

step "Python lint and format (ruff)"
python=${ARR_PYTHON:-$root/py-runtime/.venv/bin/python}
(cd py-runtime && "$python" -m ruff check . ../test && "$python" -m ruff format --check . ../test)

step "Python tests (pytest)"
bash scripts/test-python.sh
