#!/usr/bin/env bash
# HTTP throughput, side by side in one run: palisade-data with auth off, with auth on
# (Basic, Token, JWT), and Debian's influxd 1.6.7 with auth on (Basic, JWT).
# Loads: authenticated `/query?q=SHOW DATABASES` and `/write` with 100-point batches.
# With SCENARIO=telegraf (or all, the default) it then measures the write path as Telegraf
# loads it: 5,000-point batches over 10,000 series, plain and gzip, to palisade-data (auth on,
# Basic) and influxd 1.6.7 (auth on, Basic), each server pinned to one core (SERVER_CPU) and
# wrk to the other (LOAD_CPU); it reports points/s and server CPU per point.
# Needs: wrk, influxd (Debian package influxdb), python3 with jwt (python3-jwt), taskset.
# Usage: scripts/bench-http.sh [seconds-per-run] [connections]
#   env: ROUNDS (3), SCENARIO (all | auth | telegraf), SERVER_CPU (0), LOAD_CPU (1),
#        TG_CONNS (4, connections of the telegraf scenario), TG_BATCHES (40 distinct batches),
#        PROFILE (a directory: CPU profiles of both servers under the plain telegraf load)
# Traffic goes to 127.0.0.1 only. Every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-16}
BIN=${PALISADE_BIN:-$PWD/bin}
TMP=$(mktemp -d)
PIDS=()
declare -A PID_OF
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
trap cleanup EXIT

SCENARIO=${SCENARIO:-all}
case $SCENARIO in all|auth|telegraf) ;; *) echo "bench-http: SCENARIO must be all, auth or telegraf"; exit 2 ;; esac
for tool in wrk influxd /usr/bin/python3 taskset; do
  command -v "$tool" >/dev/null || { echo "bench-http: $tool not found (apt-get install wrk influxdb python3-jwt)"; exit 1; }
done
[ -x "$BIN/palisade-data" ] || { echo "bench-http: $BIN/palisade-data missing: run make build"; exit 1; }

SECRET="bench-shared-secret-0123456789abcdef"
ADMIN=bench; PASS=bench-password

start_palisade() { # name port auth [cpu]: with cpu, pinned to that core (GOMAXPROCS follows)
  local name=$1 port=$2 auth=$3 pin=() cport; cport=$(free_port)
  [ -n "${4:-}" ] && pin=(taskset -c "$4")
  "${pin[@]}" env INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:$port INFLUXDB_CLUSTER_BIND_ADDRESS=127.0.0.1:$cport \
      INFLUXDB_META_DIR=$TMP/$name/meta INFLUXDB_DATA_DIR=$TMP/$name/data INFLUXDB_DATA_WAL_DIR=$TMP/$name/wal \
      INFLUXDB_HTTP_AUTH_ENABLED=$auth INFLUXDB_HTTP_SHARED_SECRET=$SECRET INFLUXDB_HTTP_LOG_ENABLED=false \
      INFLUXDB_ADMIN_USER=$ADMIN INFLUXDB_ADMIN_PASSWORD=$PASS INFLUXDB_LOGGING_LEVEL=warn \
      "$BIN/palisade-data" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!); PID_OF[$port]=$!
  wait_ping "$port"
}

start_influxd() { # port [cpu]: with cpu, pinned to that core
  local port=$1 pin=() rport name=influxd-$1; rport=$(free_port)
  [ -n "${2:-}" ] && pin=(taskset -c "$2")
  mkdir -p "$TMP/$name"
  cat >"$TMP/$name.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rport"
[meta]
  dir = "$TMP/$name/meta"
[data]
  dir = "$TMP/$name/data"
  wal-dir = "$TMP/$name/wal"
  index-version = "tsi1"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  auth-enabled = true
  log-enabled = false
  shared-secret = "$SECRET"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
  "${pin[@]}" influxd -config "$TMP/$name.conf" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!); PID_OF[$port]=$!
  wait_ping "$port"
  curl -fs -XPOST "http://127.0.0.1:$port/query" --data-urlencode "q=CREATE USER $ADMIN WITH PASSWORD '$PASS' WITH ALL PRIVILEGES" >/dev/null
}

