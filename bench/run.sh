#!/usr/bin/env bash
# callrec benchmark suite: one command, see BENCHMARKS.md.
#
#   bench/run.sh [p1|p2|p3|p4|p6|p7|p8|soak|all]  (default: all; soak is not part of all)
#
# Knobs (environment):
#   DURATION=30          seconds per measured run (P1 each side, P2, each P3 mix)
#   RECORDS=10000000     calls in the P1/P3 data set (bulk-loaded, reused while fresh)
#   CONNECTIONS=64       load-generator connections for P1 (both sides) and P2
#   P3_CONNECTIONS=4     connections for P3 (closed loop; latency under saturation)
#   P1_LAT_RATE=2000     P1 p99 is measured at this offered rate (req/s, 16 connections, both sides)
#   HOT_IDS=10000        P1's hot set: this many of the most recently started ended calls
#   P2_POOL=5000         P2: calls in the load generator's pool
#   WRK_THREADS=2        wrk threads
#   SOAK=0               P4: seconds of combined P1+P2 load while sampling RSS (600 = 10 min)
#   REUSE_DATA=1         reuse bench/work/main if it holds RECORDS calls loaded < 10 h ago
#   P6_RATE=4000         P6: events/s offered while delivery throughput is measured
#   P6_LAT_RATE=500      P6: events/s offered while first-attempt latency is measured
#   SOAK_SECS=1200       soak: seconds at 80 % of the capacity measured first (SOAK_LOAD of it);
#                        RSS must be flat over the second half (the first fills SQLite's caches)
#   SOAK_LOAD=0.8  SOAK_CALLS=200000 (calls preloaded for the soak's lookups)
#   SKIP_BUILD=0 SKIP_INSTALL=0 PORT=18443 NGINX_PORT=18444 WORK=bench/work
#
# Raw outputs go to bench/results/<timestamp>/; the summary table is printed at the end and kept
# as summary.md there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PHASE=${1:-all}
DURATION=${DURATION:-30}
RECORDS=${RECORDS:-10000000}
CONNECTIONS=${CONNECTIONS:-64}
P3_CONNECTIONS=${P3_CONNECTIONS:-4}
P1_LAT_RATE=${P1_LAT_RATE:-2000}
HOT_IDS=${HOT_IDS:-10000}
P2_POOL=${P2_POOL:-5000}
WRK_THREADS=${WRK_THREADS:-2}
SOAK=${SOAK:-0}
SOAK_SECS=${SOAK_SECS:-1200}
SOAK_LOAD=${SOAK_LOAD:-0.8}
SOAK_CALLS=${SOAK_CALLS:-200000}
REUSE_DATA=${REUSE_DATA:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_INSTALL=${SKIP_INSTALL:-0}
PORT=${PORT:-18443}
NGINX_PORT=${NGINX_PORT:-18444}
WORK=${WORK:-$ROOT/bench/work}
SDKAPPID=1400000001
ADMIN=administrator
RESULTS=$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)
BIN=$ROOT/target/release/callrec
BENCH=$ROOT/target/release/callrec-bench
SUMMARY=$RESULTS/summary.md

case "$PHASE" in p1|p2|p3|p4|p6|p7|p8|soak|all) ;; *) echo "usage: $0 [p1|p2|p3|p4|p6|p7|p8|soak|all]" >&2; exit 2 ;; esac
mkdir -p "$RESULTS" "$WORK"

