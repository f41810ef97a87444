#!/usr/bin/env bash
# What replication costs (issue 8, point 8), side by side in one run on this machine:
#   - a standalone palisade-data;
#   - a cluster: one palisade-meta and three palisade-data, database with REPLICATION 2.
# Load: Telegraf-shaped 5,000-point batches over 10,000 series (scripts/telegraf-batches.py,
# as in bench-http.sh's telegraf scenario), plain line protocol, consistency=one; on the cluster
# one wrk per data node, so that every node coordinates a third of the writes. Every server
# is pinned to SERVER_CPU, the load to LOAD_CPU. Reported: acknowledged points/s, and CPU
# per acknowledged point summed over every process of the setup (utime+stime from /proc).
# Then hinted handoff: one owner is killed, the load runs through the other nodes (its points
# are queued), the owner is restarted and the time until it holds every point gives the
# replay rate, next to the standalone's direct ingest rate.
# Usage: scripts/bench-cluster.sh [seconds-per-run]   env: ROUNDS (3), CONNS (6), SERVER_CPU (0), LOAD_CPU (1)
# Needs: wrk, taskset, curl, python3. Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-6}
SCPU=${SERVER_CPU:-0}
LCPU=${LOAD_CPU:-1}
BIN=${PALISADE_BIN:-$PWD/bin}
TMP=$(mktemp -d)
PIDS=()
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
trap cleanup EXIT
for tool in wrk taskset curl /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "bench-cluster: $tool not found (apt-get install wrk)"; exit 1; }
done
[ -x "$BIN/palisade-data" ] && [ -x "$BIN/palisade-meta" ] || { echo "bench-cluster: run make build first"; exit 1; }

SECRET="bench-internal-secret-0123456789"
TICKS_PER_S=$(getconf CLK_TCK)
TICK_US=$((1000000 / TICKS_PER_S))

declare -A PID_OF ENV_OF
start_data() { # name port [servers]
  local name=$1 port=$2 servers=${3:-}
  ENV_OF[$name]="INFLUXDB_HOSTNAME=127.0.0.1 INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:$port INFLUXDB_CLUSTER_BIND_ADDRESS=127.0.0.1:$(free_port)
    INFLUXDB_META_DIR=$TMP/$name/meta INFLUXDB_DATA_DIR=$TMP/$name/data INFLUXDB_DATA_WAL_DIR=$TMP/$name/wal
    INFLUXDB_HINTED_HANDOFF_DIR=$TMP/$name/hh INFLUXDB_HTTP_LOG_ENABLED=false INFLUXDB_LOGGING_LEVEL=warn
    INFLUXDB_META_SERVERS=$servers INFLUXDB_META_META_INTERNAL_SHARED_SECRET=$SECRET
    INFLUXDB_HINTED_HANDOFF_RETRY_INTERVAL=200ms INFLUXDB_HINTED_HANDOFF_RETRY_MAX_INTERVAL=1s"
  relaunch "$name" "$port"
}
relaunch() { # name port
  # shellcheck disable=SC2086
  taskset -c "$SCPU" env ${ENV_OF[$1]} "$BIN/palisade-data" >>"$TMP/$1.log" 2>&1 &
  PIDS+=($!); PID_OF[$1]=$!
  wait_ping "$2"
}

MRPC=$(free_port)
taskset -c "$SCPU" env INFLUXDB_HOSTNAME=127.0.0.1 INFLUXDB_META_DIR=$TMP/meta INFLUXDB_META_BIND_ADDRESS=127.0.0.1:$(free_port) \
  INFLUXDB_META_HTTP_BIND_ADDRESS=127.0.0.1:$MRPC INFLUXDB_META_INTERNAL_SHARED_SECRET=$SECRET INFLUXDB_LOGGING_LEVEL=warn \
  "$BIN/palisade-meta" >"$TMP/meta.log" 2>&1 &
