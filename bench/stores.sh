#!/usr/bin/env bash
# Stores: SQLite vs PostgreSQL, in one run (see BENCHMARKS.md, "Stores: SQLite vs PostgreSQL").
#
#   bench/stores.sh
#
# For each store (SQLite in a temp data dir; PostgreSQL in a fresh database callrec_bench_<random>,
# dropped at the end) it starts `target/release/callrec serve` (rate limits off, TLS on
# 127.0.0.1:$PORT) and runs the same workloads with the same client settings:
#   0. preload: CALLS calls (seeded, the same on both stores) reported through events/report,
#      spread over the last 6 days (a fixed amount of work; timed, for information);
#   1. get_record_by_callId, a random callId of the preload per request;
#   2. get_records_by_filter, a random page 1-10 of 100, over the whole 7-day window, then the
#      same with "callResult":"$FILTER_RESULT";
#   3. reporting: REPORT_CONNECTIONS clients posting batches of 100 new events for DURATION s.
# Queries run before the reporting workload so both stores answer them over the same data.
#
# Knobs (environment):
#   DURATION=10 CALLS=100000 REPORT_CONNECTIONS=32 QUERY_CONNECTIONS=16 FILTER_CONNECTIONS=4
#   PRELOAD_CONNECTIONS=16 FILTER_RESULT=normal_end STORES="sqlite postgres" SKIP_BUILD=0
#   PORT=18771 (the next free port is taken if busy)
#   PG="postgres://root@127.0.0.1:5432" PG_ADMIN_DB=test (the server that holds the bench database)
#   PG_ANALYZE=1 (ANALYZE the bench database after the preload, as autovacuum would soon do)
#
# Raw outputs go to bench/results/stores-<timestamp>/; the table is printed at the end and kept
# there as summary.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10}
CALLS=${CALLS:-100000}
REPORT_CONNECTIONS=${REPORT_CONNECTIONS:-32}
QUERY_CONNECTIONS=${QUERY_CONNECTIONS:-16}
FILTER_CONNECTIONS=${FILTER_CONNECTIONS:-4}
PRELOAD_CONNECTIONS=${PRELOAD_CONNECTIONS:-16}
FILTER_RESULT=${FILTER_RESULT:-normal_end}
STORES=${STORES:-sqlite postgres}
SKIP_BUILD=${SKIP_BUILD:-0}
PORT=${PORT:-18771}
PG=${PG:-postgres://root@127.0.0.1:5432}
PG_ADMIN_DB=${PG_ADMIN_DB:-test}
PG_ANALYZE=${PG_ANALYZE:-1}
SDKAPPID=1400000001
ADMIN=administrator
BIN=$ROOT/target/release/callrec
BENCH=$ROOT/target/release/callrec-bench
RESULTS=$ROOT/bench/results/stores-$(date +%Y%m%d-%H%M%S)
SUMMARY=$RESULTS/summary.md
WORK=$(mktemp -d "${TMPDIR:-/tmp}/callrec-stores.XXXXXX")
PG_DB=callrec_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')

mkdir -p "$RESULTS"
log() { printf '\n== %s\n' "$*" >&2; }
jget() { python3 -c "import json,sys; print(json.loads([l for l in open(sys.argv[1]) if l.startswith('{')][-1])[sys.argv[2]])" "$1" "$2"; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$PG/$PG_ADMIN_DB" "$@"; }

SERVER_PID=
PG_CREATED=0
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
cleanup() {
  stop_server
  if [ "$PG_CREATED" = 1 ]; then
    psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
      echo "could not drop database $PG_DB" >&2
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
while port_busy "$PORT"; do PORT=$((PORT + 1)); done

if [ "$SKIP_BUILD" != 1 ]; then
  log "building release"
  (cd "$ROOT" && cargo build --release -p callrec -p callrec-bench)
fi
# Private copies: a concurrent `cargo build` must not swap the binary between the two stores.
mkdir -p "$WORK/bin"
cp "$BIN" "$BENCH" "$WORK/bin/"
BIN=$WORK/bin/callrec
BENCH=$WORK/bin/callrec-bench

write_config() { # DIR STORE_URL_LINE
  local dir=$1 store_line=$2 key
  mkdir -p "$dir"
  key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  # max_idle_secs above the preload's 6-day spread: the time-out job has nothing to close
  # during the run (ongoing calls would otherwise be rewritten in the background).
  cat > "$dir/callrec.toml" <<EOF
listen = "127.0.0.1:$PORT"
data_dir = "data"

[store]
$store_line

[retention]
days = 7

[calls]
ring_timeout_secs = 60
max_idle_secs = 864000

[[apps]]
sdkappid = $SDKAPPID
secret_key = "$key"
admins = ["$ADMIN"]

[apps.rate_limits]
get_record_by_callId = 0
get_records_by_filter = 0
report_events = 0
EOF
}

start_server() { # DIR NAME
  local dir=$1
  "$BIN" serve --config "$dir/callrec.toml" >"$RESULTS/$2-server.stdout" 2>"$RESULTS/$2-server.log" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    if [ -f "$dir/data/tls/cert.pem" ] &&
       curl -s -m 2 --cacert "$dir/data/tls/cert.pem" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; see $RESULTS/$2-server.log" >&2; tail -5 "$RESULTS/$2-server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "server did not become ready" >&2; exit 1
}

run_store() { # STORE
  local store=$1 dir=$WORK/$1 line
  case "$store" in
    sqlite) line='url = "sqlite://./data/callrec.db"' ;;
    postgres)
      psql_admin -c "CREATE DATABASE $PG_DB" >/dev/null
      PG_CREATED=1
      line="url = \"$PG/$PG_DB\""
      ;;
    *) echo "unknown store $store" >&2; exit 2 ;;
  esac
  write_config "$dir" "$line"
  log "$store: starting the server"
  start_server "$dir" "$store"
  local sig cert=$dir/data/tls/cert.pem target
  sig=$("$BIN" usersig --config "$dir/callrec.toml" --identifier "$ADMIN")
  target=(--url "https://127.0.0.1:$PORT" --usersig "$sig" --cacert "$cert")
  echo "$(cut -d' ' -f1-3 /proc/loadavg)" > "$RESULTS/$store-loadavg-start.txt"

  log "$store: preloading $CALLS calls through events/report ($PRELOAD_CONNECTIONS clients)"
  "$BENCH" preload "${target[@]}" --calls "$CALLS" --connections "$PRELOAD_CONNECTIONS" \
    --ids-out "$dir/ids.txt" | tee "$RESULTS/$store-preload.json"
  if [ "$store" = postgres ] && [ "$PG_ANALYZE" = 1 ]; then
    psql -X -q -v ON_ERROR_STOP=1 "$PG/$PG_DB" -c "ANALYZE"
  fi
  case "$store" in
    sqlite) du -sb "$dir/data" | cut -f1 ;;
    postgres) psql -X -At "$PG/$PG_DB" -c "SELECT pg_database_size(current_database())" ;;
  esac > "$RESULTS/$store-size-bytes.txt"

  log "$store: get_record_by_callId ($QUERY_CONNECTIONS clients, ${DURATION}s)"
  "$BENCH" query "${target[@]}" --api by-call-id --ids "$dir/ids.txt" \
    --connections "$QUERY_CONNECTIONS" --duration "$DURATION" | tee "$RESULTS/$store-by-call-id.json"

  local now from
  now=$(date +%s); from=$((now - 7 * 86400))
  log "$store: get_records_by_filter, whole window ($FILTER_CONNECTIONS clients, ${DURATION}s)"
  "$BENCH" query "${target[@]}" --api by-filter --filter "\"startTimestamp\":$from,\"endTimestamp\":$now" \
    --pages 10 --per-page 100 --connections "$FILTER_CONNECTIONS" --duration "$DURATION" \
    | tee "$RESULTS/$store-filter-window.json"
  log "$store: get_records_by_filter, callResult $FILTER_RESULT ($FILTER_CONNECTIONS clients, ${DURATION}s)"
  "$BENCH" query "${target[@]}" --api by-filter \
    --filter "\"startTimestamp\":$from,\"endTimestamp\":$now,\"callResult\":\"$FILTER_RESULT\"" \
    --pages 10 --per-page 100 --connections "$FILTER_CONNECTIONS" --duration "$DURATION" \
    | tee "$RESULTS/$store-filter-result.json"

  log "$store: events/report, batches of 100 ($REPORT_CONNECTIONS clients, ${DURATION}s)"
  "$BENCH" report "${target[@]}" --connections "$REPORT_CONNECTIONS" --duration "$DURATION" \
    --batch 100 | tee "$RESULTS/$store-report.json"
  echo "$(cut -d' ' -f1-3 /proc/loadavg)" > "$RESULTS/$store-loadavg-end.txt"
  stop_server
  if [ "$store" = postgres ]; then
    psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    PG_CREATED=0
  fi
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for s in $STORES; do run_store "$s"; done

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$STORES" > "$SUMMARY" <<'EOF'
import json, os, sys
res, stores = sys.argv[1], sys.argv[2].split()
def j(store, name):
    p = os.path.join(res, f"{store}-{name}.json")
    if not os.path.exists(p):
        return None
    return json.loads([l for l in open(p) if l.startswith("{")][-1])
