#!/usr/bin/env bash
# Installs the Debian packages that `make test` (and with --bench, `make bench`)
# needs, then checks that each tool runs and prints their versions on one line.
#
#   scripts/setup-test-deps.sh           what `make test` needs
#   scripts/setup-test-deps.sh --bench   that, plus what scripts/bench-http.sh needs
#
# Idempotent: when everything is there it installs nothing and prints only the
# versions line. Installing needs root; anyone else gets the apt-get command to
# run. The influxdb package's service is kept stopped and disabled: the tests
# and benchmarks start their own influxd, and nothing may hold :8086 or :8088.
# The protobuf toolchain is not installed here: the Makefile builds it, pinned,
# from the Go module proxy (`make tools`).
set -euo pipefail

# Package: what needs it.
test_packages=(
  gcc libc6-dev       # go test -race (cgo)
  git                 # make lint, make build (version stamp)
  ca-certificates     # the Go module proxy over HTTPS
  influxdb            # the reference influxd 1.6.7
  influxdb-client     # the influx CLI (e2e)
  python3-influxdb    # the Python client (e2e)
  python3-jwt         # JWTs for the reference influxd
)
bench_packages=(wrk curl)

packages=("${test_packages[@]}")
bench=false
for arg in "$@"; do
  case "$arg" in
    --bench) bench=true; packages+=("${bench_packages[@]}") ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done

say() { echo "setup-test-deps: $*"; }
is_root() { [ "$(id -u)" -eq 0 ]; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# 1. Install the missing packages (Debian only; elsewhere step 3 says what is missing).
if command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
    if ! is_root; then
      say "missing Debian packages: ${missing[*]}"
      say "run make test as root, which installs them, or install them as root:"
      echo "  $cmd"
      exit 1
    fi
    say "installing ${missing[*]} …"
    start=$SECONDS
    log=$(mktemp)
    # Keep the packages' services from starting while they install, unless the
    # machine already has a policy (Debian's container images do).
    policy=/usr/sbin/policy-rc.d made_policy=false
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\n# setup-test-deps.sh: no service starts during its install\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      made_policy=true
    fi
    trap '$made_policy && rm -f "$policy"; rm -f "$log"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
      cat "$log"
      say "failed: $cmd"
      exit 1
    fi
    say "installed in $((SECONDS - start))s"
  fi
fi

# 2. Keep the influxdb package's service stopped and disabled.
influxd_service() {
  installed influxdb 2>/dev/null || return 0
  local pidfile=/var/run/influxdb/influxd.pid pid="" running=false enabled=false
  if [ -d /run/systemd/system ]; then
    systemctl -q is-active influxdb.service && running=true
    systemctl -q is-enabled influxdb.service 2>/dev/null && enabled=true
  else
    # The init script's `status` matches any influxd; the pid file is the service's.
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = influxd ] && running=true
    compgen -G '/etc/rc[2345].d/S*influxdb' >/dev/null && enabled=true
  fi
  $running || $enabled || return 0
  if ! is_root; then
    $running || return 0 # enabled but stopped: harmless until the next boot
    say "the influxdb service is running; the tests start their own influxd. Stop it as root:"
    if [ -d /run/systemd/system ]; then echo "  systemctl disable --now influxdb"; else echo "  service influxdb stop && update-rc.d influxdb disable"; fi
    exit 1
  fi
  if [ -d /run/systemd/system ]; then
    systemctl -q disable --now influxdb.service
  else
    if $running; then
      service influxdb stop >/dev/null
      for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    fi
    if $enabled; then update-rc.d influxdb disable >/dev/null 2>&1; fi
  fi
  local did
  if $running && $enabled; then did="stopped and disabled"; elif $running; then did="stopped"; else did="disabled"; fi
  say "$did the influxdb service (the tests start their own influxd)"
}
influxd_service

# No influxd may listen on influxd's default ports (8086 HTTP, 8088 RPC).
listeners=$(awk '$4 == "0A" && ($2 ~ /:1F96$/ || $2 ~ /:1F98$/) { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null || true)
if [ -n "$listeners" ]; then
  for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = influxd ] || continue
    how="may listen" # its sockets are not ours to see
    if fds=$(ls -l "$d/fd" 2>/dev/null); then
      how=""
      for ino in $listeners; do grep -q "socket:\[$ino\]" <<<"$fds" && how="listens"; done
    fi
    if [ -n "$how" ]; then
      say "influxd (pid ${d#/proc/}: $(tr '\0' ' ' <"$d/cmdline" | sed 's/ $//')) $how on :8086 or :8088; stop it, the tests start their own"
      exit 1
    fi
  done
fi

# 3. Check that every tool runs, and print the versions on one line.
versions=() absent=()
check() { # what package command...: the command prints the name and version
  local what=$1 pkg=$2 out
  shift 2
  if out=$("$@" 2>/dev/null) && [ -n "$out" ]; then versions+=("$out"); else absent+=("$what (Debian: $pkg)"); fi
}
ver() { # name n command...: name and the n-th word of the command's first line
  local name=$1 n=$2 line words
  shift 2
  command -v "$1" >/dev/null || return 1
  line=$("$@" 2>&1 | head -1) || true # wrk -v exits 1
  read -ra words <<<"$line"
  [ -n "${words[n - 1]:-}" ] && echo "$name ${words[n - 1]}"
}
GO=${GO:-go}
cc=$("$GO" env CC 2>/dev/null || echo gcc)
check go golang "$GO" env GOVERSION
check "$cc" gcc ver "$cc" 1 "$cc" -dumpfullversion
check git git ver git 3 git --version
check influxd influxdb ver influxd 2 influxd version
check influx influxdb-client ver influx 4 influx -version
check "python3 with influxdb and jwt" "python3-influxdb python3-jwt" /usr/bin/python3 -c \
  'import sys, influxdb, jwt; print("python3", sys.version.split()[0], "with influxdb", influxdb.__version__, "and jwt", jwt.__version__)'
if $bench; then
  check wrk wrk ver wrk 2 wrk -v
  check curl curl ver curl 2 curl --version
fi
if [ ${#absent[@]} -gt 0 ]; then
  say "not found or not working: ${absent[*]}"
  exit 1
fi
joined=$(printf '%s; ' "${versions[@]}")
say "${joined%; }"
