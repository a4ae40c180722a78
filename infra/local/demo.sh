#!/usr/bin/env bash
# The whole flow on one machine, with no cloud, no internet and no Docker:
# start the local stack, fire the producer's schedule a few times, let the MSK trigger emulator
# deliver every record to the sink (which commits it to the Iceberg table), run the compactor,
# query the table with DuckDB, export it to the original's output/ files, stop, and
# summarise. With LAKE_FORMAT=files in local.env, the same over the plain-files layout.
#
#   infra/local/demo.sh [runs] [users-per-run]      (make demo: 3 runs of 200 users, 2 s apart)
#   make demo RUNS=60 USERS=1 EVERY=1s               (the original's one user a second for 60 s)
#   infra/local/demo.sh --plan                       what it would do, as JSON, and nothing else
#   DBT=1 infra/local/demo.sh                        (make demo DBT=1) ends with make dbt on the
#                                                    demo's lake, read through the S3 store
#
# Its settings are local.env's with the caller's environment over it, as for `make up`
# (infra/local/settings.sh): USERS_API_URL=https://randomuser.me/api/ make demo fetches real users.
#
# On a new machine the first run also installs the pinned tools and compiles; while a step
# waits, the demo says what it is doing, how long that usually takes and how long it has taken.
set -euo pipefail
. "$(dirname "$0")/../help.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
plan=false; if [ "${1:-}" = --plan ]; then plan=true; shift; fi
runs=${1:-${RUNS:-3}}
users=${2:-${USERS:-200}}
every=${EVERY:-2s}
# Refused before anything is built: a run asks for 1 to 20000 users (the producer's bound).
bad() { echo "demo: $1" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]{0,3}$ ]] || bad "RUNS (runs of the producer) must be 1 to 9999, not '$runs'"
[[ $users =~ ^[1-9][0-9]{0,4}$ ]] && [ "$users" -le 20000 ] \
  || bad "USERS (users per run) must be 1 to 20000, not '$users'"
[[ $every =~ ^[1-9][0-9]*(ms|s|m)$ ]] || bad "EVERY (time between runs) must be like 500ms, 1s or 2m, not '$every'"
. infra/local/settings.sh
lake_root=${USER_LAKE_OUTPUT:-$root/output}
# The table's catalog lives beside the lake's files, as stack.sh places it.
if [ -z "${caller[ICEBERG_CATALOG]+x}" ]; then
  export ICEBERG_CATALOG="sqlite:$lake_root/iceberg-catalog.db"
fi
if $plan; then
  python3 -c '
import json, sys
runs, users, every, api, overridden = sys.argv[1:6]
print(json.dumps({"runs": int(runs), "users_per_run": int(users), "every": every,
                  "users_api_url": api, "overridden": overridden.split()}))
' "$runs" "$users" "$every" "$USERS_API_URL" "$(overridden)"
  exit 0
fi
# What the machine needs, in a second, before minutes of building.
infra/local/preflight.sh
table=false; [ "$LAKE_FORMAT" = iceberg ] && table=true
# USER_LAKE_SERVICES=external: the broker, the store, the users API and the schema registry are
# already running (docker compose up -d); the demo starts only the functions
# (infra/local/stack.sh).
external=false; [ "${USER_LAKE_SERVICES:-native}" = external ] && external=true
# The data's prefix in the lake bucket (read through the S3 endpoint, so that a compose stack's
# store is read as the native one is).
if $table; then data_prefix="${LAKE_PREFIX}iceberg/$ICEBERG_TABLE/data/"; else data_prefix="${LAKE_PREFIX}users/"; fi
state=${USER_LAKE_STACK_DIR:-$root/target/local-stack}
mkdir -p "$state"
demo_started=$SECONDS
clock() { local s=$((SECONDS - demo_started)); printf '%d:%02d' $((s / 60)) $((s % 60)); }
step() { printf '\n==> [%s] %s\n' "$(clock)" "$*"; }
objects() { "$USER_LAKE_VENV/bin/python" infra/local/lake_objects.py "$@"; }

