#!/usr/bin/env bash
# The README's first command: the whole pipeline on the embedded default (tiny-cpu), no GPU, no key.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup-python.sh
exec npx tsx src/cli/main.ts demo "$@"