log() { printf '\n== %s\n' "$*" >&2; }
row() { echo "$*" >> "$SUMMARY"; }
py() { python3 -c "$@"; }
# jget FILE KEY: a field of the last JSON line of FILE (wrk lines are prefixed with RESULT).
jget() { py "import json,sys; l=[x for x in open('$1') if x.lstrip().startswith(('{','RESULT'))][-1]; print(json.loads(l.replace('RESULT ','',1))['$2'])"; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  if [ -f "$WORK/nginx/nginx.pid" ]; then kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- tools
install_tools() {
  [ "$SKIP_INSTALL" = 1 ] && return
  local need=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v wrk >/dev/null || need+=(wrk)
  command -v python3 >/dev/null || need+=(python3)
  command -v curl >/dev/null || need+=(curl)
  command -v openssl >/dev/null || need+=(openssl)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  # oha (HTTP/2 cross-check of P1) is optional: installed from crates.io when reachable.
  if ! command -v oha >/dev/null && [ "${USE_OHA:-1}" = 1 ]; then
    if curl -s -m 10 -o /dev/null https://index.crates.io/config.json; then
      log "installing oha (cargo install --locked)"
      cargo install oha --locked >/dev/null 2>&1 || echo "oha install failed; HTTP/2 cross-check skipped" >&2
    fi
  fi
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---------------------------------------------------------------- server
write_config() { # DIR
  local dir=$1 key
  mkdir -p "$dir"
  if [ ! -f "$dir/callrec.toml" ]; then
    key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    cat > "$dir/callrec.toml" <<EOF
listen = "127.0.0.1:$PORT"
data_dir = "data"

[[apps]]
sdkappid = $SDKAPPID
secret_key = "$key"
admins = ["$ADMIN"]

[apps.rate_limits]
get_record_by_callId = 0
get_records_by_filter = 0
report_events = 0
get_stats = 0
export = 0
EOF
  fi
  # Configs written before the extension APIs existed: unlimited for them too.
  for k in get_stats export; do
    grep -q "^$k = " "$dir/callrec.toml" || sed -i "/^\[apps.rate_limits\]/a $k = 0" "$dir/callrec.toml"
  done
}

SERVER_PID=
start_server() { # DIR LOGNAME
  local dir=$1
  "$BIN" serve --config "$dir/callrec.toml" >"$RESULTS/$2.stdout" 2>"$dir/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 600); do
    if [ -f "$dir/data/tls/cert.pem" ] &&
       curl -s -m 2 --cacert "$dir/data/tls/cert.pem" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; see $dir/server.log" >&2; tail -5 "$dir/server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "server did not become ready" >&2; exit 1
}
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

RSS_PID=
start_rss() { # PID OUT: VmRSS in KiB, one sample a second
  local pid=$1 out=$2
  ( while [ -r "/proc/$pid/status" ]; do
      awk -v t="$(date +%s)" '/^VmRSS/ {print t, $2}' "/proc/$pid/status" 2>/dev/null || true
      sleep 1
    done ) > "$out" &
  RSS_PID=$!
  PIDS+=("$RSS_PID")
}
stop_rss() { [ -n "$RSS_PID" ] && kill "$RSS_PID" 2>/dev/null || true; wait "$RSS_PID" 2>/dev/null || true; RSS_PID=; }
rss_stats() { # FILE -> "max first_min_avg last_min_avg" in MB
  py "
import sys
v=[int(l.split()[1]) for l in open('$1') if len(l.split())==2]
if not v: print('n/a n/a n/a'); sys.exit()
f=v[:60]; l=v[-60:]
print('%.1f %.1f %.1f %d' % (max(v)/1024, sum(f)/len(f)/1024, sum(l)/len(l)/1024, len(v)))"
}

usersig() { "$BIN" usersig --config "$1/callrec.toml" --identifier "$ADMIN"; }
api_path() { # DIR API
  echo "/v1/$2?sdkappid=$SDKAPPID&identifier=$ADMIN&usersig=$(usersig "$1")&random=12345&contenttype=json"
}

# ---------------------------------------------------------------- data set
MAIN=$WORK/main
# P1's hot set: the HOT_IDS calls that started last among the ended ones (the common lookup: an
# app fetches a record right after its end callback). Read once from the loaded file.
hot_ids() {
  [ -s "$MAIN/hot-ids.txt" ] && [ "$MAIN/hot-ids.txt" -nt "$MAIN/dataset.json" ] && return
  py "
import sqlite3
c = sqlite3.connect('file:$MAIN/data/callrec.db?mode=ro', uri=True)
rows = c.execute('SELECT call_id FROM calls WHERE sdkappid = ? AND ended = 1 ORDER BY start_s DESC LIMIT ?', ($SDKAPPID, $HOT_IDS)).fetchall()
open('$MAIN/hot-ids.txt', 'w').write(''.join(r[0] + chr(10) for r in rows))"
}
ensure_dataset() {
  write_config "$MAIN"
  local marker=$MAIN/dataset.json
  if [ "$REUSE_DATA" = 1 ] && [ -f "$marker" ] && [ -f "$MAIN/data/callrec.db" ] &&
     py "import json,time; d=json.load(open('$marker')); exit(0 if d['calls']==$RECORDS and 'heavy_user' in d and time.time()*1000-d['now_ms'] < 10*3600e3 else 1)"; then
    log "reusing the data set in $MAIN ($RECORDS calls)"
    cp "$marker" "$RESULTS/dataset.json"
    hot_ids
    return
  fi
  log "bulk-loading $RECORDS calls"
  mkdir -p "$MAIN/data"
  rm -f "$marker"
  "$BENCH" load --db "$MAIN/data/callrec.db" --records "$RECORDS" --ids-out "$MAIN/ids.txt" \
    --ids-count 100000 --force 2> >(tee "$RESULTS/load.log" >&2) | tee "$marker"
  cp "$marker" "$RESULTS/dataset.json"
  local calls secs
  calls=$(jget "$marker" calls); secs=$(jget "$marker" total_s)
  row "| load | bulk-load $calls calls ($(jget "$marker" events) events, $(( $(jget "$marker" db_bytes) / 1048576 )) MiB) | – | ${secs} s | – | minutes | $(py "print('PASS' if $secs < 1800 else 'FAIL')") |"
  hot_ids
}

# ---------------------------------------------------------------- P1
run_wrk() { # NAME URL SCRIPT CONNECTIONS [env...]
  local name=$1 url=$2 script=$3 conns=$4; shift 4
  env "$@" wrk -t "$WRK_THREADS" -c "$conns" -d "${DURATION}s" --timeout 5s --latency -s "$script" "$url" \
    > "$RESULTS/$name.txt" 2>&1 || { cat "$RESULTS/$name.txt" >&2; exit 1; }
}

# nginx on NGINX_PORT answering every request with LITERAL (200, from memory): the cheapest
# equivalent answer, HTTP/1.1 keep-alive and TLS 1.3 as callrec is measured (wrk and the report
# client speak HTTP/1.1). LITERAL must hold no quote, backslash or dollar sign.
start_nginx() { # LITERAL CERT KEY
  mkdir -p "$WORK/nginx/tmp"
  cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  client_body_temp_path $WORK/nginx/tmp;
  client_max_body_size 16m;
  client_body_buffer_size 1m;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $2;
    ssl_certificate_key $3;
    ssl_protocols TLSv1.3;
    default_type application/json;
    location / { return 200 '$1'; }
  }
}
EOF
  "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon on;'
  sleep 0.5
}
stop_nginx() {
  if [ -f "$WORK/nginx/nginx.pid" ]; then kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true; fi
  rm -f "$WORK/nginx/nginx.pid"; sleep 0.3
}

