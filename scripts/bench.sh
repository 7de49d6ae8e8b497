#!/usr/bin/env bash
# Runs the benchmark suite of docs/performance.md and writes every figure, beside the
# baseline measured in the same run, to a results file.
#
#   scripts/bench.sh [--quick] [--out FILE]
#   scripts/bench.sh --report FILE     (re-writes FILE's report from FILE.d/ of an earlier run)
#
# full (default): 1M tasks / 10M events, bounded at about 20 minutes on 2 cores.
# --quick: 100k tasks / 1M events, about 3-5 minutes.
# Results: FILE (default $BUILD_DIR/bench-results/bench-MODE-TIMESTAMP.txt), and beside it
# FILE.json (the in-process summary) and FILE.d/ (raw outputs). Scratch data goes to
# $TASKLEDGER_BENCH_DIR (default: a new directory under /var/tmp), removed at the end.
# Env: BUILD_DIR (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

mode=full
out=
report_only=
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) mode=quick ;;
    --out) out=$2; shift ;;
    --report) report_only=1; out=$2; shift ;;
    *) echo "usage: scripts/bench.sh [--quick] [--out FILE] | --report FILE" >&2; exit 2 ;;
  esac
  shift
done

# ---- The report ----
j() { jq -r "$1" "$2"; }
write_report() {
{
  echo "== in-process (taskledger_bench) =="
  sed -n '/== taskledger_bench summary/,$p' "$raw/benchmarks.txt"
  echo
  echo "== big ledger =="
  echo "filled: $(j '"\(.tasks) tasks, \(.events) events via \(.via) in \(.seconds|floor) s (\(.events_per_s|floor) events/s), \(.disk_mib|floor) MiB on disk" + (if .rebuild_seconds then "; its Rebuild: \(.rebuild_seconds|floor) s, \(.rebuild_events_per_s|floor) events/s" else "" end)' "$raw/fill.json")"
  read -r ls_s ls_kib <"$raw/ls_at.time"
  read -r lsnow_s lsnow_kib <"$raw/ls_now.time"
  raw_iter_s=$(j '.figures["replay.raw_iterate_before.seconds"]' "$out.json")
  echo "CLI ls --at: ${ls_s} s, max RSS $((ls_kib / 1024)) MiB; baseline raw iteration of events ${raw_iter_s} s; ratio $(awk -v a="$ls_s" -v b="$raw_iter_s" 'BEGIN {printf "%.2f", a/b}') (target <= 5 s at 10M events)"
  if [[ -f $raw/verify.time ]]; then
    read -r verify_s verify_kib <"$raw/verify.time"
    echo "CLI verify: ${verify_s} s, max RSS $((verify_kib / 1024)) MiB; ratio to raw iteration $(awk -v a="$verify_s" -v b="$raw_iter_s" 'BEGIN {printf "%.2f", a/b}')"
  fi
  echo "CLI ls (now): ${lsnow_s} s, max RSS $((lsnow_kib / 1024)) MiB"
  if j '.rebuild_seconds // empty' "$raw/fill.json" | grep -q .; then
    echo "Rebuild during the fill: $(j '"\(.rebuild_seconds|floor) s, \(.rebuild_events_per_s|floor) events/s"' "$raw/fill.json"); ratio to raw iteration $(jq -r --argjson r "$(j '.figures["replay.raw_iterate_before.events_per_s"]' "$out.json")" '(.rebuild_events_per_s/$r)*1000|floor/1000' "$raw/fill.json") (target >= 2M events/s and >= 0.5)"
  fi
  echo
  echo "== through the server (unix socket, ledger_load, $heartbeats heartbeats per task) =="
  raw_values=$(j '.figures["raw.batch100_sync.values_per_s"]' "$raw/raw_before_load.json")
  raw_p50=$(j '.figures["raw.put_sync.p50_us"]' "$raw/raw_before_load.json")
  raw_p99=$(j '.figures["raw.put_sync.p99_us"]' "$raw/raw_before_load.json")
  printf "baseline just before: raw WriteBatch x100 sync %.0f values/s; raw Put sync p50 %.0f us, p99 %.0f us\n" \
    "$raw_values" "$raw_p50" "$raw_p99"
  for f in load_1 load_8 load_64 load_64_big; do
    jq -r --arg name "$f" --argjson rv "$raw_values" --argjson rp "$raw_p50" '
      "\($name): \(.clients) clients, \(.commands) commands in \(.seconds*100|floor/100) s: \(.commands_per_s|floor) commands/s, \(.tasks_per_s|floor) tasks/s; " +
      "p50 \(.latency.p50_us|floor) us, p99 \(.latency.p99_us|floor) us, p999 \(.latency.p999_us|floor) us; " +
      "ratio to raw batched values/s \((.commands_per_s/$rv)*1000|floor/1000), p50 to raw Put p50 \((.latency.p50_us/$rp)*100|floor/100); " +
      "rpc now baseline \(.rpc_now.calls_per_s|floor) calls/s p50 \(.rpc_now.p50_us|floor) us (commands/s ratio \((.commands_per_s/.rpc_now.calls_per_s)*1000|floor/1000)); errors \(.errors)"' \
      "$raw/$f.json"
  done
  echo "target: 64 clients >= 60000 commands/s, p99 <= 5 ms"
  echo
  echo "== server memory (MiB: VmRSS VmHWM) =="
  echo "empty ledger, idle: $(cat "$raw/server_empty_idle.mem")   (baseline)"
  echo "empty ledger, after the loads: $(cat "$raw/server_empty_after_load.mem")"
  echo "big ledger, idle after open: $(cat "$raw/server_big_idle.mem")"
  echo "big ledger, after 64-client load: $(cat "$raw/server_big_after_load.mem")"
  echo "big ledger, after ls of every task: $(cat "$raw/server_big_after_ls.mem")"
  if [[ -s $raw/server_big_ls.err ]]; then echo "  (ls through the server failed: $(head -c 400 "$raw/server_big_ls.err"))"; fi
  if [[ -f $raw/server_big_after_verify.mem ]]; then
    echo "big ledger, after verify through the server (a whole replay, $(cat "$raw/server_big_verify.time") s): $(cat "$raw/server_big_after_verify.mem")"
  fi
  echo "target: <= 512 MiB at 1M tasks / 10M events"
  echo
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$out"
}

heartbeats=2
if [[ -n $report_only ]]; then
  raw=$out.d
  head -n 4 "$out" >"$out.tmp" && mv "$out.tmp" "$out"
  echo >>"$out"
  write_report
  cat "$out"
  exit 0
fi

BUILD_DIR=${BUILD_DIR:-build-bench}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD_DIR" taskledger taskledger_bench ledger_fill ledger_load >/dev/null
bin=$(cd "$BUILD_DIR" && pwd)
tl=$bin/tools/taskledger

stamp=$(date -u +%Y%m%dT%H%M%SZ)
if [[ -z $out ]]; then
  mkdir -p "$bin/bench-results"
  out=$bin/bench-results/bench-$mode-$stamp.txt
fi
raw=$out.d
mkdir -p "$raw"
work=${TASKLEDGER_BENCH_DIR:-$(mktemp -d /var/tmp/taskledger-bench-XXXXXX)}
mkdir -p "$work"
export TASKLEDGER_BENCH_DIR=$work TASKLEDGER_BENCH_MODE=$mode
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Loads stop starting tasks after max_load_s, so the suite's time stays bounded however
# slow the server is. The full mode fills its 10M-event ledger --via log (decided events +
# Rebuild): through SubmitGroup it would take about 15 minutes on this machine.
if [[ $mode == full ]]; then
  load_tasks=40000 load_tasks_1=2000 big_load_tasks=20000 max_load_s=45 fill_via=log
else
  load_tasks=8000 load_tasks_1=300 big_load_tasks=4000 max_load_s=30 fill_via=submit
fi

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$raw/progress.log" >&2; }
# VmRSS and VmHWM of a pid, in MiB: "rss peak".
mem() { awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {printf "%.1f %.1f", r/1024, h/1024}' "/proc/$1/status"; }
start_server() {  # db socket
  "$tl" --db "$1" serve --listen "unix:$2" >"$raw/server-$(basename "$1").out" 2>&1 &
  server_pid=$!
  for _ in $(seq 600); do
    grep -q "listening on" "$raw/server-$(basename "$1").out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server on $1 did not start" >&2
  return 1
}
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=
}

{
  echo "taskledger benchmarks, mode $mode, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  if git rev-parse --git-dir >/dev/null 2>&1; then
    echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- ledger projections tools schemas || echo ' + uncommitted changes in ledger/ projections/ tools/ schemas/')"
  else
    echo "commit ${TASKLEDGER_BENCH_COMMIT:-unknown (not a git checkout)}"
  fi
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "scratch: $work ($(df -h "$work" | awk 'NR==2 {print $1}'))"
  echo
} >"$out"