def size(store):
    p = os.path.join(res, f"{store}-size-bytes.txt")
    return int(open(p).read().strip()) / 1048576 if os.path.exists(p) else None
rows = []  # (label, {store: value}, fmt)
def add(label, get, fmt="{:,.0f}"):
    rows.append((label, {s: get(s) for s in stores}, fmt))
def field(name, key):
    return lambda s: (j(s, name) or {}).get(key)
pre = j(stores[0], "preload") or {}
add(f"preload: {pre.get('calls', '?'):,} calls / {pre.get('events', '?'):,} events via events/report, elapsed s", field("preload", "elapsed_s"), "{:,.1f}")
add("preload: accepted events/s", field("preload", "events_per_s"))
add("store size after preload, MiB", size, "{:,.1f}")
for name, what in [("report", "reporting: batches of 100 new events")]:
    r = j(stores[0], name) or {}
    add(f"{what} ({r.get('connections', '?')} clients): accepted events/s", field(name, "events_per_s"))
    add(f"{what}: batch p50 ms", field(name, "p50_ms"), "{:,.1f}")
    add(f"{what}: batch p99 ms", field(name, "p99_ms"), "{:,.1f}")
for name, what in [("by-call-id", "get_record_by_callId, random callId"),
                   ("filter-window", "get_records_by_filter, whole 7-day window, pages 1-10 of 100"),
                   ("filter-result", "get_records_by_filter, by callResult, pages 1-10 of 100")]:
    q = j(stores[0], name) or {}
    tn = {s: (j(s, name) or {}).get("total_num") for s in stores}
    extra = f", totalNum {'/'.join(str(v) for v in tn.values())}" if q.get("total_num") is not None else ""
    add(f"{what} ({q.get('connections', '?')} clients{extra}): req/s", field(name, "rps"), "{:,.1f}")
    add(f"{what}: p50 ms", field(name, "p50_ms"), "{:,.2f}")
    add(f"{what}: p99 ms", field(name, "p99_ms"), "{:,.2f}")
