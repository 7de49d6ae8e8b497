#!/usr/bin/env bash
# `taskledger worker --concurrency C` against a loop of `taskledger run --next`, both running
# a trivial real command per task (docs/performance.md, "worker against a run loop").
#
#   bench/worker_vs_run.sh [--quick] [--tasks N] [--loop-tasks M] [--concurrency C] [--command CMD]
#
# full (default): the loop runs 300 tasks, the worker 3,000; --quick: 50 and 300.
# Both through one `taskledger serve` (durable: every commit fsynced) on a fresh ledger
# over a unix socket, tasks created before the clock starts, the command `true`.
# Builds taskledger (Release) in $BUILD_DIR (default build-bench, as scripts/bench.sh).
# Scratch under /var/tmp, removed at the end. Prints a table and one JSON line (stdout):
# tasks/s of each and their ratio (the target of issue 12 is >= 5).
set -euo pipefail
cd "$(dirname "$0")/.."

loop_tasks=300 worker_tasks=3000 concurrency=8 command=true
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) loop_tasks=50 worker_tasks=300 ;;
    --tasks) worker_tasks=${2:?}; shift ;;
    --loop-tasks) loop_tasks=${2:?}; shift ;;
    --concurrency) concurrency=${2:?}; shift ;;
    --command) command=${2:?}; shift ;;
    *) echo "usage: bench/worker_vs_run.sh [--quick] [--tasks N] [--loop-tasks M] [--concurrency C] [--command CMD]" >&2
       exit 2 ;;
  esac
  shift
done

BUILD_DIR=${BUILD_DIR:-build-bench}
if [[ ! -x $BUILD_DIR/tools/taskledger || -n ${REBUILD:-} ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target taskledger >/dev/null
fi
tl=$(realpath "$BUILD_DIR/tools/taskledger")
scratch=$(mktemp -d /var/tmp/taskledger-worker-vs-run-XXXXXX)
server=
cleanup() {
  [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT

"$tl" --db "$scratch/ledger" serve --listen "unix:$scratch/s.sock" >"$scratch/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$scratch/serve.log" 2>/dev/null && break; sleep 0.1; done
export TASKLEDGER_ADDR=unix:$scratch/s.sock
create() {  # QUEUE COUNT: the tasks, before the clock starts
  for i in $(seq 1 "$2"); do "$tl" create "$1-$i" --title "$1 $i" --queue "$1" >/dev/null; done
}
now_ms() { date +%s%3N; }
load=$(cut -d' ' -f1 /proc/loadavg)

create loop "$loop_tasks"
start=$(now_ms)
for _ in $(seq 1 "$loop_tasks"); do "$tl" run --next --queue loop --worker looper -- $command; done
loop_ms=$(( $(now_ms) - start ))

create fleet "$worker_tasks"
start=$(now_ms)
"$tl" worker --queue fleet --concurrency "$concurrency" --worker fleet --exit-when-idle -- $command >"$scratch/worker.out"
worker_ms=$(( $(now_ms) - start ))

"$tl" verify >/dev/null
done_count=$("$tl" --json ls --status done | wc -l)
expected=$(( loop_tasks + worker_tasks ))
if [[ $done_count -ne $expected ]]; then
  echo "worker_vs_run: $done_count tasks done, expected $expected" >&2
  exit 1
fi

awk -v lt="$loop_tasks" -v lms="$loop_ms" -v wt="$worker_tasks" -v wms="$worker_ms" -v c="$concurrency" \
    -v load="$load" -v cmd="$command" 'BEGIN {
  lrate = lt * 1000 / lms; wrate = wt * 1000 / wms
  printf "%-34s %8s %10s\n", "", "tasks", "tasks/s" > "/dev/stderr"
  printf "%-34s %8d %10.1f\n", "run --next loop", lt, lrate > "/dev/stderr"
  printf "%-34s %8d %10.1f\n", "worker --concurrency " c, wt, wrate > "/dev/stderr"
  printf "ratio %.2f (load average %s at the start)\n", wrate / lrate, load > "/dev/stderr"
  printf "{\"command\":\"%s\",\"load_average\":%s,\"run_loop\":{\"tasks\":%d,\"tasks_per_s\":%.1f},", cmd, load, lt, lrate
  printf "\"worker\":{\"concurrency\":%d,\"tasks\":%d,\"tasks_per_s\":%.1f},\"ratio\":%.2f}\n", c, wt, wrate, wrate / lrate
}'