p1() {
  log "P1: get_record_by_callId vs nginx static file (wrk, HTTP/1.1 keep-alive over TLS, $CONNECTIONS connections, ${DURATION}s)"
  ensure_dataset
  start_server "$MAIN" p1-server
  local cert=$MAIN/data/tls/cert.pem key=$MAIN/data/tls/key.pem path
  path=$(api_path "$MAIN" records/get_record_by_callId)
  # A real response body of median size becomes nginx's static file.
  mkdir -p "$WORK/nginx/www"
  local i=0 f
  rm -f "$WORK/nginx/sizes"
  while read -r id; do
    f=$WORK/nginx/body.$i
    curl -s --cacert "$cert" -X POST -d "{\"callId\":\"$id\"}" "https://127.0.0.1:$PORT$path" -o "$f"
    echo "$(stat -c %s "$f") $f" >> "$WORK/nginx/sizes"
    i=$((i + 1))
  done < <(shuf -n 21 --random-source=<(yes) "$MAIN/ids.txt")
  f=$(sort -n "$WORK/nginx/sizes" | awk 'NR==11 {print $2}')
  grep -q '"errorCode":0,' "$f" || { echo "get_record_by_callId failed: $(cat "$f")" >&2; exit 1; }
  cp "$f" "$WORK/nginx/www/record.json"; cp "$f" "$RESULTS/p1-body.json"
  rm -f "$WORK"/nginx/body.*
  local size; size=$(stat -c %s "$WORK/nginx/www/record.json")
  # nginx answers from memory: the very bytes of that record as a "return 200" literal (single
  # quotes; the body must hold no quote, backslash or dollar sign, which nginx would interpret).
  local literal; literal=$(cat "$WORK/nginx/www/record.json")
  case "$literal" in *\'*|*\\*|*\$*) echo "the sample record cannot be an nginx literal" >&2; exit 1 ;; esac
  start_nginx "$literal" "$cert" "$key"
  local nurl="https://127.0.0.1:$NGINX_PORT/record.json?sdkappid=$SDKAPPID&random=1"
  # Same size, same TLS: record what each side negotiates.
  for p in "$NGINX_PORT" "$PORT"; do
    echo "port $p: $(openssl s_client -connect 127.0.0.1:$p -alpn http/1.1 </dev/null 2>/dev/null | grep -E '^(New|Protocol|  Protocol|  Cipher)' | tr '\n' ' ')"
  done > "$RESULTS/p1-tls.txt"
  curl -s --cacert "$cert" -X POST -d '{}' -o "$RESULTS/p1-nginx-check.json" "$nurl"
  cmp -s "$RESULTS/p1-nginx-check.json" "$WORK/nginx/www/record.json" || { echo "nginx does not serve the body" >&2; exit 1; }

  # The hot set and the uniform set against the same nginx, measured before and after them (this
  # VM's speed drifts by tens of percent within minutes; the baseline is the mean of the two).
  local npath="/record.json?sdkappid=$SDKAPPID&random=1"
  run_wrk p1-nginx "$nurl" "$ROOT/bench/p1.lua" "$CONNECTIONS" IDS_FILE="$MAIN/hot-ids.txt" REQ_PATH="$npath"
  start_rss "$SERVER_PID" "$RESULTS/p1-rss.txt"
  run_wrk p1-callrec-hot "https://127.0.0.1:$PORT/" "$ROOT/bench/p1.lua" "$CONNECTIONS" IDS_FILE="$MAIN/hot-ids.txt" REQ_PATH="$path"
  run_wrk p1-callrec "https://127.0.0.1:$PORT/" "$ROOT/bench/p1.lua" "$CONNECTIONS" IDS_FILE="$MAIN/ids.txt" REQ_PATH="$path"
  stop_rss
  run_wrk p1-nginx-after "$nurl" "$ROOT/bench/p1.lua" "$CONNECTIONS" IDS_FILE="$MAIN/hot-ids.txt" REQ_PATH="$npath"
  # Latency at a set load (closed loop at saturation measures queueing: p99 ~ connections/throughput).
  local lat_delay=$(( 16 * 1000 / P1_LAT_RATE ))
  run_wrk p1-lat-nginx "$nurl" "$ROOT/bench/p1.lua" 16 IDS_FILE="$MAIN/hot-ids.txt" DELAY_MS="$lat_delay" REQ_PATH="$npath"
  run_wrk p1-lat-callrec "https://127.0.0.1:$PORT/" "$ROOT/bench/p1.lua" 16 IDS_FILE="$MAIN/hot-ids.txt" DELAY_MS="$lat_delay" REQ_PATH="$path"
  if command -v oha >/dev/null; then
    # HTTP/2 cross-check (oha sends one fixed body per run: a single callId).
    local id; id=$(head -1 "$MAIN/hot-ids.txt")
    oha --no-tui --http2 --insecure -z "${DURATION}s" -c "$CONNECTIONS" -m POST -d '{}' "$nurl" > "$RESULTS/p1-h2-nginx.txt" 2>&1 || true
    oha --no-tui --http2 --insecure -z "${DURATION}s" -c "$CONNECTIONS" -m POST -d "{\"callId\":\"$id\"}" \
      "https://127.0.0.1:$PORT$path" > "$RESULTS/p1-h2-callrec.txt" 2>&1 || true
  fi
  stop_nginx
  stop_server

  local n1 n2 np hot uni nb
  n1=$(jget "$RESULTS/p1-nginx.txt" rps); n2=$(jget "$RESULTS/p1-nginx-after.txt" rps)
  np=$(py "print('%.0f' % (($n1 + $n2) / 2))")
  hot=$RESULTS/p1-callrec-hot.txt; uni=$RESULTS/p1-callrec.txt
  nb=$(( $(jget "$RESULTS/p1-nginx.txt" bad) + $(jget "$RESULTS/p1-nginx-after.txt" bad) ))
  row "| P1 | get_record_by_callId req/s, hot set ($HOT_IDS most recently ended calls; body $size B, $CONNECTIONS conns, wrk HTTP/1.1 + TLS 1.3) | nginx $np (before $n1, after $n2) | $(jget "$hot" rps) | $(py "print('%.2f' % ($(jget "$hot" rps)/$np))")× | ≥ 0.8× | $(py "print('PASS' if $(jget "$hot" rps)/$np >= 0.8 and $(jget "$hot" bad) == 0 else 'FAIL')") |"
  row "| P1b | get_record_by_callId req/s, uniform over the $RECORDS calls ($(wc -l < "$MAIN/ids.txt") ids) | nginx $np | $(jget "$uni" rps) | $(py "print('%.2f' % ($(jget "$uni" rps)/$np))")× | ≥ 0.5× | $(py "print('PASS' if $(jget "$uni" rps)/$np >= 0.5 and $(jget "$uni" bad) == 0 else 'FAIL')") |"
  row "| P1 | p99 latency at saturation ($CONNECTIONS conns), hot / uniform | nginx $(jget "$RESULTS/p1-nginx.txt" p99_ms) ms | $(jget "$hot" p99_ms) / $(jget "$uni" p99_ms) ms | – | (info) | – |"
  local ln=$RESULTS/p1-lat-nginx.txt lc=$RESULTS/p1-lat-callrec.txt
  row "| P1 | p50 / p99 latency, hot set at ~$P1_LAT_RATE req/s offered (16 conns; got $(jget "$lc" rps)) | nginx $(jget "$ln" p50_ms) / $(jget "$ln" p99_ms) ms | $(jget "$lc" p50_ms) / $(jget "$lc" p99_ms) ms | – | p99 < 5 ms | $(py "print('PASS' if $(jget "$lc" p99_ms) < 5 and $(jget "$lc" bad) == 0 else 'FAIL')") |"
  [ "$nb" = 0 ] || row "| P1 | nginx non-success answers | $nb | – | – | 0 | FAIL |"
  P1_RSS=$RESULTS/p1-rss.txt
}