# 1. The big ledger, shared by the in-process replay/sweep figures, the CLI and the server.
log "filling the big ledger"
"$bin/bench/ledger_fill" --db "$work/big" --via "$fill_via" --json >"$raw/fill.json" 2>"$raw/fill.err"
cp -r "$work/big" "$work/big-for-server"
cp "$work/big.spec" "$work/big-for-server.spec"

# 2. In-process benchmarks (each with its raw RocksDB baseline).
log "in-process benchmarks"
TASKLEDGER_BENCH_BIG=$work/big TASKLEDGER_BENCH_SUMMARY=$out.json \
  "$bin/bench/taskledger_bench" --benchmark_out="$raw/benchmarks.json" --benchmark_out_format=json \
  >"$raw/benchmarks.txt" 2>"$raw/benchmarks.err"

# 3. The CLI on the big ledger: ls --at (a replay of the whole log), verify.
log "CLI ls --at / verify on the big ledger"
at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
/usr/bin/time -f "%e %M" -o "$raw/ls_at.time" "$tl" --db "$work/big-for-server" ls --at "$at" >/dev/null
if [[ $mode == quick ]]; then  # full: the in-process Verify covers it (minutes at 10M events)
  /usr/bin/time -f "%e %M" -o "$raw/verify.time" "$tl" --db "$work/big-for-server" verify >"$raw/verify.out"