PIDS+=($!); PID_OF[meta]=$!
PS=$(free_port); start_data standalone "$PS"
PORTS=()
for i in 1 2 3; do PORTS+=("$(free_port)"); start_data "d$i" "${PORTS[$((i - 1))]}" "127.0.0.1:$MRPC"; done
for _ in $(seq 1 100); do
  out=$(curl -s -XPOST "http://127.0.0.1:${PORTS[0]}/query" --data-urlencode "q=CREATE DATABASE bench WITH REPLICATION 2")
  echo "$out" | grep -q '"error"' || break; sleep 0.2
done
curl -fs -XPOST "http://127.0.0.1:$PS/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null

NB=40
# gen DIR T0: NB batches of 5,000 points (10,000 series, one 10 s interval every two
# batches) starting at T0 (unix ns), and DIR.lua, a wrk script that posts them in turn.
gen() {
  mkdir -p "$1"
  /usr/bin/python3 scripts/telegraf-batches.py "$1" "$NB" "$2"
  cat >"$1.lua" <<LUA
local reqs, n = {}, $NB
function init(args)
  for i = 0, n - 1 do
    local f = io.open("$1/" .. i .. ".txt", "rb"); local body = f:read("*a"); f:close()
    reqs[i + 1] = wrk.format("POST", "/write?db=bench&consistency=one", { ["Content-Type"] = "text/plain" }, body)
  end
end
local i = 0
request = function() i = i % n + 1; return reqs[i] end
LUA
}
gen "$TMP/tg" 1700000000000000000
# The same series an hour later (the same shard group): new points for the hinted-handoff run.
gen "$TMP/tg2" 1700003600000000000
# Warm up: create the shard groups and series everywhere.
for p in "$PS" "${PORTS[@]}"; do
  for b in 0 1; do curl -fs -XPOST "http://127.0.0.1:$p/write?db=bench" --data-binary "@$TMP/tg/$b.txt" >/dev/null; done
done

