#!/usr/bin/env bash
# Query speed against Debian's influxd 1.6.7 (issue 20, point 2), side by side in one run:
# palisade-data standalone and influxd 1.6.7, both with auth off, the same index
# (INDEX, default inmem: both servers' default), the same 1,000,000 points (100 hosts ×
# 10,000 points, 10 s apart, one shard group), and both free on every core. Each query runs
# RUNS times on each server, the servers taking turns, from curl pinned to LOAD_CPU.
# Reported per query and server: the median wall time, the server's CPU per query
# (utime+stime from /proc over the runs), and Palisade's ratio to influxd for both.
# Usage: scripts/bench-queries.sh   env: RUNS (15), LOAD_CPU (1), INDEX (inmem | tsi1),
#   PROFILE (a directory: CPU profiles of both servers over the percentile query)
# Needs: influxd (Debian package influxdb), curl, taskset, python3. Traffic goes to
# 127.0.0.1 only; every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
LCPU=${LOAD_CPU:-1}
INDEX=${INDEX:-inmem}
BIN=${PALISADE_BIN:-$PWD/bin}
TMP=$(mktemp -d)
PIDS=()
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
trap cleanup EXIT
for tool in influxd curl taskset /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "bench-queries: $tool not found (apt-get install influxdb curl)"; exit 1; }
done
[ -x "$BIN/palisade-data" ] || { echo "bench-queries: $BIN/palisade-data missing: run make build"; exit 1; }

P_PAL=$(free_port); P_INF=$(free_port); CPORT=$(free_port); RPORT=$(free_port)
env INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:$P_PAL INFLUXDB_CLUSTER_BIND_ADDRESS=127.0.0.1:$CPORT \
    INFLUXDB_META_DIR=$TMP/pal/meta INFLUXDB_DATA_DIR=$TMP/pal/data INFLUXDB_DATA_WAL_DIR=$TMP/pal/wal \
    INFLUXDB_DATA_INDEX_VERSION=$INDEX INFLUXDB_HTTP_LOG_ENABLED=false INFLUXDB_LOGGING_LEVEL=warn \
    INFLUXDB_DATA_QUERY_LOG_ENABLED=false INFLUXDB_MONITOR_STORE_ENABLED=false \
    INFLUXDB_CONTINUOUS_QUERIES_ENABLED=false "$BIN/palisade-data" >"$TMP/pal.log" 2>&1 &
PIDS+=($!); PAL_PID=$!
mkdir -p "$TMP/inf"
cat >"$TMP/inf.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$RPORT"
[meta]
  dir = "$TMP/inf/meta"
[data]
  dir = "$TMP/inf/data"
  wal-dir = "$TMP/inf/wal"
  index-version = "$INDEX"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$P_INF"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
influxd -config "$TMP/inf.conf" >"$TMP/inf.log" 2>&1 &
PIDS+=($!); INF_PID=$!
wait_ping "$P_PAL"; wait_ping "$P_INF"

echo "bench-queries: loading 1,000,000 points into both servers" >&2
/usr/bin/python3 - "$TMP/batches" <<'PY'
import os, sys
out = sys.argv[1]; os.makedirs(out)
base = 1765152000 * 10**9  # 2025-12-08T00:00:00Z, a Monday: one 7-day shard group
n = 0
for host in range(100):
    lines = []
    for i in range(10000):
        v = (host * 7919 + i * 104729) % 1000 / 10.0
        lines.append("cpu,host=host%03d,region=r%d usage=%.1f %d" % (host, host % 4, v, base + i * 10 * 10**9))
    for k in range(0, len(lines), 5000):
        with open(os.path.join(out, "b%05d" % n), "w") as f:
            f.write("\n".join(lines[k:k + 5000]) + "\n")
        n += 1