# ---------------------------------------------------------------- P2
p2() {
  log "P2: events/report, batches of 100, $CONNECTIONS clients, ${DURATION}s, into the $RECORDS-call store"
  ensure_dataset
  local cert=$MAIN/data/tls/cert.pem key=$MAIN/data/tls/key.pem sig
  sig=$(usersig "$MAIN")
  # The load generator's ceiling: the same client against nginx answering every batch as fully
  # accepted, from memory (it reads and discards each body).
  start_nginx '{"errorCode":0,"errorMessage":"Success","requestId":"00000000000000000000000000000000","data":{"accepted":100,"duplicates":0,"rejected":[]}}' "$cert" "$key"
  "$BENCH" report --url "https://127.0.0.1:$NGINX_PORT" --usersig "$sig" --cacert "$cert" \
    --connections "$CONNECTIONS" --duration "$DURATION" --batch 100 --pool "$P2_POOL" > "$RESULTS/p2-ceiling.json"
  stop_nginx
  # Into the data set's store (the steady state of a full retention window). Each run adds its
  # calls to it (about DURATION x 25 000 calls); REUSE_DATA=0 reloads.
  start_server "$MAIN" p2-server
  start_rss "$SERVER_PID" "$RESULTS/p2-rss.txt"
  "$BENCH" report --url "https://127.0.0.1:$PORT" --usersig "$sig" --cacert "$cert" \
    --connections "$CONNECTIONS" --duration "$DURATION" --batch 100 --pool "$P2_POOL" \
    --sample-out "$RESULTS/p2-sample.jsonl" | tee "$RESULTS/p2.json"
  stop_rss
  # Durability: kill -9 right after the last acknowledgement, restart, re-report the sample.
  kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  start_server "$MAIN" p2-restart
  "$BENCH" recheck --url "https://127.0.0.1:$PORT" --usersig "$sig" --cacert "$cert" \
    --sample "$RESULTS/p2-sample.jsonl" | tee "$RESULTS/p2-recheck.json" || true
  stop_server
  local eps ceiling durable
  eps=$(jget "$RESULTS/p2.json" events_per_s); ceiling=$(jget "$RESULTS/p2-ceiling.json" events_per_s)
  durable=$(jget "$RESULTS/p2-recheck.json" durable 2>/dev/null || echo False)
  row "| P2 | events/report accepted events/s into the $RECORDS-call store (batches of 100, $CONNECTIONS clients) | target 100000; generator ceiling $ceiling (nginx answering) | $eps | $(py "print('%.2f' % ($eps/100000))")× | ≥ 100k/s | $(py "print('PASS' if $eps >= 100000 else 'FAIL')") |"
  row "| P2 | batch latency p50 / p99 | – | $(jget "$RESULTS/p2.json" p50_ms) / $(jget "$RESULTS/p2.json" p99_ms) ms | – | – | – |"
  row "| P2 | acknowledged events durable after kill -9 ($(jget "$RESULTS/p2-recheck.json" events 2>/dev/null || echo 0) sampled) | – | $durable | – | all | $([ "$durable" = True ] && echo PASS || echo FAIL) |"
  P2_RSS=$RESULTS/p2-rss.txt
}

# ---------------------------------------------------------------- P3
# A record of the data set with a callee and a room (from page 1 of the last three days).
sample_record() { # DIR OUT
  local path; path=$(api_path "$1" records/get_records_by_filter)
  curl -s --cacert "$1/data/tls/cert.pem" -X POST \
    -d "{\"startTimestamp\":$(( $(date +%s) - 3 * 86400 )),\"numberPerPage\":200}" \
    "https://127.0.0.1:$PORT$path" |
    py "import json,sys; d=json.load(sys.stdin)['data']['callRecordList']; print(json.dumps(next(r for r in d if r['roomId'] and r['callees'])))" > "$2"
}

