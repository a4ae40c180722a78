#!/usr/bin/env bash
# The local stack: a Kafka-protocol broker (tansu), an S3-protocol store (local/s3-store: the
# s3s-fs library, objects as plain files under output/), the randomuser stand-in, a schema
# registry speaking Confluent's REST API (local/schema-registry), and `cargo lambda watch`
# serving the functions. Endpoints are fixed in infra/local/local.env.
#
# The broker keeps its log in SQLite under output/.broker/, beside the lake: offsets go on
# where they stopped across restarts, so a new run's object keys (named by offsets) never
# overwrite an earlier run's objects. Remove output/ to start from nothing.
#
#   infra/local/stack.sh up       start everything (idempotent), wait until each answers; writes
#                                  $state/stack.json: the users API in use, the functions' env
#   infra/local/stack.sh down     stop everything this script started
#   infra/local/stack.sh status   show what runs
#   infra/local/stack.sh settings the settings it runs with, as JSON, and those the caller's
#                                  environment overrode (AWS_* and KAFKA_SECURITY never are)
#   infra/local/stack.sh stop NAME stop one service (s3, kafka, users-api, schema-registry,
#                                  functions), e.g. to
#                                  test an outage; `up` starts it again with the same state
#
# USER_LAKE_SERVICES=external uses a broker, store, users API and schema registry that are
# already running (docker compose up -d) and starts only the functions; `down` stops only what
# `up` started.
set -euo pipefail
. "$(dirname "$0")/../help.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# local.env with the caller's environment over it (AWS_* and KAFKA_SECURITY stay the file's);
# `up` names each value the caller changed.
. infra/local/settings.sh
state=${USER_LAKE_STACK_DIR:-$root/target/local-stack}
lake_root=${USER_LAKE_OUTPUT:-$root/output}
mkdir -p "$state/logs"
# The table's catalog file lives beside the lake's files, wherever they are.
if [ -z "${caller[ICEBERG_CATALOG]+x}" ]; then
  export ICEBERG_CATALOG="sqlite:$lake_root/iceberg-catalog.db"
fi

say() { printf '[stack] %s\n' "$*" >&2; }

die() { say "error: $*"; exit 1; }

port_of() { echo "${1##*:}"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

wait_port() { # name port seconds
  local name=$1 port=$2 deadline=$((SECONDS + $3))
  until port_open "$port"; do
    alive "$name" || die "$name exited before it listened on $port; see $state/logs/$name.log:
$(tail -n 20 "$state/logs/$name.log" 2>/dev/null)"
    [ $SECONDS -lt $deadline ] || die "$name did not listen on $port within $3 s; see $state/logs/$name.log"
    sleep 0.2
  done
}

# USER_LAKE_SERVICES=external: the broker, the store and the users API are someone else's
# (docker compose up -d, with docker-compose.yml's topic and buckets); they must answer on
# local.env's ports (the schema registry too), and only the functions are started here.
case "${USER_LAKE_SERVICES:=native}" in
  native | external) ;;
  *) die "USER_LAKE_SERVICES must be native (start the services here) or external (use running ones), not '$USER_LAKE_SERVICES'" ;;
esac
expect() { # name port
  port_open "$2" || die "USER_LAKE_SERVICES=external, but nothing answers on 127.0.0.1:$2 for $1: start the services first (docker compose up -d), or unset USER_LAKE_SERVICES"
  say "$1: using the service on 127.0.0.1:$2 (USER_LAKE_SERVICES=external)"
}

start() { # name port wait-seconds command...
  local name=$1 port=$2 wait=$3; shift 3
  if alive "$name"; then say "$name already running (pid $(cat "$state/$name.pid"))"; return; fi
  port_open "$port" && die "port $port is taken by another process; $name cannot start (stop it, or run 'make down')"
  say "starting $name on 127.0.0.1:$port"
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
  wait_port "$name" "$port" "$wait"
}

stop() { # name
  local name=$1
  alive "$name" || { rm -f "$state/$name.pid"; return 0; }
  local pid; pid=$(cat "$state/$name.pid")
  say "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$state/$name.pid"
}

# One stack per machine, since its ports are fixed: `up` takes the stack lock that the tests,
# the benchmarks and `make load` take (USER_LAKE_STACK_LOCK, default /tmp/user-lake-stack.lock),
# and the services it starts keep it, inheriting its descriptor, until `down` stops them. A
# caller that holds the lock itself (the tests' harness, load.sh) says so with
# USER_LAKE_STACK_LOCK_HELD=1; an `up` of a stack already running from this state directory
# finds its own services holding it and goes on.
take_stack_lock() {
  [ "${USER_LAKE_STACK_LOCK_HELD:-}" = 1 ] && return 0
  local lock=${USER_LAKE_STACK_LOCK:-/tmp/user-lake-stack.lock} name
  for name in s3 kafka users-api schema-registry functions; do
    alive "$name" && return 0
  done
  exec 9>>"$lock"
  flock -n 9 || die "another local stack holds the stack lock $lock (make up or make demo in another checkout, a test run, make load): stop it (make down there) or wait for it to end"
}

