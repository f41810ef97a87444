#!/usr/bin/env bash
# HTTP throughput, side by side in one run: palisade-data with auth off, with auth on
# (Basic, Token, JWT), and Debian's influxd 1.6.7 with auth on (Basic, JWT).
# Loads: authenticated `/query?q=SHOW DATABASES` and `/write` with 100-point batches.
# Needs: wrk, influxd (Debian package influxdb), python3 with jwt (python3-jwt).
# Usage: scripts/bench-http.sh [seconds-per-run] [connections]
# Traffic goes to 127.0.0.1 only. Every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-16}
BIN=${PALISADE_BIN:-$PWD/bin}
TMP=$(mktemp -d)
PIDS=()
declare -A PID_OF
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

for tool in wrk influxd /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "bench-http: $tool not found (apt-get install wrk influxdb python3-jwt)"; exit 1; }
done
[ -x "$BIN/palisade-data" ] || { echo "bench-http: $BIN/palisade-data missing: run make build"; exit 1; }

SECRET="bench-shared-secret-0123456789abcdef"
ADMIN=bench; PASS=bench-password
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ping() { for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$1/ping" >/dev/null && return 0; sleep 0.1; done; echo "server on :$1 did not start"; exit 1; }

start_palisade() { # name port auth
  local name=$1 port=$2 auth=$3 cport; cport=$(free_port)
  env INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:$port INFLUXDB_CLUSTER_BIND_ADDRESS=127.0.0.1:$cport \
      INFLUXDB_META_DIR=$TMP/$name/meta INFLUXDB_DATA_DIR=$TMP/$name/data INFLUXDB_DATA_WAL_DIR=$TMP/$name/wal \
      INFLUXDB_HTTP_AUTH_ENABLED=$auth INFLUXDB_HTTP_SHARED_SECRET=$SECRET INFLUXDB_HTTP_LOG_ENABLED=false \
      INFLUXDB_ADMIN_USER=$ADMIN INFLUXDB_ADMIN_PASSWORD=$PASS INFLUXDB_LOGGING_LEVEL=warn \
      "$BIN/palisade-data" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!); PID_OF[$port]=$!
  wait_ping "$port"
}

start_influxd() { # port
  local port=$1 rport; rport=$(free_port)
  mkdir -p "$TMP/influxd"
  cat >"$TMP/influxd.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rport"
[meta]
  dir = "$TMP/influxd/meta"
[data]
  dir = "$TMP/influxd/data"
  wal-dir = "$TMP/influxd/wal"
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
  influxd -config "$TMP/influxd.conf" >"$TMP/influxd.log" 2>&1 &
  PIDS+=($!); PID_OF[$port]=$!
  wait_ping "$port"
  curl -fs -XPOST "http://127.0.0.1:$port/query" --data-urlencode "q=CREATE USER $ADMIN WITH PASSWORD '$PASS' WITH ALL PRIVILEGES" >/dev/null
}

P_OFF=$(free_port); P_ON=$(free_port); P_INF=$(free_port)
start_palisade off "$P_OFF" false
start_palisade on "$P_ON" true
start_influxd "$P_INF"
for p in $P_OFF $P_ON $P_INF; do
  curl -fs -XPOST -u "$ADMIN:$PASS" "http://127.0.0.1:$p/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null
done

JWT=$(/usr/bin/python3 -c "import jwt,time; t=jwt.encode({'username':'$ADMIN','exp':int(time.time())+3600},'$SECRET',algorithm='HS256'); print(t.decode() if isinstance(t,bytes) else t)")
BASIC="Basic $(printf '%s:%s' "$ADMIN" "$PASS" | base64 -w0)"
TOKEN="Token $ADMIN:$PASS"

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

# Each case runs ROUNDS times, the cases taking turns, so that the machine's
# drift hits all of them alike. Throughput on a shared 2-core machine (wrk and
# the server share the cores) swings by ±10% between runs, so the script also
# measures the server's CPU time per request (utime+stime from /proc, over the
# run, divided by the requests wrk completed): that is what auth adds, and it
# is far steadier. The tables show medians of the rounds and each case's ratio
# to the same load on palisade with auth off.
ROUNDS=${ROUNDS:-3}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
declare -A RESULTS CPU
CASES=()
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
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

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v m="$1" -v b="$2" 'BEGIN {printf "%.3f", m / b}'; }
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