PY
for p in $P_PAL $P_INF; do
  curl -fs -XPOST "http://127.0.0.1:$p/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null
  for f in "$TMP"/batches/*; do
    curl -fs -XPOST "http://127.0.0.1:$p/write?db=bench" --data-binary "@$f" >/dev/null
  done
done
for p in $P_PAL $P_INF; do # both answer the same count before timing
  curl -fs "http://127.0.0.1:$p/query?db=bench" --data-urlencode "q=SELECT count(usage) FROM cpu" | grep -q '1000000' ||
    { echo "bench-queries: server :$p does not hold the 1,000,000 points"; exit 1; }
done

QUERIES=(
  "SELECT percentile(usage, 90) FROM cpu GROUP BY host"
  "SHOW TAG VALUES WITH KEY = host"
  "SELECT mean(usage) FROM cpu GROUP BY time(1h), host"
  "SELECT max(usage) FROM cpu GROUP BY host"
  "SELECT count(usage) FROM cpu WHERE host = 'host042'"
  "SELECT median(usage) FROM cpu WHERE region = 'r1' GROUP BY time(6h)"
)
TICK_MS=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN {print 1000 / t}')
once() { # port query: prints seconds; fails on an error answer
  taskset -c "$LCPU" curl -fs -o "$TMP/out" -w '%{time_total}\n' "http://127.0.0.1:$1/query?db=bench" --data-urlencode "q=$2"
  grep -q '"error"' "$TMP/out" && { echo "bench-queries: error from :$1 for $2: $(head -c 300 "$TMP/out")" >&2; exit 1; }
  return 0
}
# Both servers must give the same answer.
for q in "${QUERIES[@]}"; do
  a=$(curl -fs "http://127.0.0.1:$P_PAL/query?db=bench" --data-urlencode "q=$q" | md5sum)
  b=$(curl -fs "http://127.0.0.1:$P_INF/query?db=bench" --data-urlencode "q=$q" | md5sum)
  [ "$a" = "$b" ] || echo "bench-queries: answers differ for: $q" >&2
done
if [ -n "${PROFILE:-}" ]; then
  mkdir -p "$PROFILE"
  q="${QUERIES[0]}"
  ( for _ in $(seq 1 20); do once "$P_PAL" "$q" >/dev/null; done ) & load=$!
  curl -fs -o "$PROFILE/palisade.prof" "http://127.0.0.1:$P_PAL/debug/pprof/profile?seconds=10"; wait $load
  ( for _ in $(seq 1 20); do once "$P_INF" "$q" >/dev/null; done ) & load=$!
  curl -fs -o "$PROFILE/influxd.prof" "http://127.0.0.1:$P_INF/debug/pprof/profile?seconds=10"; wait $load
  echo "bench-queries: profiles in $PROFILE (go tool pprof -top $BIN/palisade-data $PROFILE/palisade.prof; influxd: /usr/bin/influxd)" >&2
fi

printf '| query | palisade ms | influxd 1.6.7 ms | ratio | palisade CPU ms/query | influxd CPU ms/query | ratio |\n|---|---:|---:|---:|---:|---:|---:|\n'
for q in "${QUERIES[@]}"; do
  once "$P_PAL" "$q" >/dev/null; once "$P_INF" "$q" >/dev/null # warm
  : >"$TMP/t.pal"; : >"$TMP/t.inf"; cp=0; ci=0
  for _ in $(seq 1 "$RUNS"); do
    c0=$(cpu_ticks $PAL_PID); once "$P_PAL" "$q" >>"$TMP/t.pal"; cp=$((cp + $(cpu_ticks $PAL_PID) - c0))
    c0=$(cpu_ticks $INF_PID); once "$P_INF" "$q" >>"$TMP/t.inf"; ci=$((ci + $(cpu_ticks $INF_PID) - c0))
  done
  mp=$(median <"$TMP/t.pal"); mi=$(median <"$TMP/t.inf")
  awk -v q="$q" -v mp="$mp" -v mi="$mi" -v cp="$cp" -v ci="$ci" -v r="$RUNS" -v t="$TICK_MS" 'BEGIN {
    printf "| `%s` | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n", q, mp*1000, mi*1000, mp/mi, cp*t/r, ci*t/r, (ci ? cp/ci : 0) }'
done