up() {
  take_stack_lock
  infra/local/preflight.sh
  eval "$(infra/local/tools.sh)"
  local key
  for key in $(overridden); do
    say "keeping the caller's $key=${caller[$key]} (infra/local/local.env has $(file_value "$key"))"
  done
  # USER_LAKE_NO_BUILD=1: start what is stopped with the binaries already built (the tests,
  # bringing a service back after an outage, must not wait for a rebuild)
  if [ "${USER_LAKE_NO_BUILD:-}" != 1 ]; then
    # The whole workspace's binaries, as `cargo lambda watch` builds each function (with the
    # workspace's features): its own builds then have nothing left to do.
    say "building the functions and local services"
    cargo build --locked --quiet --workspace --bins
  fi
  local bin; bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug

  if [ "$USER_LAKE_SERVICES" = external ]; then
    expect s3 "$(port_of "$AWS_ENDPOINT_URL_S3")"
    expect kafka "$(port_of "$KAFKA_BROKERS")"
  else
    mkdir -p "$lake_root/$LAKE_BUCKET" "$lake_root/$FAILED_BATCH_BUCKET"
    start s3 "$(port_of "$AWS_ENDPOINT_URL_S3")" 20 \
      "$bin/s3-store" --host 127.0.0.1 --port "$(port_of "$AWS_ENDPOINT_URL_S3")" \
      --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$lake_root"

    local broker_port; broker_port=$(port_of "$KAFKA_BROKERS")
    if ! alive kafka; then
      # tansu reads a sqlite:// path relative to its working directory
      mkdir -p "$lake_root/.broker"
      start kafka "$broker_port" 30 \
        env RUST_LOG=warn bash -c 'cd "$1" && shift && exec "$@"' _ "$lake_root/.broker" \
        tansu broker --storage-engine sqlite://tansu.db \
        --listener-url "tcp://127.0.0.1:$broker_port" \
        --advertised-listener-url "tcp://127.0.0.1:$broker_port"
      local created
      if created=$(RUST_LOG=warn tansu topic create "$KAFKA_TOPIC" --broker "tcp://$KAFKA_BROKERS" \
          --partitions "$KAFKA_PARTITIONS" 2>&1); then
        say "topic $KAFKA_TOPIC created with $KAFKA_PARTITIONS partitions"
      elif grep -qE "TopicAlreadyExists|already exists" <<<"$created"; then
        say "topic $KAFKA_TOPIC exists (kept from an earlier run)"
      else
        die "cannot create topic $KAFKA_TOPIC: $created"
      fi
    else
      say "kafka already running (pid $(cat "$state/kafka.pid"))"
    fi
  fi

  # The users-API stand-in runs only when USERS_API_URL is its own URL; any other API (another
  # port, another host, randomuser.me itself) is used as it is.
  local stand_in=false
  if [ "$USERS_API_URL" = "$USERS_API_STAND_IN" ]; then
    stand_in=true
    local api_port; api_port=$(python3 -c 'import sys,urllib.parse as u; print(u.urlparse(sys.argv[1]).port)' "$USERS_API_STAND_IN")
    if [ "$USER_LAKE_SERVICES" = external ]; then
      expect users-api "$api_port"
    else
      start users-api "$api_port" 20 "$bin/users-api" --listen "127.0.0.1:$api_port"
    fi
  else
    stop users-api
    say "users API: $USERS_API_URL (not the stand-in, which is not started)"
  fi

  # The schema registry stand-in: producers that write Avro register the users' schema there.
  # Python's standard library only, so nothing is built for it; it keeps its schemas in memory.
  # With USER_LAKE_SERVICES=external it is docker-compose.yml's Confluent registry.
  local registry_port; registry_port=$(port_of "$SCHEMA_REGISTRY_STAND_IN")
  if [ "$USER_LAKE_SERVICES" = external ]; then
    expect schema-registry "$registry_port"
  else
    start schema-registry "$registry_port" 20 \
      python3 local/schema-registry/registry.py --listen "127.0.0.1:$registry_port"
  fi

  # The functions' environment: local.env with the caller's values applied.
  local functions_env="$state/functions.env"
  env_file >"$functions_env"
  start functions "$(port_of "$LAMBDA_ENDPOINT")" 120 \
    cargo lambda watch --invoke-port "$(port_of "$LAMBDA_ENDPOINT")" \
    --env-file "$functions_env" --ignore-changes
  python3 - "$state/stack.json" "$USERS_API_URL" "$stand_in" "$functions_env" <<'PY'
import json, sys
path, url, stand_in, env = sys.argv[1:5]
with open(path, "w") as f:
    json.dump({"users_api": {"url": url, "stand_in": stand_in == "true"}, "functions_env": env}, f)
PY
  say "up: Kafka $KAFKA_BROKERS, S3 $AWS_ENDPOINT_URL_S3 (files under $lake_root/$LAKE_BUCKET), users API $USERS_API_URL, schema registry $SCHEMA_REGISTRY_STAND_IN, functions $LAMBDA_ENDPOINT"
}

# local.env's variables with their values in effect, one KEY=VALUE per line.
env_file() {
  while IFS='=' read -r key _; do
    [[ $key =~ ^[A-Z][A-Z0-9_]*$ ]] && printf '%s=%s\n' "$key" "${!key}"
  done < infra/local/local.env
}

down() {
  for name in functions schema-registry users-api kafka s3; do stop "$name"; done
  say "down"
}

# The settings the stack runs with, as JSON: each variable of local.env with its value, and
# which of them the caller's environment overrode.
settings() {
  local keys; keys=$(sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' infra/local/local.env | sort -u)
  python3 -c '
import json, os, sys
keys, overridden = sys.argv[1].split(), sys.argv[2].split()
print(json.dumps({"settings": {k: os.environ.get(k, "") for k in keys}, "overridden": overridden}))
' "$keys" "$(overridden)"
}

status() {
  for name in s3 kafka users-api schema-registry functions; do
    if alive "$name"; then echo "$name: running (pid $(cat "$state/$name.pid"))"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  settings) settings ;;
  stop)
    case "${2:-}" in
      s3|kafka|users-api|schema-registry|functions) stop "$2" ;;
      *) echo "usage: $0 stop s3|kafka|users-api|schema-registry|functions" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: $0 up|down|status|settings|stop NAME" >&2; exit 2 ;;
esac
