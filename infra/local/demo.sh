#!/usr/bin/env bash
# The whole flow on one machine, with no cloud, no internet and no Docker:
# start the local stack, fire the producer's schedule a few times, let the MSK trigger emulator
# deliver every record to the sink, stop, and summarise what landed where.
#
#   infra/local/demo.sh [runs] [users-per-run]      (make demo: 3 runs of 200 users)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=${1:-3}
users=${2:-200}
set -a; . infra/local/local.env; set +a
lake_root=${USER_LAKE_OUTPUT:-$root/output}
state=${USER_LAKE_STACK_DIR:-$root/target/local-stack}
step() { printf '\n==> %s\n' "$*"; }
count() { find "$1" -name "$2" 2>/dev/null | wc -l || true; }

started_here=false
if ! infra/local/stack.sh status | grep -q 'functions: running'; then
  step "starting the local stack (first run installs tools and may compile for a while)"
  infra/local/stack.sh up
  started_here=true
fi
cleanup() { if $started_here; then step "stopping the local stack"; infra/local/stack.sh down; fi; }
trap cleanup EXIT

bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug
before=$(count "$lake_root/$LAKE_BUCKET/users" '*.parquet')

step "EventBridge schedule: $runs run(s) of the producer, $users users each"
"$bin/schedule" --times "$runs" --every 2s --count "$users" --fail-fast | tee "$state/schedule.out"

step "MSK trigger: delivering every record on $KAFKA_TOPIC to the sink"
"$bin/msk-trigger" --until-idle 3s | tee "$state/trigger.out"

produced=$(python3 - "$state/schedule.out" <<'PY'
import json, sys
total = 0
for line in open(sys.argv[1]):
    start = line.find("{")
    if start < 0:
        continue
    try:
        doc = json.loads(line[start:])
    except ValueError:
        continue
    total += doc.get("produced", 0) if isinstance(doc, dict) else 0
print(total)
PY
)
read -r records written rejected < <(python3 - "$state/trigger.out" <<'PY'
import json, sys
summary = {}
for line in open(sys.argv[1]):
    try:
        doc = json.loads(line)
    except ValueError:
        continue
    if isinstance(doc, dict):
        summary = doc
print(summary.get("records", 0), summary.get("written", 0), summary.get("rejected", 0))
PY
)
after=$(count "$lake_root/$LAKE_BUCKET/users" '*.parquet')
errors=$(count "$lake_root/$LAKE_BUCKET/_errors" '*.jsonl')

step "summary"
cat <<SUMMARY
  users produced      $produced
  records delivered   $records
  records written     $written
  poison records      $rejected
  Parquet objects     $((after - before)) new, $after in all
  error objects       $errors
  lake on disk        $lake_root/$LAKE_BUCKET/users/   (s3://$LAKE_BUCKET/users/ at $AWS_ENDPOINT_URL_S3)
SUMMARY
find "$lake_root/$LAKE_BUCKET/users" -name '*.parquet' | sort | tail -n 3 | sed 's/^/  e.g. /'
