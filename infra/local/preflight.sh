#!/usr/bin/env bash
# What the local stack needs before anything is built, checked in a second so that `make demo`
# on a machine without it stops at once, saying what to install, rather than after minutes of
# compiling: Linux (or WSL2), the Rust toolchain at the workspace's rust-version, a C compiler,
# make and perl (the Kafka client's OpenSSL is built from source), Python 3.10 or newer with its
# venv module, and the coreutils and util-linux commands the scripts use. Exit 0 when all is
# there; otherwise each missing piece on stderr and exit 2.
set -uo pipefail
. "$(dirname "$0")/../help.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
missing=()
lack() { missing+=("$1"); }

[ "$(uname -s)" = Linux ] || lack "Linux, or WSL2 on Windows (this is $(uname -s))"
for tool in cargo rustc gcc make perl python3 sha256sum setsid flock; do
  command -v "$tool" >/dev/null 2>&1 && continue
  case $tool in
    cargo|rustc) lack "$tool: the Rust toolchain, from https://rustup.rs" ;;
    gcc) lack "gcc: a C compiler (Debian/Ubuntu: apt-get install gcc)" ;;
    make) lack "make (Debian/Ubuntu: apt-get install make)" ;;
    perl) lack "perl, to build the Kafka client's OpenSSL (Debian/Ubuntu: apt-get install perl)" ;;
    python3) lack "python3, 3.10 or newer, with venv (Debian/Ubuntu: apt-get install python3-venv)" ;;
    flock) lack "flock, which keeps two stacks off the same ports (util-linux)" ;;
    *) lack "$tool (coreutils / util-linux)" ;;
  esac
done
if command -v rustc >/dev/null 2>&1; then
  want=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$root/Cargo.toml" | head -1)
  have=$(rustc --version | awk '{print $2}')
  if [ -n "$want" ] && [ "$(printf '%s\n%s\n' "$want" "${have%%-*}" | sort -V | head -1)" != "$want" ]; then
    lack "rustc $want or newer (this is $have): rustup update"
  fi
fi
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || lack "python3 3.10 or newer (this is $(python3 -V 2>&1))"
  python3 -c 'import venv, ensurepip' 2>/dev/null \
    || lack "python3's venv module with pip (Debian/Ubuntu: apt-get install python3-venv)"
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "The local stack needs, and this machine lacks:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 2
fi