# load PORT... : wrk against each port at once for DUR s (CONNS split across them),
# with the batches of $SET; prints the acknowledged requests.
SET=$TMP/tg
load() {
  local c=$((CONNS / $#)) p n=0 f
  [ "$c" -ge 1 ] || c=1
  for p in "$@"; do
    taskset -c "$LCPU" wrk -t1 -c"$c" -d"${DUR}s" --timeout 60s -s "$SET.lua" "http://127.0.0.1:$p/write?db=bench" >"$TMP/wrk.$p" 2>&1 &
  done
  wait_wrk
  for p in "$@"; do
    f="$TMP/wrk.$p"
    if grep -q "Non-2xx\|Socket errors" "$f"; then echo "bench-cluster: errors from :$p" >&2; cat "$f" >&2; exit 1; fi
    n=$((n + $(awk '/requests in/ {print $1}' "$f")))
  done
  echo $n
}
wait_wrk() { while pgrep -f "wrk -t1 -c.* -s $TMP/tg" >/dev/null; do sleep 0.2; done; }
settle() { # pids: until they use under 5% of a core over a second (compactions), at most 30 s
  local a _
  for _ in $(seq 1 30); do a=$(cpu_ticks "$@"); sleep 1; [ $(($(cpu_ticks "$@") - a)) -le $((TICKS_PER_S / 20)) ] && return 0; done
}

declare -A PTS CPU
CLUSTER_PIDS=("${PID_OF[meta]}" "${PID_OF[d1]}" "${PID_OF[d2]}" "${PID_OF[d3]}")
measure() { # label ports... (uses CLUSTER or standalone pids)
  local label=$1; shift
  local pids=("${PID_OF[standalone]}")
  [ "$label" = cluster ] && pids=("${CLUSTER_PIDS[@]}")
  settle "${pids[@]}"
  local t0 t1 n
  t0=$(cpu_ticks "${pids[@]}")
  n=$(load "$@")
  t1=$(cpu_ticks "${pids[@]}")
  PTS[$label]="${PTS[$label]:-} $(awk -v n="$n" -v s="$DUR" 'BEGIN {printf "%.0f", n * 5000 / s}')"
  CPU[$label]="${CPU[$label]:-} $(awk -v t=$((t1 - t0)) -v u="$TICK_US" -v n="$n" 'BEGIN {printf "%.0f", t * u * 1000 / (n * 5000)}')"
}
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  if [ $((round % 2)) = 1 ]; then measure standalone "$PS"; measure cluster "${PORTS[@]}"
  else measure cluster "${PORTS[@]}"; measure standalone "$PS"; fi
done
SP=$(echo "${PTS[standalone]}" | median); SC=$(echo "${CPU[standalone]}" | median)
CP=$(echo "${PTS[cluster]}" | median); CC=$(echo "${CPU[cluster]}" | median)
echo "| setup | acknowledged points/s | CPU ns per acknowledged point (all processes) | CPU vs standalone |"
echo "|---|---:|---:|---:|"
printf '| standalone | %.0f | %.0f | 1.000 |\n' "$SP" "$SC"
printf '| 3 data nodes, RF 2 (+1 meta) | %.0f | %.0f | %s |\n' "$CP" "$CC" "$(awk -v a="$CC" -v b="$SC" 'BEGIN {printf "%.3f", a / b}')"
echo
echo "Medians of $ROUNDS rounds × ${DUR}s; wrk on core $LCPU, every server on core $SCPU. Per round: standalone points/s${PTS[standalone]}, ns/point${CPU[standalone]}; cluster points/s${PTS[cluster]}, ns/point${CPU[cluster]}"

# Hinted handoff: one owner of the batches' shard (the nodes holding points) is killed;
# the other two nodes take the load of new points (queued for it); then it restarts.
# A node's own copy: node_id reads only the shards that node owns, and only
# from it (a plain query reads every owner). NODE_ID maps a port to its data
# node ID, from palisade-ctl show.
declare -A NODE_ID
while read -r id addr _; do NODE_ID[${addr##*:}]=$id; done < <("$BIN/palisade-ctl" -bind "127.0.0.1:$MRPC" -secret "$SECRET" show |
  awk '/^Data nodes/ {d = 1; next} d && $1 ~ /^[0-9]+$/ {print $1, $2}')
count() { curl -fs "http://127.0.0.1:$1/query?db=bench&node_id=${NODE_ID[$1]}" --data-urlencode "q=SELECT count(usage_user) FROM cpu" |
  /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print(r["series"][0]["values"][0][1] if "series" in r else 0)'; }
owners=()
for i in 1 2 3; do [ "$(count "${PORTS[$((i - 1))]}")" -gt 0 ] && owners+=("$i"); done
[ "${#owners[@]}" = 2 ] || { echo "bench-cluster: expected 2 nodes holding points, found ${#owners[@]}"; exit 1; }
victim=d${owners[1]}; vport=${PORTS[$((owners[1] - 1))]}; sport=${PORTS[$((owners[0] - 1))]}
settle "${CLUSTER_PIDS[@]}"
kill -9 "${PID_OF[$victim]}"; wait "${PID_OF[$victim]}" 2>/dev/null || true
others=(); for i in 1 2 3; do [ "d$i" = "$victim" ] || others+=("${PORTS[$((i - 1))]}"); done
SET=$TMP/tg2
n=$(load "${others[@]}")
total=$(count "$sport")
relaunch "$victim" "$vport"
t2=$(date +%s.%N)
for _ in $(seq 1 2400); do [ "$(count "$vport")" -ge "$total" ] && break; sleep 0.25; done
t3=$(date +%s.%N)
[ "$(count "$vport")" -ge "$total" ] || { echo "bench-cluster: $victim did not get every point back"; exit 1; }
echo
echo "Hinted handoff: $n batches acknowledged ($((n * 5000)) points, consistency=one) in ${DUR} s through the other two nodes while $victim (an owner) was down:"
echo "enqueue at $((n * 5000 / DUR)) points/s. After its restart it held every point (the other owner's $total) $(awk -v a="$t2" -v b="$t3" 'BEGIN {printf "%.1f", b - a}') s later:"
echo "replay at $(awk -v q="$n" -v a="$t2" -v b="$t3" 'BEGIN {printf "%.0f", q * 5000 / (b - a)}') points/s, vs $SP points/s that the standalone node ingests directly."
