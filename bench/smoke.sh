#!/usr/bin/env bash
# The bench_smoke test: runs the benchmarks and the load generator in smoke mode (tiny
# sizes, seconds) and checks only that they exit 0.
# Usage: smoke.sh TASKLEDGER_BENCH LEDGER_FILL LEDGER_LOAD TASKLEDGER
set -euo pipefail
bench=$1 fill=$2 load=$3 taskledger=$4
work=$(mktemp -d /tmp/taskledger-bench-smoke-XXXXXX)
server=
cleanup() {
  if [[ -n $server ]]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export TASKLEDGER_BENCH_SMOKE=1 TASKLEDGER_BENCH_DIR=$work

"$fill" --db "$work/big" --via log --json
"$fill" --db "$work/submitted" --via submit --tasks 50 --heartbeats 2 --json
TASKLEDGER_BENCH_BIG=$work/big TASKLEDGER_BENCH_SUMMARY=$work/summary.json "$bench" --benchmark_min_time=0
test -s "$work/summary.json"

"$taskledger" --db "$work/served" serve --listen "unix:$work/sock" >"$work/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$work/server.out" 2>/dev/null && break; sleep 0.1; done
"$load" --connect "unix:$work/sock" --clients 4 --tasks 40 --heartbeats 2 --ping-calls 20 --json
"$load" --connect "unix:$work/sock" --clients 2 --tasks 10 --heartbeats 0 --ping-calls 0
"$load" --connect "unix:$work/sock" --clients 2 --inflight 4 --tasks 40 --heartbeats 2 --no-create --queue pre --ping-calls 0 --json
bash "$(dirname "$0")/ls_server_memory.sh" "$taskledger" "$work/big" 1
echo "bench smoke: ok"