JWT=$(/usr/bin/python3 -c "import jwt,time; t=jwt.encode({'username':'$ADMIN','exp':int(time.time())+3600},'$SECRET',algorithm='HS256'); print(t.decode() if isinstance(t,bytes) else t)")
BASIC="Basic $(printf '%s:%s' "$ADMIN" "$PASS" | base64 -w0)"
TOKEN="Token $ADMIN:$PASS"

# Each case runs ROUNDS times, the cases taking turns, so that the machine's
# drift hits all of them alike. Throughput on a shared 2-core machine (wrk and
# the server share the cores) swings by ±10% between runs, so the script also
# measures the server's CPU time per request (utime+stime from /proc, over the
# run, divided by the requests wrk completed): that is what auth adds, and it
# is far steadier. The tables show medians of the rounds and each case's ratio
# to the same load on palisade with auth off.
ROUNDS=${ROUNDS:-3}
TICKS_PER_S=$(getconf CLK_TCK)
TICK_US=$((1000000 / TICKS_PER_S))
declare -A RESULTS CPU
CASES=()
run() { # label url header [script]
  local label=$1 url=$2 header=$3 script=${4:-} out rps reqs port pid t0 t1
  local args=(-t2 -c"$CONNS" -d"${DUR}s")
  [ -n "$header" ] && args+=(-H "Authorization: $header")
  [ -n "$script" ] && args+=(-s "$script")
  port=${url#http://127.0.0.1:}; port=${port%%/*}; pid=${PID_OF[$port]}
  t0=$(cpu_ticks "$pid")
  out=$(wrk "${args[@]}" "$url")
  t1=$(cpu_ticks "$pid")
  if echo "$out" | grep -q "Non-2xx"; then echo "bench-http: $label got errors:"; echo "$out"; exit 1; fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  RESULTS[$label]="${RESULTS[$label]:-} $rps"
  CPU[$label]="${CPU[$label]:-} $(awk -v t=$((t1 - t0)) -v u="$TICK_US" -v n="$reqs" 'BEGIN {printf "%.2f", t * u / n}')"
  [ "$round" = 1 ] && CASES+=("$label")
  return 0
}

ratio() { awk -v m="$1" -v b="$2" 'BEGIN {printf "%.3f", m / b}'; }

scenario_auth() {
  P_OFF=$(free_port); P_ON=$(free_port); P_INF=$(free_port)
  start_palisade off "$P_OFF" false
  start_palisade on "$P_ON" true
  start_influxd "$P_INF"
  for p in $P_OFF $P_ON $P_INF; do
    curl -fs -XPOST -u "$ADMIN:$PASS" "http://127.0.0.1:$p/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null
  done

  # 100-point line protocol batch.
  /usr/bin/python3 - "$TMP/batch.txt" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(100):
        f.write("cpu,host=server%02d,region=eu usage_user=%d.5,usage_system=%di %d\n" % (i, i, i, 1700000000000000000 + i))
PY
  cat >"$TMP/write.lua" <<LUA
local f = io.open("$TMP/batch.txt", "rb"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "text/plain"
LUA

  Q="q=SHOW%20DATABASES"
  for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    run "query palisade auth off"            "http://127.0.0.1:$P_OFF/query?$Q" ""
    run "query palisade auth on, Basic"      "http://127.0.0.1:$P_ON/query?$Q"  "$BASIC"
    run "query palisade auth on, Token"      "http://127.0.0.1:$P_ON/query?$Q"  "$TOKEN"
    run "query palisade auth on, JWT"        "http://127.0.0.1:$P_ON/query?$Q"  "Bearer $JWT"
    run "query influxd 1.6.7 auth on, Basic" "http://127.0.0.1:$P_INF/query?$Q" "$BASIC"
    run "query influxd 1.6.7 auth on, JWT"   "http://127.0.0.1:$P_INF/query?$Q" "Bearer $JWT"
    run "write palisade auth off"            "http://127.0.0.1:$P_OFF/write?db=bench" "" "$TMP/write.lua"
    run "write palisade auth on, Basic"      "http://127.0.0.1:$P_ON/write?db=bench"  "$BASIC" "$TMP/write.lua"
    run "write palisade auth on, Token"      "http://127.0.0.1:$P_ON/write?db=bench"  "$TOKEN" "$TMP/write.lua"
    run "write palisade auth on, JWT"        "http://127.0.0.1:$P_ON/write?db=bench"  "Bearer $JWT" "$TMP/write.lua"
    run "write influxd 1.6.7 auth on, Basic" "http://127.0.0.1:$P_INF/write?db=bench" "$BASIC" "$TMP/write.lua"
    run "write influxd 1.6.7 auth on, JWT"   "http://127.0.0.1:$P_INF/write?db=bench" "Bearer $JWT" "$TMP/write.lua"
  done

  echo "| case | requests/s | vs palisade auth off | server CPU µs/request | vs palisade auth off |"
  echo "|---|---:|---:|---:|---:|"
  for label in "${CASES[@]}"; do
    base="${label%% *} palisade auth off"
    m=$(echo "${RESULTS[$label]}" | median); mb=$(echo "${RESULTS[$base]}" | median)
    c=$(echo "${CPU[$label]}" | median); cb=$(echo "${CPU[$base]}" | median)
    printf '| %s | %.0f | %s | %.1f | %s |\n' "$label" "$m" "$(ratio "$m" "$mb")" "$c" "$(ratio "$c" "$cb")"
  done
  echo
  echo "Medians of $ROUNDS rounds × ${DUR}s, $CONNS connections, wrk -t2. Per-round figures:"
  for label in "${CASES[@]}"; do
    echo "- $label: req/s${RESULTS[$label]}; CPU µs/req${CPU[$label]}"
  done
}

# Telegraf's write load: 5,000-point batches (its default metric_batch_size)
# over 10,000 series (measurement cpu, tags host and region, five float
# fields: one line is one point), nanosecond timestamps, plain and gzip. The
# bodies are made beforehand (TG_BATCHES of them, each covering half of the
# series at one timestamp, a new timestamp every two batches, so there are no
# duplicate points until wrk has sent them all) and wrk replays them, so the
# load generator spends its core on sending. Each server runs pinned to
# SERVER_CPU (its Go runtime then uses one P) and wrk to LOAD_CPU, one thread
# with TG_CONNS connections. Both servers have auth on and get Basic
# credentials. Before the rounds every series is written once, so the rounds
# measure steady writes, not series creation.
scenario_telegraf() {
  local nb=${TG_BATCHES:-40} conns=${TG_CONNS:-4} scpu=${SERVER_CPU:-0} lcpu=${LOAD_CPU:-1}
  local P_TGP P_TGI enc p b round label base m mb c cb
  P_TGP=$(free_port); P_TGI=$(free_port)
  start_palisade tg-palisade "$P_TGP" true "$scpu"
  start_influxd "$P_TGI" "$scpu"
  mkdir -p "$TMP/tg"
  /usr/bin/python3 scripts/telegraf-batches.py "$TMP/tg" "$nb" 1700000000000000000 --gzip
  for enc in txt gz; do
    cat >"$TMP/tg-$enc.lua" <<LUA
local reqs, n = {}, $nb
local headers = { ["Content-Type"] = "text/plain; charset=utf-8", ["Authorization"] = "$BASIC" }
if "$enc" == "gz" then headers["Content-Encoding"] = "gzip" end
-- Built in init, once wrk has set the Host header.
function init(args)
  for i = 0, n - 1 do
    local f = io.open("$TMP/tg/" .. i .. ".$enc", "rb"); local body = f:read("*a"); f:close()
    reqs[i + 1] = wrk.format("POST", "/write?db=bench", headers, body)
  end
end
local i = 0
request = function() i = i % n + 1; return reqs[i] end
LUA
  done
  for p in $P_TGP $P_TGI; do
    curl -fs -XPOST -u "$ADMIN:$PASS" "http://127.0.0.1:$p/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null
    for b in 0 1; do
      curl -fs -XPOST -u "$ADMIN:$PASS" "http://127.0.0.1:$p/write?db=bench" --data-binary "@$TMP/tg/$b.txt" >/dev/null
    done
  done
  echo "telegraf scenario: $(wc -c <"$TMP/tg/0.txt") bytes plain, $(wc -c <"$TMP/tg/0.gz") bytes gzip per 5,000-point batch" >&2

  declare -A TPTS TCPU
  local TCASES=("plain palisade" "plain influxd 1.6.7" "gzip palisade" "gzip influxd 1.6.7")
  tg_run() { # label port enc
    local label=$1 port=$2 enc=$3 pid out reqs secs t0 t1; pid=${PID_OF[$port]}
    t0=$(cpu_ticks "$pid")
    out=$(taskset -c "$lcpu" wrk -t1 -c"$conns" -d"${DUR}s" -s "$TMP/tg-$enc.lua" "http://127.0.0.1:$port/write?db=bench")
    t1=$(cpu_ticks "$pid")
    if echo "$out" | grep -q "Non-2xx\|Socket errors"; then echo "bench-http: $label got errors:"; echo "$out"; exit 1; fi
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    secs=$(echo "$out" | awk '/requests in/ {sub(/s,$/, "", $4); print $4}')
    TPTS[$label]="${TPTS[$label]:-} $(awk -v n="$reqs" -v s="$secs" 'BEGIN {printf "%.0f", n * 5000 / s}')"
    TCPU[$label]="${TCPU[$label]:-} $(awk -v t=$((t1 - t0)) -v u="$TICK_US" -v n="$reqs" 'BEGIN {printf "%.1f", t * u * 1000 / (n * 5000)}')"
    return 0
  }
  # Both servers share a core, so a run starts only once neither is busy
  # (compacting what the previous run wrote): under 5% of the core over a
  # second, or after 30 s.
  settle() {
    local a0 b0 _
    for _ in $(seq 1 30); do
      a0=$(cpu_ticks "${PID_OF[$P_TGP]}"); b0=$(cpu_ticks "${PID_OF[$P_TGI]}"); sleep 1
      [ $(($(cpu_ticks "${PID_OF[$P_TGP]}") - a0 + $(cpu_ticks "${PID_OF[$P_TGI]}") - b0)) -le $((TICKS_PER_S / 20)) ] && return 0
    done
  }
  local order=("plain palisade|$P_TGP|txt" "plain influxd 1.6.7|$P_TGI|txt" "gzip palisade|$P_TGP|gz" "gzip influxd 1.6.7|$P_TGI|gz")
  local k c
  for round in $(seq 1 "$ROUNDS"); do
    echo "telegraf round $round/$ROUNDS" >&2
    # The order rotates from round to round: no case always follows the same one.
    for k in 0 1 2 3; do
      c=${order[$(((k + round - 1) % 4))]}
      settle
      tg_run "${c%%|*}" "$(echo "$c" | cut -d'|' -f2)" "${c##*|}"
    done
  done
  echo "| case | points/s | vs influxd 1.6.7 | server CPU ns/point | vs influxd 1.6.7 |"
  echo "|---|---:|---:|---:|---:|"
  for label in "${TCASES[@]}"; do
    base="${label%% *} influxd 1.6.7"
    m=$(echo "${TPTS[$label]}" | median); mb=$(echo "${TPTS[$base]}" | median)
    c=$(echo "${TCPU[$label]}" | median); cb=$(echo "${TCPU[$base]}" | median)
    printf '| %s | %.0f | %s | %.0f | %s |\n' "$label" "$m" "$(ratio "$m" "$mb")" "$c" "$(ratio "$c" "$cb")"
  done
  echo
  echo "Medians of $ROUNDS rounds × ${DUR}s; wrk -t1 -c$conns on core $lcpu, servers on core $scpu (auth on, Basic). Per-round figures:"
  for label in "${TCASES[@]}"; do
    echo "- $label: points/s${TPTS[$label]}; CPU ns/point${TCPU[$label]}"
  done
  if [ -n "${PROFILE:-}" ]; then # CPU profiles of both servers under the plain load
    mkdir -p "$PROFILE"
    for c in "palisade|$P_TGP" "influxd|$P_TGI"; do
      settle
      taskset -c "$lcpu" wrk -t1 -c"$conns" -d"${DUR}s" -s "$TMP/tg-txt.lua" "http://127.0.0.1:${c##*|}/write?db=bench" >/dev/null & local load=$!
      sleep 1
      curl -fs -u "$ADMIN:$PASS" -o "$PROFILE/${c%%|*}-write.prof" "http://127.0.0.1:${c##*|}/debug/pprof/profile?seconds=$((DUR - 2))"
      wait $load
    done
    echo "CPU profiles of the plain load in $PROFILE" >&2
  fi
}

[ "$SCENARIO" = telegraf ] || scenario_auth
[ "$SCENARIO" = auth ] || scenario_telegraf