# Waits for a background job of this shell, saying every 30 s that it is still at it.
watch_job() { # pid description usual-duration
  local pid=$1 what=$2 usual=$3 started=$SECONDS
  step "$what (usually $usual)"
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      printf '    ... still %s, %s so far\n' "$what" "$(elapsed "$started")"
    fi
  done
  wait "$pid"
  printf '    done in %s\n' "$(elapsed "$started")"
}
elapsed() { local s=$((SECONDS - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

started_here=false
if ! infra/local/stack.sh status | grep -q 'functions: running'; then
  # The broker (compiled from crates.io on a new machine) and the workspace build at the same
  # time: together they keep both of a small machine's cores busy.
  tools_log="$state/tools.log"
  infra/local/tools.sh >"$tools_log" 2>&1 &
  tools_pid=$!
  cargo build --locked --quiet --workspace --bins &
  watch_job $! "building the functions, the local services and the emulators" \
    "under a minute when built before; 9m39s on a new 2-core machine, the broker compiling beside it"
  watch_job "$tools_pid" "installing the pinned tools (the Kafka broker is compiled once)" \
    "seconds when installed; 2m51s more after the build on a new 2-core machine" || { cat "$tools_log"; exit 1; }
  eval "$(infra/local/tools.sh)"
  step "starting the local stack"
  # The demo's compactor deletes the originals in the run that merges them (no reader is
  # querying the demo's lake meanwhile); a deployed stack waits an hour.
  COMPACTION_DELETE_DELAY_MINUTES=0 USER_LAKE_NO_BUILD=1 infra/local/stack.sh up
  started_here=true
else
  eval "$(infra/local/tools.sh)"
fi
cleanup() { if $started_here; then step "stopping the local stack"; infra/local/stack.sh down; fi; }
trap cleanup EXIT

bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug
# The table's data files in its current snapshot (DuckDB's count), or the layout's objects.
data_files() {
  if $table; then
    [ -f "$lake_root/iceberg-catalog.db" ] || { echo 0; return; }
    "$USER_LAKE_VENV/bin/python" infra/local/query.py --table "$lake_root/iceberg-catalog.db" "$KAFKA_TOPIC" 2>/dev/null \
      | python3 -c 'import json,sys; print(json.load(sys.stdin).get("files", 0))' || echo 0
  else
    objects count "$LAKE_BUCKET" "$data_prefix" .parquet
  fi
}
before=$(data_files)

step "EventBridge schedule: $runs run(s) of the producer, $users users each, $every apart, from $USERS_API_URL (the first one starts the function)"
"$bin/schedule" --times "$runs" --every "$every" --count "$users" --fail-fast | tee "$state/schedule.out"

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
after=$(data_files)
errors=$(objects count "$LAKE_BUCKET" "${LAKE_PREFIX}_errors/" .jsonl)

# Objects per hour partition, as `  <count> users/dt=…/hour=…` (the table: every data file in
# the store, those a compaction replaced included until the compactor removes them).
per_hour() { objects per-dir "$LAKE_BUCKET" "$data_prefix" .parquet; }
step "compactor: merging each closed hour's small objects into one (the clock is set 3 h ahead so that this hour counts as closed)"
echo "  objects per hour before:"
per_hour
later=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
"$bin/schedule" --function compactor --times 1 --detail "{\"now\":\"$later\"}" --fail-fast | tee "$state/compactor.out"
waiting=$(python3 - "$state/compactor.out" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(sum(l["response"].get("originals_waiting", 0) for l in lines if l.get("event") == "invoked" and l.get("ok")))
PY
)
if [ "$waiting" -gt 0 ]; then
  echo "  objects per hour after merging ($waiting original(s) stay until their merged object is COMPACTION_DELETE_DELAY_MINUTES old):"
else
  echo "  objects per hour after merging:"
fi
per_hour
compacted=$(data_files)

if $table; then
  step "DuckDB: the Iceberg table through its catalog and the S3 endpoint (iceberg_scan)"
  query="$USER_LAKE_VENV/bin/python infra/local/query.py --table $lake_root/iceberg-catalog.db $KAFKA_TOPIC"
else
  step "DuckDB: the lake's files as one Hive-partitioned table"
  query="$USER_LAKE_VENV/bin/python infra/local/query.py $lake_root/$LAKE_BUCKET/users $KAFKA_TOPIC"
fi
echo "  \$ $query"
answer=$($query)
echo "  $answer"
rows=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rows"])' "$answer")
sql=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sql"])' "$answer")

checks="-"
if $table; then
  step "independent readers: pyiceberg (catalog and metadata file), DuckDB and polars agree, and each row equals its message on $KAFKA_TOPIC"
  "$USER_LAKE_VENV/bin/python" local/e2e/python/read_table.py \
    --catalog-uri "sqlite:///$lake_root/iceberg-catalog.db" --table "$ICEBERG_DATABASE.$ICEBERG_TABLE" \
    --rows "$state/table-rows.jsonl" >"$state/readers.json"
  "$USER_LAKE_VENV/bin/python" local/e2e/python/table_matches_topic.py \
    --brokers "$KAFKA_BROKERS" --topic "$KAFKA_TOPIC" --rows "$state/table-rows.jsonl" \
    >"$state/topic-check.json" || true
  python3 - "$state/readers.json" "$state/topic-check.json" <<'PY'
import json, sys
read, topic = (json.load(open(p)) for p in sys.argv[1:3])
for name, r in read["readers"].items():
    print(f"  {name:<10} {r['rows']} rows, {r['distinct_ids']} distinct ids, digest {r['digest'][:12]}")
print(f"  topic      {topic['matched']} of {topic['rows']} rows equal to their message, "
      f"{topic['mismatch_count']} differ")
PY
  checks="$state/readers.json:$state/topic-check.json"
fi

step "export: every user in the lake, once, read back through the S3 endpoint, as the original pipeline's files"
exported=$("$bin/export" --out "$lake_root")
echo "  $exported"

step "summary (the demo took $(clock))"
cat <<SUMMARY
  users produced      $produced ($runs run(s) of $users, $every apart, from $USERS_API_URL)
  records delivered   $records
  records written     $written
  poison records      $rejected
  Parquet files       $((after - before)) new, $after in all before compaction, $compacted after$($table && echo " (in the table's current snapshot)")
  rows in the lake    $rows (DuckDB: $sql)
  error objects       $errors
  lake                s3://$LAKE_BUCKET/$data_prefix at $AWS_ENDPOINT_URL_S3$($external || echo " (on disk: $lake_root/$LAKE_BUCKET/$data_prefix)")
  exported            $lake_root/users_data.json, users_data.csv, users_spark_data.parquet, users_data.parquet
SUMMARY

# The demo's own checks, and the same figures as JSON for scripts (infra/local/demo_check.py).
python3 infra/local/demo_check.py "$state/demo.json" "$produced" "$records" "$written" "$rejected" \
  "$rows" "$exported" "$((after - before))" "$compacted" "$(( SECONDS - demo_started ))" "$checks"

if [ "${DBT:-}" = 1 ]; then
  step "dbt: the dbt_project/ models and data-quality tests on the lake (make dbt), through the S3 store"
  USER_LAKE_OUTPUT=$lake_root USER_LAKE_DBT_READ=s3 infra/local/dbt.sh
  echo "  marts in $lake_root/marts.duckdb (docs/dbt.md)"
fi
