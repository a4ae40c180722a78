#!/usr/bin/env bash
# Installs the pinned tools that the local stack and the tests need, once, into a cache
# directory keyed by each tool's version, and prints the environment that puts them on PATH.
#
#   eval "$(infra/local/tools.sh)"        # install what is missing, then export PATH and VENV
#   infra/local/tools.sh --only python    # one group: rust-tools | python
#
# The cache lives in $USER_LAKE_TOOLS (default ~/.cache/user-lake); a second run finds
# everything in place and returns at once.
set -euo pipefail
. "$(dirname "$0")/../help.sh"

TANSU_VERSION=0.6.0
root_dir=$(cd "$(dirname "$0")/../.." && pwd)
tools=${USER_LAKE_TOOLS:-$HOME/.cache/user-lake}
requirements="$root_dir/infra/local/requirements.txt"
venv="$tools/venv-$(sha256sum "$requirements" | cut -c1-12)"
only=${2:-all}
[ "${1:-}" = "--only" ] || only=all

log() { printf '[tools] %s\n' "$*" >&2; }

# The broker is a local test service, not a product: it is built with its SQLite storage only
# and a light release profile (opt-level 1, no LTO, no debug info), which takes a third of the
# CPU time of its own release profile and serves the local stack's load with room to spare.
cargo_tool() { # name version binary cargo-install-args...
  local name=$1 version=$2 binary=$3; shift 3
  local dest="$tools/$name-$version"
  if [ -x "$dest/bin/$binary" ]; then return; fi
  log "building $name $version from crates.io (first run only; minutes on 2 cores, see the README's first-run figures)"
  CARGO_TARGET_DIR="$tools/cargo-target" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_INCREMENTAL=false \
    cargo install --quiet --locked --root "$dest.partial" "$name@$version" "$@" >&2
  rm -rf "$dest" "$tools/cargo-target" && mv "$dest.partial" "$dest"
}

python_tools() {
  if [ -x "$venv/bin/cargo-lambda" ]; then return; fi
  log "installing Python tools from $requirements into $venv"
  rm -rf "$venv.partial"
  python3 -m venv "$venv.partial"
  "$venv.partial/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  rm -rf "$venv" && mv "$venv.partial" "$venv"
  # venv scripts carry the absolute path they were made at: rewrite it after the move
  grep -rlF "$venv.partial" "$venv/bin" | xargs -r sed -i "s|$venv.partial|$venv|g"
}

mkdir -p "$tools"
if [ "$only" = all ] || [ "$only" = python ]; then python_tools; fi
if [ "$only" = all ] || [ "$only" = rust-tools ]; then
  cargo_tool tansu "$TANSU_VERSION" tansu --no-default-features --features libsql
fi

echo "export PATH=\"$tools/tansu-$TANSU_VERSION/bin:$venv/bin:\$PATH\""
echo "export USER_LAKE_VENV=\"$venv\""
