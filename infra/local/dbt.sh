#!/usr/bin/env bash
# dbt over the lake, from the pinned venv: the models and data-quality tests of dbt_project/.
#
#   infra/local/dbt.sh                     make dbt: dbt build (models and tests), then dbt source
#                                          freshness, on the local lake (USER_LAKE_OUTPUT, default
#                                          output/); the marts land in <lake>/marts.duckdb
#   infra/local/dbt.sh docs generate       any dbt command and flags, e.g. docs generate
#   infra/local/dbt.sh parse --target athena   the Athena target (make lint: offline)
#
# The local target reads the table with local.env's settings (infra/local/settings.sh: the
# caller's environment over the file, except AWS_*, which stay the file's), so credentials left
# in a shell for AWS never reach the local store. The athena target takes the caller's AWS
# environment as it is (docs/dbt.md). dbt's own output (compiled SQL, manifest, docs, logs) goes
# to target/dbt/.
set -euo pipefail
. "$(dirname "$0")/../help.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${DBT_TARGET:-local}
args=("$@")
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --target | -t) target=${args[$((i + 1))]:-} ;;
    --target=*) target=${args[$i]#--target=} ;;
  esac
done
if [ "$target" = local ]; then
  . infra/local/settings.sh
  lake=${USER_LAKE_OUTPUT:-$root/output}
  [ -d "$lake" ] || { echo "dbt: no lake at $lake: run the flow first (make demo)" >&2; exit 2; }
  USER_LAKE_OUTPUT=$(cd "$lake" && pwd)
  export USER_LAKE_OUTPUT
fi
eval "$(infra/local/tools.sh --only python)"
export DBT_PROFILES_DIR="$root/dbt_project" DBT_TARGET_PATH="$root/target/dbt/$target" \
  DBT_LOG_PATH="$root/target/dbt/logs" DBT_SEND_ANONYMOUS_USAGE_STATS=false
cd dbt_project
if [ $# -gt 0 ]; then exec "$USER_LAKE_VENV/bin/dbt" "$@"; fi
"$USER_LAKE_VENV/bin/dbt" build
"$USER_LAKE_VENV/bin/dbt" source freshness
