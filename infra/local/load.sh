#!/usr/bin/env bash
# make load: a sustained run of the whole local flow, then an audit of every message.
#
#   infra/local/load.sh [users]        (default 1000000; make load USERS=N)
#
# Starts a fresh stack under target/load/ (holding the stack lock /tmp/user-lake-stack.lock, so
# do not wrap it in another flock), runs the MSK trigger emulator in the background, fires the
# producer's schedule with 20,000 users per run (the most USERS_PER_RUN allows) until `users`
# were asked for, waits until the trigger is idle, then:
#   - checks with DuckDB that every message the producer reported as acknowledged is in the lake
#     or under _errors/ exactly once: per partition the offsets found run from 0 with no hole and
#     none twice, they add up to the reported count, and no id appears twice
#     (infra/local/load_check.py),
#   - reports the wall time (first scheduled run -> last object written) and the sink's peak
#     memory: the highest VmHWM of any sink process under cargo lambda watch, sampled every 0.5 s.
# Prints one JSON summary line and writes it to target/load/summary.json. The functions are the
# debug builds that cargo lambda watch serves, as in every local run.
set -euo pipefail
. "$(dirname "$0")/../help.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
users=${1:-1000000}
per_run=20000
idle=${LOAD_IDLE:-30s}
[[ "$users" =~ ^[1-9][0-9]*$ ]] || { echo "load: users must be a positive whole number, not '$users'" >&2; exit 2; }

exec 9>/tmp/user-lake-stack.lock
flock 9
# stack.sh up must not take the lock again: this script holds it for the whole run.
export USER_LAKE_STACK_LOCK_HELD=1

set -a; . infra/local/local.env; set +a
eval "$(infra/local/tools.sh)"
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
dir=$target/load
bin=$target/debug
cargo build --locked --quiet -p emulators
rm -rf "$dir"
mkdir -p "$dir"
export USER_LAKE_STACK_DIR=$dir/stack USER_LAKE_OUTPUT=$dir/output

say() { printf '[load] %s\n' "$*" >&2; }
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  infra/local/stack.sh down
}
trap cleanup EXIT

infra/local/stack.sh up
# The first invocation makes cargo lambda watch start a function, which is not part of the run:
# the sink gets an empty batch (it writes nothing), the producer a count it refuses (it produces
# nothing and fails).
invoke() { curl -s -X POST "$LAMBDA_ENDPOINT/2015-03-31/functions/$1/invocations" -d "$2"; echo; }
invoke sink '{"eventSource":"aws:kafka","records":{}}' >"$dir/warm.out"
invoke producer '{"detail-type":"Scheduled Event","source":"aws.events","detail":{"count":0}}' >>"$dir/warm.out"

# Peak memory of the sink: VmHWM of every process named `sink` that descends from cargo lambda
# watch (its function processes are started by `cargo run`, a few levels down).
watch_pid=$(cat "$USER_LAKE_STACK_DIR/functions.pid")
sink_pids() {
  ps -e -o pid=,ppid=,comm= | awk -v root="$watch_pid" '
    { parent[$1] = $2; name[$1] = $3 }
    END { for (p in parent) { q = p; while (q in parent && q != root && q > 1) q = parent[q]
          if (q == root && name[p] == "sink") print p } }'
}
(
  while :; do
    for pid in $(sink_pids); do
      hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$hwm" ] && echo "$pid $hwm"
    done
    sleep 0.5
  done
) >"$dir/sink-vmhwm.txt" &
pids+=($!)

"$bin/msk-trigger" --until-idle "$idle" >"$dir/trigger.json" 2>"$dir/trigger.log" &
trigger=$!
pids+=($trigger)

full=$((users / per_run))
rest=$((users % per_run))
say "producing $users users: $full run(s) of $per_run$([ "$rest" -gt 0 ] && echo " and one of $rest")"
started=$(date +%s.%N)
[ "$full" -gt 0 ] && "$bin/schedule" --times "$full" --every 1s --count "$per_run" --fail-fast >>"$dir/schedule.out"
[ "$rest" -gt 0 ] && "$bin/schedule" --times 1 --count "$rest" --fail-fast >>"$dir/schedule.out"
produced_at=$(date +%s.%N)
say "producer done in $(python3 -c "print(round($produced_at - $started, 1))") s; waiting for the trigger to go idle ($idle)"
wait "$trigger"

reported=$(python3 - "$dir/schedule.out" <<'PY'
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(sum(l["response"].get("produced", 0) for l in lines if l.get("event") == "invoked" and l.get("ok")))
PY
)
set +e
# The table (LAKE_FORMAT=iceberg, the default) is read at its current snapshot through its catalog.
table_args=()
[ "$LAKE_FORMAT" = iceberg ] && table_args=("$USER_LAKE_OUTPUT/iceberg-catalog.db" "$ICEBERG_DATABASE.$ICEBERG_TABLE")
"$USER_LAKE_VENV/bin/python" infra/local/load_check.py \
  "$USER_LAKE_OUTPUT/$LAKE_BUCKET" "$KAFKA_TOPIC" "$reported" "${table_args[@]}" >"$dir/check.json"
check=$?
set -e

python3 - "$dir" "$users" "$started" "$produced_at" "$check" <<'PY' | tee "$dir/summary.json"
import json, sys
d, users, started, produced_at, check = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
counts = json.load(open(f"{d}/check.json"))
trigger = json.loads(open(f"{d}/trigger.json").read().strip().splitlines()[-1])
peaks = {}
for line in open(f"{d}/sink-vmhwm.txt"):
    pid, kib = line.split()
    peaks[pid] = max(peaks.get(pid, 0), int(kib))
last = counts.pop("last_object_mtime") or started
wall = last - started
print(json.dumps({
    "users_asked": users,
    **counts,
    "trigger": trigger,
    "sink_processes": len(peaks),
    "sink_peak_rss_mib": round(max(peaks.values()) / 1024, 1) if peaks else None,
    "producer_s": round(produced_at - started, 1),
    "wall_s": round(wall, 1),
    "users_per_s": round(counts["reported_produced"] / wall) if wall > 0 else None,
    "ok": check == 0,
}))
PY
exit "$check"
