#!/usr/bin/env bash
# The whole test suite: install what is missing, then format/lint, type check, guard rails, vitest and pytest.
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

# The shape of the code (docs/ARCHITECTURE.md, "Guard rails"): import rules on both sides, file length.
step "guard rails: TypeScript import rules (dependency-cruiser)"
npx tsx scripts/check-imports.ts

step "guard rails: Python import rules (import-linter)"
python=${ARR_PYTHON:-$root/py-runtime/.venv/bin/python}
(cd py-runtime && PYTHONPATH=. "$python" -c 'import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())' --no-cache)

step "guard rails: no file over 450 lines"
npx tsx scripts/check-file-length.ts

step "TypeScript tests (vitest)"
npx vitest run

step "Python lint and format (ruff)"
(cd py-runtime && "$python" -m ruff check . ../test && "$python" -m ruff format --check . ../test)

step "Python tests (pytest)"
bash scripts/test-python.sh
