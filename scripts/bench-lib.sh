# Helpers the benchmark scripts share; source it after setting TMP and PIDS
# (the processes to stop on exit). Traffic goes to 127.0.0.1 only.
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ping() { for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$1/ping" >/dev/null && return 0; sleep 0.1; done; echo "server on :$1 did not start"; exit 1; }
# cpu_ticks pid...: the CPU time (utime+stime, in clock ticks) of the processes.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
# median: of the numbers on stdin, separated by spaces or newlines.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
