#!/usr/bin/env bash
# Static checks of the deployment templates, before anything reaches an AWS account:
#
#   cfn-lint             template.yaml and infra/aws/*.yaml: zero errors, warnings and
#                        informational findings
#   checkov              each template: no failed check (skips live in the templates, with reasons)
#   sam validate --lint  template.yaml with the cfn-lint that aws-sam-cli pins
#   SAM transform        template.yaml translated to CloudFormation by the SAM translator that
#                        aws-sam-cli pins (infra/lint/sam_translate.py, offline), then cfn-lint on
#                        that (cfn-lint >= 1.54 checks SAM resources against schemas and no longer
#                        transforms, so the generated mapping, schedules, roles and invoke
#                        configs are checked only here)
#   template rules       infra/lint/template_rules.py on the translated template: bounded retries
#                        and a failure destination on the Kafka trigger, no Lambda retry of a
#                        scheduled function, the sink's role may write every root of the lake
#   stack rules          infra/lint/stack_rules.py on the translated template: two stacks of the
#                        defaults share no physical name, a Kafka mapping is created after every
#                        policy of its role, and the operator rules listed there
#   parameters           every template parameter has a row in docs/deploy.md
#   sam build            arm64 release build of every function, then infra/check-binaries.sh:
#                        aarch64 ELF, glibc <= 2.34, no extra shared library, size
#
#   infra/deploy-check.sh                   # everything (the first build takes a while)
#   infra/deploy-check.sh --templates-only  # the template checks alone, in seconds
#   infra/deploy-check.sh --binaries-only   # the build and binary checks alone
#
# The tools are pinned and installed from PyPI into $USER_LAKE_TOOLS (default
# ~/.cache/user-lake)/venv-deploy-<hash of the pins>; a second run reuses them. Each tool gets
# its own virtualenv inside that directory because their dependency pins (boto3, jsonschema,
# networkx, ...) do not resolve together in one environment.
# Exit status: 0 when every check passes, 1 otherwise (every check still runs).
set -euo pipefail
. "$(dirname "$0")/help.sh"

CFN_LINT_PIN="cfn-lint==1.58.0"
CHECKOV_PIN="checkov==3.3.30"
SAM_PIN="aws-sam-cli==1.170.0"

templates_check=1
binaries_check=1
case "${1:-}" in
  "") ;;
  --templates-only) binaries_check=0 ;;
  --binaries-only) templates_check=0 ;;
  *) echo "usage: $0 [--templates-only | --binaries-only]" >&2; exit 2 ;;
esac

root_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$root_dir"
tools=${USER_LAKE_TOOLS:-$HOME/.cache/user-lake}
pins_hash=$(printf '%s\n' "$CFN_LINT_PIN" "$CHECKOV_PIN" "$SAM_PIN" | sha256sum | cut -c1-12)
venv="$tools/venv-deploy-$pins_hash"

log() { printf '[deploy-check] %s\n' "$*" >&2; }

install_tool() { # name pin
  local name=$1 pin=$2 dest="$venv/$1"
  if [ -f "$dest/.installed" ]; then return; fi
  log "installing $pin into $dest (first run only)"
  rm -rf "$dest"
  python3 -m venv "$dest"
  "$dest/bin/pip" install --quiet --disable-pip-version-check "$pin" >&2
  touch "$dest/.installed"
}

mkdir -p "$venv"
install_tool cfn-lint "$CFN_LINT_PIN"
install_tool checkov "$CHECKOV_PIN"
install_tool sam "$SAM_PIN"

templates=(template.yaml infra/aws/*.yaml)
failed=0
results=()
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run_check() { # label command...
  local label=$1; shift
  local log_file
  log_file="$out/$(printf '%s' "$label" | tr -c 'A-Za-z0-9' '_').log"
  if "$@" >"$log_file" 2>&1; then
    results+=("PASS  $label")
  else
    failed=1
    results+=("FAIL  $label")
    printf '\n---- %s ----\n' "$label"
    cat "$log_file"
  fi
}

translate_template() { # output file
  AWS_DEFAULT_REGION=us-east-1 "$venv/sam/bin/python" infra/lint/sam_translate.py template.yaml >"$1"
}

# Every template parameter is documented in the deploy guide's parameter table.
check_parameters_documented() {
  local missing=0 name
  while read -r name; do
    grep -q "^| \`$name\` |" docs/deploy.md || { echo "not in docs/deploy.md: $name"; missing=1; }
  done < <(awk '/^Parameters:/ { on = 1; next } on && /^[A-Za-z]/ { on = 0 }
                on && /^  [A-Za-z0-9]+:$/ { sub(":", "", $1); print $1 }' template.yaml)
  return "$missing"
}

check_templates() {
  # cfn-lint exits non-zero on errors (2), warnings (4) and informational findings (8) alike.
  for t in "${templates[@]}"; do
    run_check "cfn-lint $t" "$venv/cfn-lint/bin/cfn-lint" --format parseable -- "$t"
  done

  # checkov: --quiet prints only failed checks; skips are declared in each template's Metadata.
  for t in "${templates[@]}"; do
    run_check "checkov $t" "$venv/checkov/bin/checkov" --quiet --compact \
      --framework cloudformation --skip-download -f "$t"
  done

  # sam validate --lint runs aws-sam-cli's cfn-lint; --lint needs a region, not credentials.
  run_check "sam validate --lint template.yaml" env AWS_DEFAULT_REGION=us-east-1 \
    SAM_CLI_TELEMETRY=0 "$venv/sam/bin/sam" validate --lint --template-file template.yaml

  # The CloudFormation the transform deploys: translated offline with the sam venv's translator,
  # then linted and held to the template rules. The JSON file name tells cfn-lint the format.
  translated="$out/template.translated.json"
  run_check "SAM transform of template.yaml (offline)" translate_template "$translated"
  run_check "cfn-lint template.yaml after the SAM transform" \
    "$venv/cfn-lint/bin/cfn-lint" --format parseable -- "$translated"
  run_check "template rules (infra/lint/template_rules.py) after the SAM transform" \
    python3 infra/lint/template_rules.py "$translated"
  run_check "stack rules (infra/lint/stack_rules.py) after the SAM transform" \
    python3 infra/lint/stack_rules.py "$translated"

  run_check "template parameters documented in docs/deploy.md" check_parameters_documented
}

# The binaries' table is worth seeing on success too (sizes), so it is printed either way.
check_binaries() {
  local label="sam build (arm64) and binary checks" status=0
  SAM_BIN="$venv/sam/bin/sam" infra/check-binaries.sh 2>"$out/sam-build.log" >"$out/binaries.txt" || status=$?
  if [ "$status" -eq 0 ]; then
    results+=("PASS  $label")
    grep '^\[check-binaries\]' "$out/sam-build.log" || true
  else
    failed=1
    results+=("FAIL  $label")
    printf '\n---- %s ----\n' "$label"
    tail -n 60 "$out/sam-build.log"
  fi
  cat "$out/binaries.txt"
}

[ "$templates_check" -eq 0 ] || check_templates
[ "$binaries_check" -eq 0 ] || check_binaries

printf '\n'
printf '%s\n' "${results[@]}"
if [ "$failed" -eq 0 ]; then
  echo "deploy-check: all checks passed"
else
  echo "deploy-check: FAILED"
fi
exit "$failed"
