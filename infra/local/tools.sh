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

TANSU_VERSION=0.6.0
S3S_FS_VERSION=0.14.1
root_dir=$(cd "$(dirname "$0")/../.." && pwd)
tools=${USER_LAKE_TOOLS:-$HOME/.cache/user-lake}
requirements="$root_dir/infra/local/requirements.txt"
venv="$tools/venv-$(sha256sum "$requirements" | cut -c1-12)"
only=${2:-all}
[ "${1:-}" = "--only" ] || only=all

log() { printf '[tools] %s\n' "$*" >&2; }

cargo_tool() { # name version binary features...
  local name=$1 version=$2 binary=$3; shift 3
  local dest="$tools/$name-$version"
  if [ -x "$dest/bin/$binary" ]; then return; fi
  log "building $name $version from crates.io (first run only; tansu takes ~15 min on 2 cores)"
  CARGO_TARGET_DIR="$tools/cargo-target" cargo install --quiet --locked \
    --root "$dest.partial" "$name@$version" "$@" >&2
  rm -rf "$dest" && mv "$dest.partial" "$dest"
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
  cargo_tool s3s-fs "$S3S_FS_VERSION" s3s-fs --features binary
  cargo_tool tansu "$TANSU_VERSION" tansu --features dynostore,libsql
fi

echo "export PATH=\"$tools/tansu-$TANSU_VERSION/bin:$tools/s3s-fs-$S3S_FS_VERSION/bin:$venv/bin:\$PATH\""
echo "export USER_LAKE_VENV=\"$venv\""
