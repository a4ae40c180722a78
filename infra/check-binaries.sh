#!/usr/bin/env bash
# Builds the functions exactly as a deployment does (`sam build`: cargo lambda, release, arm64,
# with zig as the cross linker) and checks every bootstrap it produces:
#
#   - an ELF64 executable for AArch64 (the template's Architectures: [arm64]);
#   - it needs no glibc symbol newer than 2.34, the glibc of the provided.al2023 runtime;
#   - it loads no shared library the runtime lacks (TLS is a static, vendored OpenSSL);
#   - its size, printed so that growth shows up in review.
#
#   infra/check-binaries.sh        # SAM_BIN may name the sam executable (default: sam on PATH)
#
# The pinned cargo-lambda (and zig, which comes with it) comes from infra/local/tools.sh; the
# aarch64 standard library is added with rustup when missing. Builds go to CARGO_TARGET_DIR
# like any other, so a second run is incremental. Exit status 0 when every binary passes.
set -euo pipefail
. "$(dirname "$0")/help.sh"

root_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$root_dir"
MAX_GLIBC=2.34
# What provided.al2023 offers to a binary besides itself: the C runtime and the dynamic loader.
ALLOWED_LIBS=(libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1 ld-linux-aarch64.so.1)

log() { printf '[check-binaries] %s\n' "$*" >&2; }

eval "$(infra/local/tools.sh --only python)"
sam=${SAM_BIN:-sam}
command -v "$sam" >/dev/null || { log "sam not found: set SAM_BIN or put aws-sam-cli on PATH"; exit 1; }
command -v cargo-lambda >/dev/null || { log "cargo-lambda not found after infra/local/tools.sh"; exit 1; }

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  log "adding the aarch64-unknown-linux-gnu standard library (rustup target add)"
  rustup target add aarch64-unknown-linux-gnu >&2 ||
    { log "rustup could not add aarch64-unknown-linux-gnu; it is needed to build for arm64"; exit 1; }
fi

build_dir="${SAM_BUILD_DIR:-$root_dir/.aws-sam/build}"
log "sam build into $build_dir (cargo target dir ${CARGO_TARGET_DIR:-target})"
started=$(date +%s)
# No beta flag: the pinned SAM CLI builds rust-cargolambda functions as a regular build method
# (its workflow_config.py selects it with no experimental gate), as docs/deploy.md says.
SAM_CLI_TELEMETRY=0 \
  "$sam" build --template-file template.yaml --build-dir "$build_dir" >&2
log "sam build took $(($(date +%s) - started)) s"

# Every function the template builds with cargo lambda must have come out.
mapfile -t functions < <(awk '
  /^  [A-Za-z0-9]+:$/ { name = substr($1, 1, length($1) - 1) }
  /BuildMethod: rust-cargolambda/ { print name }' template.yaml)
[ "${#functions[@]}" -gt 0 ] || { log "template.yaml has no rust-cargolambda function"; exit 1; }

failed=0
printf '%-20s %-8s %-12s %10s  %s\n' FUNCTION ARCH MAX_GLIBC SIZE RESULT
for fn in "${functions[@]}"; do
  bin="$build_dir/$fn/bootstrap"
  problems=()
  if [ ! -f "$bin" ]; then
    printf '%-20s %-8s %-12s %10s  %s\n' "$fn" - - - "FAIL: no bootstrap at $bin"
    failed=1
    continue
  fi
  header=$(readelf -h "$bin")
  grep -q 'Class:.*ELF64' <<<"$header" || problems+=("not ELF64")
  grep -q 'Machine:.*AArch64' <<<"$header" || problems+=("not AArch64")
  grep -q 'Type:.*\(EXEC\|DYN\)' <<<"$header" || problems+=("not an executable")
  arch=$(grep -q 'Machine:.*AArch64' <<<"$header" && echo aarch64 || echo other)
  # The newest GLIBC_x.y symbol version the binary needs.
  glibc=$(readelf -V --wide "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  glibc=${glibc:-none}
  if [ "$glibc" != none ] && [ "$(printf '%s\n%s\n' "$glibc" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
    problems+=("needs glibc $glibc > $MAX_GLIBC")
  fi
  while read -r lib; do
    allowed=0
    for ok in "${ALLOWED_LIBS[@]}"; do [ "$lib" = "$ok" ] && allowed=1; done
    [ "$allowed" -eq 1 ] || problems+=("needs $lib")
  done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  size=$(stat -c %s "$bin")
  human=$(awk -v b="$size" 'BEGIN { printf "%.1f MiB", b / 1048576 }')
  if [ "${#problems[@]}" -eq 0 ]; then
    result=PASS
  else
    result="FAIL: $(IFS=';'; echo "${problems[*]}")"
    failed=1
  fi
  printf '%-20s %-8s %-12s %10s  %s\n' "$fn" "$arch" "$glibc" "$human" "$result"
done
exit "$failed"