fi
/usr/bin/time -f "%e %M" -o "$raw/ls_now.time" "$tl" --db "$work/big-for-server" ls >/dev/null

# 4. A fresh ledger served over a unix socket: the raw baseline just before, then load.
log "raw baseline, then load through a server"
TASKLEDGER_BENCH_SUMMARY=$raw/raw_before_load.json "$bin/bench/taskledger_bench" --benchmark_filter='^RawSync' \
  >"$raw/raw_before_load.txt" 2>&1
start_server "$work/served" "$work/served.sock"
mem "$server_pid" >"$raw/server_empty_idle.mem"
"$bin/bench/ledger_load" --connect "unix:$work/served.sock" --clients 1 --tasks "$load_tasks_1" \
  --heartbeats $heartbeats --max-seconds "$max_load_s" --json >"$raw/load_1.json"
"$bin/bench/ledger_load" --connect "unix:$work/served.sock" --clients 8 --tasks "$load_tasks" \
  --heartbeats $heartbeats --max-seconds "$max_load_s" --json >"$raw/load_8.json"
"$bin/bench/ledger_load" --connect "unix:$work/served.sock" --clients 64 --tasks "$load_tasks" \
  --heartbeats $heartbeats --max-seconds "$max_load_s" --json >"$raw/load_64.json"
mem "$server_pid" >"$raw/server_empty_after_load.mem"
stop_server

# 5. The server holding the big ledger: RSS idle, under load, and after listing every task.
log "server RSS on the big ledger"
start_server "$work/big-for-server" "$work/big.sock"
mem "$server_pid" >"$raw/server_big_idle.mem"
"$bin/bench/ledger_load" --connect "unix:$work/big.sock" --clients 64 --tasks "$big_load_tasks" \
  --heartbeats $heartbeats --max-seconds "$max_load_s" --json >"$raw/load_64_big.json"
mem "$server_pid" >"$raw/server_big_after_load.mem"
"$tl" --connect "unix:$work/big.sock" ls >/dev/null 2>"$raw/server_big_ls.err" || true
mem "$server_pid" >"$raw/server_big_after_ls.mem"
/usr/bin/time -f "%e" -o "$raw/server_big_verify.time" "$tl" --connect "unix:$work/big.sock" verify \
  >"$raw/server_big_verify.out" 2>&1 || true
mem "$server_pid" >"$raw/server_big_after_verify.mem"
stop_server
log "done"
write_report
cat "$out"
echo "results: $out" >&2
