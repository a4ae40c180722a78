#!/usr/bin/env bash
# The whole flow on one machine, with no cloud, no internet and no Docker:
# start the local stack, fire the producer's schedule a few times, let the MSK trigger emulator
# deliver every record to the sink, run the compactor over the hours written, query the lake
# with DuckDB, stop, and summarise what landed where.
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

eval "$(infra/local/tools.sh)"   # USER_LAKE_VENV, for DuckDB
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
lines = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(sum(l["response"].get("produced", 0) for l in lines if l.get("event") == "invoked" and l.get("ok")))
PY
)
read -r records written rejected < <(python3 - "$state/trigger.out" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
summary = [l for l in lines if "event" not in l][-1]
print(summary.get("records", 0), summary.get("written", 0), summary.get("rejected", 0))
PY
)
after=$(count "$lake_root/$LAKE_BUCKET/users" '*.parquet')
errors=$(count "$lake_root/$LAKE_BUCKET/_errors" '*.jsonl')

# Objects per hour partition, as `  <count> users/dt=…/hour=…`.
per_hour() {
  find "$lake_root/$LAKE_BUCKET/users" -name '*.parquet' | sed "s|^$lake_root/$LAKE_BUCKET/||; s|/[^/]*\$||" \
    | sort | uniq -c | sed 's/^ */    /'
}
step "compactor: merging each closed hour's small objects into one (the clock is set 3 h ahead so that this hour counts as closed)"
echo "  objects per hour before:"
per_hour
later=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
"$bin/schedule" --function compactor --times 1 --detail "{\"now\":\"$later\"}" --fail-fast | tee "$state/compactor.out"
echo "  objects per hour after:"
per_hour
compacted=$(count "$lake_root/$LAKE_BUCKET/users" '*.parquet')

step "DuckDB: the lake's files as one Hive-partitioned table"
query="$USER_LAKE_VENV/bin/python infra/local/query.py $lake_root/$LAKE_BUCKET/users $KAFKA_TOPIC"
echo "  \$ $query"
answer=$($query)
echo "  $answer"
rows=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rows"])' "$answer")

step "summary"
cat <<SUMMARY
  users produced      $produced
  records delivered   $records
  records written     $written
  poison records      $rejected
  Parquet objects     $((after - before)) new, $after in all before compaction, $compacted after
  rows in the lake    $rows (DuckDB: SELECT count(*) ... WHERE kafka_topic = '$KAFKA_TOPIC')
  error objects       $errors
  lake on disk        $lake_root/$LAKE_BUCKET/users/   (s3://$LAKE_BUCKET/users/ at $AWS_ENDPOINT_URL_S3)
SUMMARY
find "$lake_root/$LAKE_BUCKET/users" -name '*.parquet' | sort | tail -n 3 | sed 's/^/  e.g. /'