p3() {
  log "P3: get_records_by_filter over $RECORDS calls, pages 1-10 of 100, $P3_CONNECTIONS connections, ${DURATION}s per mix"
  ensure_dataset
  start_server "$MAIN" p3-server
  local path now day_from day_to week callee room ids heavy light
  path=$(api_path "$MAIN" records/get_records_by_filter)
  now=$(date +%s); day_from=$((now - 3 * 86400)); day_to=$((now - 2 * 86400))
  week="\"startTimestamp\":$((now - 7 * 86400)),\"endTimestamp\":$now"
  heavy=$(jget "$MAIN/dataset.json" heavy_user); light=$(jget "$MAIN/dataset.json" light_user)
  sample_record "$MAIN" "$RESULTS/p3-sample.json"
  callee=$(py "import json; print(json.load(open('$RESULTS/p3-sample.json'))['callees'][0])")
  room=$(py "import json; print(json.load(open('$RESULTS/p3-sample.json'))['roomId'])")
  ids=$(shuf -n 1000 --random-source=<(yes) "$MAIN/ids.txt" | py "import json,sys; print(json.dumps([l.strip() for l in sys.stdin]))")
  local -a mixes=(
    "whole_window|$week"
    "one_day|\"startTimestamp\":$day_from,\"endTimestamp\":$day_to"
    "by_result_normal_end|$week,\"callResult\":\"normal_end\""
    "by_result_reject|$week,\"callResult\":\"reject\""
    "by_type_group|$week,\"callType\":\"group\""
    "userId_heavy_10k_calls|$week,\"userId\":\"$heavy\""
    "userId_light_3_calls|$week,\"userId\":\"$light\""
    "caller_heavy|$week,\"caller\":\"$heavy\""
    "callee_sampled|$week,\"callee\":\"$callee\""
    "userId_heavy_normal_end_video_min30s|$week,\"userId\":\"$heavy\",\"callResult\":\"normal_end\",\"mediaType\":\"video\",\"minDurationSecs\":30"
    "mediaType_video|$week,\"mediaType\":\"video\""
    "mediaType_audio_single_reject|$week,\"mediaType\":\"audio\",\"callType\":\"single\",\"callResult\":\"reject\""
    "roomId_sampled|$week,\"roomId\":\"$room\""
    "callIds_1000|$week,\"callIds\":$ids"
    "order_asc|$week,\"order\":\"asc\""
    "minDuration_60_no_total|$week,\"minDurationSecs\":60,\"withTotal\":false"
    "maxDuration_30_no_total|$week,\"maxDurationSecs\":30,\"withTotal\":false"
    "minDuration_60_one_hour|\"startTimestamp\":$day_from,\"endTimestamp\":$((day_from + 3599)),\"minDurationSecs\":60"
    "minDuration_60_whole_window_total|$week,\"minDurationSecs\":60"
  )
  local m name filter total
  for m in "${mixes[@]}"; do
    name=${m%%|*}; filter=${m#*|}
    # totalNum of the mix (exact; the same on every page); "-" when the mix asks for none.
    curl -s --cacert "$MAIN/data/tls/cert.pem" -X POST -d "{$filter,\"numberPerPage\":100,\"page\":10}" \
      "https://127.0.0.1:$PORT$path" > "$RESULTS/p3-$name-page10.json"
    total=$(py "import json; d=json.load(open('$RESULTS/p3-$name-page10.json')); print(d['data'].get('totalNum', '-') if 'data' in d else 'errorCode %s' % d['errorCode'])")
    run_wrk "p3-$name" "https://127.0.0.1:$PORT/" "$ROOT/bench/p3.lua" "$P3_CONNECTIONS" REQ_PATH="$path" FILTER="$filter"
    local f=$RESULTS/p3-$name.txt p99
    p99=$(jget "$f" p99_ms)
    row "| P3 | filter $name (totalNum $total), p50 / p99 at $(jget "$f" rps) req/s | target p99 20 ms | $(jget "$f" p50_ms) / $p99 ms | $(py "print('%.2f' % ($p99/20))")× of budget | p99 < 20 ms | $(py "print('PASS' if $p99 < 20 and $(jget "$f" bad) == 0 else 'FAIL')") |"
  done
  stop_server
}

# ---------------------------------------------------------------- P8
p8() {
  log "P8: get_stats over the $RECORDS-call window, $P3_CONNECTIONS connections, ${DURATION}s per mix"
  ensure_dataset
  start_server "$MAIN" p8-server
  local path now week heavy
  path=$(api_path "$MAIN" records/get_stats)
  now=$(date +%s)
  week="\"startTimestamp\":$((now - 7 * 86400)),\"endTimestamp\":$now"
  heavy=$(jget "$MAIN/dataset.json" heavy_user)
  local -a mixes=(
    "day_buckets|$week,\"bucket\":\"day\""
    "hour_buckets|$week,\"bucket\":\"hour\""
    "all|$week,\"bucket\":\"all\""
    "hour_buckets_video_group|$week,\"bucket\":\"hour\",\"mediaType\":\"video\",\"callType\":\"group\""
    "day_buckets_userId_heavy|$week,\"bucket\":\"day\",\"userId\":\"$heavy\""
    "day_buckets_minDuration_60|$week,\"bucket\":\"day\",\"minDurationSecs\":60"
  )
  local m name filter calls
  for m in "${mixes[@]}"; do
    name=${m%%|*}; filter=${m#*|}
    curl -s --cacert "$MAIN/data/tls/cert.pem" -X POST -d "{$filter}" \
      "https://127.0.0.1:$PORT$path" > "$RESULTS/p8-$name.json"
    calls=$(py "import json; d=json.load(open('$RESULTS/p8-$name.json')); print('%d buckets, %d calls' % (len(d['data']['buckets']), sum(b['total'] for b in d['data']['buckets'])) if 'data' in d else 'errorCode %s' % d['errorCode'])")
    run_wrk "p8-$name" "https://127.0.0.1:$PORT/" "$ROOT/bench/p3.lua" "$P3_CONNECTIONS" REQ_PATH="$path" FILTER="$filter" PAGED=0
    local f=$RESULTS/p8-$name.txt p99
    p99=$(jget "$f" p99_ms)
    row "| P8 | get_stats $name ($calls), p50 / p99 at $(jget "$f" rps) req/s | target 500 ms | $(jget "$f" p50_ms) / $p99 ms | $(py "print('%.3f' % ($p99/500))")× of budget | < 500 ms | $(py "print('PASS' if $p99 < 500 and $(jget "$f" bad) == 0 else 'FAIL')") |"
  done
  stop_server
}

# ---------------------------------------------------------------- P4
p4() {
  if [ "$SOAK" -gt 0 ]; then
    log "P4: soak, ${SOAK}s of P1 lookups + P2 reports together on the $RECORDS-call data set"
    ensure_dataset
    start_server "$MAIN" p4-server
    start_rss "$SERVER_PID" "$RESULTS/p4-soak-rss.txt"
    local half=$(( (CONNECTIONS + 1) / 2 ))
    DURATION=$SOAK run_wrk p4-soak-lookups "https://127.0.0.1:$PORT/" "$ROOT/bench/p1.lua" "$half" \
      IDS_FILE="$MAIN/ids.txt" REQ_PATH="$(api_path "$MAIN" records/get_record_by_callId)" &
    local wrk_pid=$!
    "$BENCH" report --url "https://127.0.0.1:$PORT" --usersig "$(usersig "$MAIN")" \
      --cacert "$MAIN/data/tls/cert.pem" --connections "$half" --duration "$SOAK" > "$RESULTS/p4-soak-report.json"
    wait "$wrk_pid"
    stop_rss; stop_server
    # Flat is judged over the second half: the first fills SQLite's page caches and the record
    # cache (as in the soak phase).
    read -r mx second last n < <(py "
v=[int(l.split()[1]) for l in open('$RESULTS/p4-soak-rss.txt') if len(l.split())==2]
h=len(v)//2; w=v[h-30:h+30] or v[:60]; l=v[-60:]
print('%.1f %.1f %.1f %d' % (max(v)/1024, sum(w)/len(w)/1024, sum(l)/len(l)/1024, len(v)))")
    row "| P4 | RSS during ${SOAK}s soak (P1+P2 load): max / half-way minute avg / last-minute avg ($n samples) | – | $mx / $second / $last MB | – | < 150 MB, flat (last ≤ 1.05 × half-way) | $(py "print('PASS' if $mx < 150 and $last <= $second * 1.05 else 'FAIL')") |"
  fi
  for which in P1 P2; do
    local f=$RESULTS/${which,,}-rss.txt
    [ -s "$f" ] || continue
    read -r mx first last n < <(rss_stats "$f")
    row "| P4 | RSS during $which: max / first-min avg / last-min avg ($n samples) | – | $mx / $first / $last MB | – | < 150 MB | $(py "print('PASS' if $mx < 150 else 'FAIL')") |"
  done
}

# ---------------------------------------------------------------- soak
# Mixed load (events/report batches of 100 + get_record_by_callId of preloaded calls) at
# SOAK_LOAD of the capacity measured just before with the same mix, for SOAK_SECS; RSS and open
# file descriptors sampled every second.
SOAK_DIR=$WORK/soak
soak() {
  log "soak: preloading $SOAK_CALLS calls into a fresh store"
  rm -rf "$SOAK_DIR"; write_config "$SOAK_DIR"
  start_server "$SOAK_DIR" soak-server
  local cert=$SOAK_DIR/data/tls/cert.pem sig half=$(( (CONNECTIONS + 1) / 2 ))
  sig=$(usersig "$SOAK_DIR")
  local target=(--url "https://127.0.0.1:$PORT" --usersig "$sig" --cacert "$cert")
  "$BENCH" preload "${target[@]}" --calls "$SOAK_CALLS" --connections 16 --spread-hours 24 \
    --ids-out "$SOAK_DIR/ids.txt" > "$RESULTS/soak-preload.json"
  log "soak: capacity of the mix, ${DURATION}s as fast as it goes ($half + $half connections)"
  "$BENCH" query "${target[@]}" --api by-call-id --ids "$SOAK_DIR/ids.txt" \
    --connections "$half" --duration "$DURATION" > "$RESULTS/soak-cap-lookups.json" &
  local qpid=$!
  "$BENCH" report "${target[@]}" --connections "$half" --duration "$DURATION" --batch 100 \
    > "$RESULTS/soak-cap-report.json"
  wait "$qpid"
  local cap_rps cap_bps rps bps
  cap_rps=$(jget "$RESULTS/soak-cap-lookups.json" rps)
  cap_bps=$(py "print($(jget "$RESULTS/soak-cap-report.json" requests_ok) / $(jget "$RESULTS/soak-cap-report.json" elapsed_s))")
  rps=$(py "print(round($cap_rps * $SOAK_LOAD, 1))"); bps=$(py "print(round($cap_bps * $SOAK_LOAD, 1))")
  log "soak: ${SOAK_SECS}s at $rps lookups/s + $bps reports/s (x100 events) = $SOAK_LOAD of the capacity"
  ( while [ -r "/proc/$SERVER_PID/status" ]; do
      echo "$(date +%s) $(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null) $(ls "/proc/$SERVER_PID/fd" 2>/dev/null | wc -l)"
      sleep 1
    done ) > "$RESULTS/soak-samples.txt" &
  local sampler=$!; PIDS+=("$sampler")
  "$BENCH" query "${target[@]}" --api by-call-id --ids "$SOAK_DIR/ids.txt" --rate "$rps" \
    --connections "$half" --duration "$SOAK_SECS" > "$RESULTS/soak-lookups.json" &
  qpid=$!
  "$BENCH" report "${target[@]}" --connections "$half" --duration "$SOAK_SECS" --batch 100 --rate "$bps" \
    > "$RESULTS/soak-report.json"
  wait "$qpid"
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  stop_server
  local stats
  stats=$(py "
v=[l.split() for l in open('$RESULTS/soak-samples.txt')]
v=[(int(a[1]),int(a[2])) for a in v if len(a)==3]
h=len(v)//2; w=v[h-30:h+30] or v[:60]; l=v[-60:]
avg=lambda xs,i: sum(x[i] for x in xs)/len(xs)
print('%.1f %.1f %.1f %d %d %d %d %d' % (max(x[0] for x in v)/1024, avg(w,0)/1024, avg(l,0)/1024,
  min(x[1] for x in v), max(x[1] for x in v), round(avg(w,1)), round(avg(l,1)), len(v)))")
  read -r mx second last fmin fmax fsecond flast n <<< "$stats"
  local errs lat_ok rep_ok
  errs=$(( $(jget "$RESULTS/soak-lookups.json" bad) + $(jget "$RESULTS/soak-report.json" errors) + $(jget "$RESULTS/soak-report.json" rejected) ))
  lat_ok=$(jget "$RESULTS/soak-lookups.json" requests_ok); rep_ok=$(jget "$RESULTS/soak-report.json" requests_ok)
  row "| soak | capacity of the mix (${DURATION}s, closed loop): lookups/s + reports/s (×100 events) | – | $cap_rps + $(py "print(round($cap_bps,1))") | – | – | – |"
  row "| soak | ${SOAK_SECS}s at $SOAK_LOAD of it ($rps lookups/s + $bps reports/s): requests answered / errors | – | $((lat_ok + rep_ok)) / $errs | – | 0 errors | $([ "$errs" = 0 ] && echo PASS || echo FAIL) |"
  row "| soak | p99 lookup / report during the soak | – | $(jget "$RESULTS/soak-lookups.json" p99_ms) / $(jget "$RESULTS/soak-report.json" p99_ms) ms | – | – | – |"
  row "| soak | RSS max / half-way minute avg / last-minute avg ($n samples; the first half fills SQLite's page caches) | – | $mx / $second / $last MB | – | flat (last ≤ 1.05 × half-way) | $(py "print('PASS' if $last <= $second * 1.05 else 'FAIL')") |"
  row "| soak | open fds min / max / half-way minute avg / last-minute avg | – | $fmin / $fmax / $fsecond / $flast | – | flat (last ≤ half-way + 8) | $(py "print('PASS' if $flast <= $fsecond + 8 else 'FAIL')") |"
}

# ---------------------------------------------------------------- P6
P6_DIR=$WORK/p6
p6() {
  local rate=${P6_RATE:-4000} lat_rate=${P6_LAT_RATE:-500}
  log "P6: callbacks to a local receiver (every v1 command; ${lat_rate} events/s for latency, ${rate} events/s for throughput, ${DURATION}s; fresh database)"
  rm -rf "$P6_DIR"; write_config "$P6_DIR"
  start_server "$P6_DIR" p6-server
  local sig cert=$P6_DIR/data/tls/cert.pem f=$RESULTS/p6.json
  sig=$(usersig "$P6_DIR")
  start_rss "$SERVER_PID" "$RESULTS/p6-rss.txt"
  "$BENCH" callbacks --url "https://127.0.0.1:$PORT" --usersig "$sig" --cacert "$cert" \
    --duration "$DURATION" --latency-duration "$DURATION" --rate "$rate" --latency-rate "$lat_rate" | tee "$f"
  stop_rss; stop_server
  local base dps p99
  base=$(jget "$f" baseline_rps); dps=$(jget "$f" delivered_in_window_per_s); p99=$(jget "$f" first_attempt_p99_ms)
  row "| P6 | callbacks delivered/s with ingest running ($(jget "$f" throughput_events_per_s) events/s → $(jget "$f" produced_per_s) callbacks/s produced; drained $(jget "$f" drained_s_after_ingest) s after) | receiver direct $base req/s | $dps | $(py "print('%.2f' % ($dps/$base))")× | ≥ 5000/s | $(py "print('PASS' if $dps >= 5000 else 'FAIL')") |"
  row "| P6 | first attempt after the acknowledgement p50 / p99 ($(jget "$f" first_attempt_samples) calls at $(jget "$f" latency_events_per_s) events/s; $(jget "$f" first_attempt_missing) missing) | – | $(jget "$f" first_attempt_p50_ms) / $p99 ms | – | p99 < 100 ms | $(py "print('PASS' if $p99 < 100 and $(jget "$f" first_attempt_missing) == 0 else 'FAIL')") |"
  read -r mx first last n < <(rss_stats "$RESULTS/p6-rss.txt")
  row "| P6 | RSS during P6: max ($n samples) | – | $mx MB | – | < 150 MB | $(py "print('PASS' if $mx < 150 else 'FAIL')") |"
}

# ---------------------------------------------------------------- P7
p7() {
  log "P7: export of every record in the window (curl, NDJSON and gzip CSV) from the $RECORDS-call data set, vs nginx serving the same bytes"
  ensure_dataset
  start_server "$MAIN" p7-server
  local path cert=$MAIN/data/tls/cert.pem key=$MAIN/data/tls/key.pem out=$WORK/p7
  mkdir -p "$out/www" "$out/tmp"
  path=$(api_path "$MAIN" records/export)
  start_rss "$SERVER_PID" "$RESULTS/p7-rss.txt"
  # Ours: the client writes the answer to a file (the baseline's client does the same).
  local t0 t1 secs csv_secs
  t0=$(date +%s.%N)
  curl -s --cacert "$cert" -X POST -d '{"startTimestamp":0}' -o "$out/www/export.ndjson" "https://127.0.0.1:$PORT$path"
  t1=$(date +%s.%N); secs=$(py "print('%.2f' % ($t1 - $t0))")
  t0=$(date +%s.%N)
  curl -s --cacert "$cert" -H 'Accept-Encoding: gzip' -X POST -d '{"startTimestamp":0,"format":"csv"}' \
    -o "$out/www/export.csv.gz" "https://127.0.0.1:$PORT$path"
  t1=$(date +%s.%N); csv_secs=$(py "print('%.2f' % ($t1 - $t0))")
  stop_rss; stop_server
  local lines csv_lines
  lines=$(wc -l < "$out/www/export.ndjson"); csv_lines=$(gzip -dc "$out/www/export.csv.gz" | wc -l)
  # Baseline: nginx sends the very same bytes as static files over the same TLS to the same
  # client: the cheapest way this machine can deliver that answer.
  cat > "$out/nginx.conf" <<EOF
worker_processes auto;
pid $out/nginx.pid;
error_log $out/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $out/tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $cert;
    ssl_certificate_key $key;
    ssl_protocols TLSv1.3;
    root $out/www;
    default_type application/octet-stream;
  }
}
EOF
  "$NGINX" -c "$out/nginx.conf" -p "$out" -g 'daemon on;'
  sleep 0.5
  local b_secs b_csv_secs
  t0=$(date +%s.%N)
  curl -s --cacert "$cert" -o "$out/copy" "https://127.0.0.1:$NGINX_PORT/export.ndjson"
  t1=$(date +%s.%N); b_secs=$(py "print('%.2f' % ($t1 - $t0))")
  cmp -s "$out/copy" "$out/www/export.ndjson" || { echo "nginx did not serve the same bytes" >&2; exit 1; }
  t0=$(date +%s.%N)
  curl -s --cacert "$cert" -o "$out/copy" "https://127.0.0.1:$NGINX_PORT/export.csv.gz"
  t1=$(date +%s.%N); b_csv_secs=$(py "print('%.2f' % ($t1 - $t0))")
  kill "$(cat "$out/nginx.pid")" 2>/dev/null || true
  local bytes csv_bytes; bytes=$(stat -c %s "$out/www/export.ndjson"); csv_bytes=$(stat -c %s "$out/www/export.csv.gz")
  rm -f "$out/copy" "$out/www/export.ndjson" "$out/www/export.csv.gz"
  local rate csv_rate b_rate b_csv_rate
  rate=$(py "print(round($lines / $secs * 60))"); csv_rate=$(py "print(round(($csv_lines - 1) / $csv_secs * 60))")
  b_rate=$(py "print(round($lines / $b_secs * 60))"); b_csv_rate=$(py "print(round(($csv_lines - 1) / $b_csv_secs * 60))")
  read -r mx first last n < <(rss_stats "$RESULTS/p7-rss.txt")
  row "| P7 | export NDJSON: $lines records ($((bytes / 1048576)) MiB) in $secs s; nginx, same bytes: $b_secs s | nginx $b_rate /min | $rate /min | $(py "print('%.2f' % ($rate/$b_rate))")× of nginx, $(py "print('%.2f' % ($rate/5e6))")× of target | ≥ 5 M/min | $(py "print('PASS' if $rate >= 5e6 else 'FAIL')") |"
  row "| P7 | export CSV + gzip: $((csv_lines - 1)) records ($((csv_bytes / 1048576)) MiB) in $csv_secs s; nginx, same bytes: $b_csv_secs s | nginx $b_csv_rate /min | $csv_rate /min | $(py "print('%.2f' % ($csv_rate/$b_csv_rate))")× of nginx, $(py "print('%.2f' % ($csv_rate/5e6))")× of target | ≥ 5 M/min | $(py "print('PASS' if $csv_rate >= 5e6 else 'FAIL')") |"
  row "| P7 | RSS during the exports: max / first-min avg / last-min avg ($n samples) | – | $mx / $first / $last MB | – | flat, < 150 MB | $(py "print('PASS' if $mx < 150 else 'FAIL')") |"
}

# ---------------------------------------------------------------- main
install_tools
if [ "$SKIP_BUILD" != 1 ]; then
  log "building release"
  (cd "$ROOT" && cargo build --release -p callrec -p callrec-bench)
fi
{
  echo "# callrec benchmark $(date -u +%FT%TZ)"
  echo
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB RAM; load avg before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "knobs: DURATION=$DURATION RECORDS=$RECORDS CONNECTIONS=$CONNECTIONS P3_CONNECTIONS=$P3_CONNECTIONS WRK_THREADS=$WRK_THREADS SOAK=$SOAK"
  echo "git: $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet || echo ' (dirty)')"
  echo
  echo "| target | what | baseline | ours | ratio | target | result |"
  echo "|---|---|---|---|---|---|---|"
} > "$SUMMARY"
case "$PHASE" in
  p1) p1; p4 ;;
  p2) p2; p4 ;;
  p3) p3 ;;
  p4) [ "$SOAK" -gt 0 ] || SOAK=$DURATION; p4 ;;
  p6) p6 ;;
  p7) p7 ;;
  p8) p8 ;;
  soak) soak ;;
  all) p1; p2; p3; p4; p6; p7; p8 ;;
esac
echo
cat "$SUMMARY"
echo
echo "raw outputs: $RESULTS"
