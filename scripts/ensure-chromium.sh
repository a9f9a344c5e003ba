#!/usr/bin/env bash
# The report test drives Debian's Chromium through playwright-core (no browser download).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]]; then exit 0; fi
if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
  echo "ensure-chromium: /usr/bin/chromium is missing; install Debian's chromium package (apt-get install chromium)." >&2
  exit 1
fi
sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd=sudo
echo "Installing Debian's chromium for the report test..." >&2
$sudo_cmd apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
