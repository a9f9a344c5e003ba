#!/usr/bin/env bash
# Creates (or refreshes) py-runtime/.venv with the exact pins of py-runtime/requirements.lock.
# Idempotent: a stamp holding the lock file's hash makes a second run with nothing to do instant.
# ARR_PYTHON=/path/to/python skips the venv entirely (the user manages that interpreter).
# ARR_KEEP_TORCH=1 keeps an already-installed torch (for example a CUDA build on a GPU node).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lock="$root/py-runtime/requirements.lock"
venv="$root/py-runtime/.venv"
stamp="$venv/.arr-lock-sha256"

if [[ -n "${ARR_PYTHON:-}" ]]; then
  echo "ARR_PYTHON is set ($ARR_PYTHON): not creating a venv; install py-runtime/requirements.lock there yourself." >&2
  exit 0
fi

want=$(sha256sum "$lock" | cut -d' ' -f1)
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "py-runtime/.venv is up to date." >&2
  exit 0
fi

base_python=${ARR_BASE_PYTHON:-python3}
"$base_python" -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is required"' || {
  echo "setup-python: $base_python is older than 3.10; set ARR_BASE_PYTHON to a newer interpreter." >&2
  exit 1
}
[[ -x "$venv/bin/python" ]] || "$base_python" -m venv "$venv"

reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT
if [[ "${ARR_KEEP_TORCH:-0}" == "1" ]] && "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  grep -v '^torch==' "$lock" >"$reqs"
else
  cp "$lock" "$reqs"
fi
echo "Installing the Python runtime into py-runtime/.venv (exact pins)..." >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
"$venv/bin/python" -c 'import torch, diffusers, transformers, peft, safetensors' || {
  echo "setup-python: the runtime does not import after install; see the pip output above." >&2
  exit 1
}
echo "$want" >"$stamp"
echo "py-runtime/.venv is ready." >&2