bad = []
for s in stores:
    for name in ["by-call-id", "filter-window", "filter-result"]:
        q = j(s, name) or {}
        if q.get("bad"):
            bad.append(f"{s} {name}: {q['bad']} bad answers")
    r = j(s, "report") or {}
    if r.get("errors"):
        bad.append(f"{s} report: {r['errors']} failed batches")
print("| workload | " + " | ".join(stores) + (" | ratio (pg/sqlite) |" if len(stores) == 2 else " |"))
print("|---|" + "---|" * len(stores) + ("---|" if len(stores) == 2 else ""))
for label, vals, fmt in rows:
    cells = [fmt.format(v) if isinstance(v, (int, float)) else "–" for v in vals.values()]
    line = f"| {label} | " + " | ".join(cells) + " |"
    if len(stores) == 2:
        a, b = vals.get("sqlite"), vals.get("postgres")
        line += f" {b / a:.2f}× |" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a else " – |"
    print(line)
if bad:
    print()
    print("non-success answers: " + "; ".join(bad))
EOF
{
  echo
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load avg before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
  for s in $STORES; do echo "load avg $s: start $(cat "$RESULTS/$s-loadavg-start.txt"), end $(cat "$RESULTS/$s-loadavg-end.txt")"; done
  echo "knobs: DURATION=$DURATION CALLS=$CALLS REPORT_CONNECTIONS=$REPORT_CONNECTIONS QUERY_CONNECTIONS=$QUERY_CONNECTIONS FILTER_CONNECTIONS=$FILTER_CONNECTIONS PRELOAD_CONNECTIONS=$PRELOAD_CONNECTIONS FILTER_RESULT=$FILTER_RESULT PG_ANALYZE=$PG_ANALYZE"
  echo "postgres: $(psql -X -At "$PG/$PG_ADMIN_DB" -c 'SHOW server_version' 2>/dev/null || echo '?'); git: $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet || echo ' (dirty)')"
} >> "$SUMMARY"
echo
cat "$SUMMARY"
echo
echo "raw outputs: $RESULTS"
