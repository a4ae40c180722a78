#!/usr/bin/env bash
# Installs the Python baseline's pinned dependencies, once, into a venv under $USER_LAKE_TOOLS
# keyed by the hash of requirements.txt, and prints the venv's python.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=${USER_LAKE_TOOLS:-$HOME/.cache/user-lake}
venv="$tools/bench-venv-$(sha256sum "$here/requirements.txt" | cut -c1-12)"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  printf '[bench] installing the Python baseline into %s\n' "$venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
