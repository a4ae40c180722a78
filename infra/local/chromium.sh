#!/usr/bin/env bash
# Installs Debian's chromium (/usr/bin/chromium), the browser the dashboard's test drives
# headless (local/e2e/python/dashboard_check.py, through playwright from requirements.txt).
# Does nothing when it is there; otherwise needs root (or sudo) and apt.
#
#   infra/local/chromium.sh          # install if missing, then print its version
set -euo pipefail
. "$(dirname "$0")/../help.sh"

browser=${USER_LAKE_CHROMIUM:-/usr/bin/chromium}
log() { printf '[chromium] %s\n' "$*" >&2; }

if [ ! -x "$browser" ]; then
  command -v apt-get >/dev/null || { log "no $browser and no apt-get: install chromium yourself"; exit 1; }
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing chromium with apt-get (first run only)"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
fi
"$browser" --version 2>/dev/null
