#!/usr/bin/env bash
# The server's memory and time for `ls` (docs/performance.md, "Memory"): starts
# `taskledger serve` on an existing ledger, reads its VmRSS/VmHWM (/proc/PID/status) idle,
# runs `ls` through it (output to /dev/null, wall time measured) RUNS times, reads them again
# after each, stops the server. One JSON object per line. The ledger is not changed by `ls`
# (opening it as a server may flush its memtables).
#
# Usage: ls_server_memory.sh TASKLEDGER DB [RUNS]
#   e.g. bench/ls_server_memory.sh build-bench/tools/taskledger /var/tmp/big 2
# A benchmark, not a test: it asserts nothing about the figures.
set -euo pipefail
taskledger=$1 db=$2 runs=${3:-1}
work=$(mktemp -d /tmp/taskledger-ls-memory-XXXXXX)
server=
cleanup() {
  if [[ -n $server ]]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

kib() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$server/status"; }
report() {  # phase [seconds]
  printf '{"phase":"%s","rss_mib":%.1f,"hwm_mib":%.1f%s}\n' "$1" "$(echo "$(kib VmRSS) / 1024" | bc -l)" \
    "$(echo "$(kib VmHWM) / 1024" | bc -l)" "${2:+,\"ls_seconds\":$2}"
}

"$taskledger" --db "$db" serve --listen "unix:$work/sock" >"$work/server.out" 2>&1 &
server=$!
for _ in $(seq 600); do grep -q "listening on" "$work/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$work/server.out" || { cat "$work/server.out" >&2; exit 1; }
report idle
for run in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$taskledger" --connect "unix:$work/sock" ls >"$work/ls.out"
  end=$(date +%s.%N)
  report "after ls $run ($(wc -l <"$work/ls.out") lines)" "$(echo "$end - $start" | bc -l | awk '{ printf "%.2f", $1 }')"
done
